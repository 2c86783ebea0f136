from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.admin_purchase_out import AdminPurchaseOut
from ...models.error_response import ErrorResponse
from ...types import Response


def _get_kwargs(
    purchase_id: str,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/admin/purchases/{purchase_id}/refund".format(
            purchase_id=quote(str(purchase_id), safe=""),
        ),
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> AdminPurchaseOut | ErrorResponse | None:
    if response.status_code == 200:
        response_200 = AdminPurchaseOut.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = ErrorResponse.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorResponse.from_dict(response.json())

        return response_401

    if response.status_code == 403:
        response_403 = ErrorResponse.from_dict(response.json())

        return response_403

    if response.status_code == 404:
        response_404 = ErrorResponse.from_dict(response.json())

        return response_404

    if response.status_code == 409:
        response_409 = ErrorResponse.from_dict(response.json())

        return response_409

    if response.status_code == 413:
        response_413 = ErrorResponse.from_dict(response.json())

        return response_413

    if response.status_code == 422:
        response_422 = ErrorResponse.from_dict(response.json())

        return response_422

    if response.status_code == 429:
        response_429 = ErrorResponse.from_dict(response.json())

        return response_429

    if response.status_code == 500:
        response_500 = ErrorResponse.from_dict(response.json())

        return response_500

    if response.status_code == 503:
        response_503 = ErrorResponse.from_dict(response.json())

        return response_503

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[AdminPurchaseOut | ErrorResponse]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    purchase_id: str,
    *,
    client: AuthenticatedClient,
) -> Response[AdminPurchaseOut | ErrorResponse]:
    """Refund Purchase

     Refund what is left of a paid purchase through Stripe and take its credits (and the
    tier it set) back now; what the balance cannot cover becomes the user's debt.

    Args:
        purchase_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AdminPurchaseOut | ErrorResponse]
    """

    kwargs = _get_kwargs(
        purchase_id=purchase_id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    purchase_id: str,
    *,
    client: AuthenticatedClient,
) -> AdminPurchaseOut | ErrorResponse | None:
    """Refund Purchase

     Refund what is left of a paid purchase through Stripe and take its credits (and the
    tier it set) back now; what the balance cannot cover becomes the user's debt.

    Args:
        purchase_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AdminPurchaseOut | ErrorResponse
    """

    return sync_detailed(
        purchase_id=purchase_id,
        client=client,
    ).parsed


async def asyncio_detailed(
    purchase_id: str,
    *,
    client: AuthenticatedClient,
) -> Response[AdminPurchaseOut | ErrorResponse]:
    """Refund Purchase

     Refund what is left of a paid purchase through Stripe and take its credits (and the
    tier it set) back now; what the balance cannot cover becomes the user's debt.

    Args:
        purchase_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AdminPurchaseOut | ErrorResponse]
    """

    kwargs = _get_kwargs(
        purchase_id=purchase_id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    purchase_id: str,
    *,
    client: AuthenticatedClient,
) -> AdminPurchaseOut | ErrorResponse | None:
    """Refund Purchase

     Refund what is left of a paid purchase through Stripe and take its credits (and the
    tier it set) back now; what the balance cannot cover becomes the user's debt.

    Args:
        purchase_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AdminPurchaseOut | ErrorResponse
    """

    return (
        await asyncio_detailed(
            purchase_id=purchase_id,
            client=client,
        )
    ).parsed
