from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...models.key_revoke import KeyRevoke
from ...models.key_revoked import KeyRevoked
from ...types import Response


def _get_kwargs(
    key_id: str,
    *,
    body: KeyRevoke,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/me/keys/{key_id}/revoke".format(
            key_id=quote(str(key_id), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorResponse | KeyRevoked | None:
    if response.status_code == 200:
        response_200 = KeyRevoked.from_dict(response.json())

        return response_200

    if response.status_code == 400:
        response_400 = ErrorResponse.from_dict(response.json())

        return response_400

    if response.status_code == 401:
        response_401 = ErrorResponse.from_dict(response.json())

        return response_401

    if response.status_code == 404:
        response_404 = ErrorResponse.from_dict(response.json())

        return response_404

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

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[ErrorResponse | KeyRevoked]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    key_id: str,
    *,
    client: AuthenticatedClient,
    body: KeyRevoke,
) -> Response[ErrorResponse | KeyRevoked]:
    """Revoke Key And More

     Revoke one of the caller's keys; with `cascade`, also everything it created: the keys
    it made (and theirs), their share links (410 from now on) and the webhook one of them set
    last (removed). Their stream tokens and open streams end too.

    Args:
        key_id (str):
        body (KeyRevoke):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | KeyRevoked]
    """

    kwargs = _get_kwargs(
        key_id=key_id,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    key_id: str,
    *,
    client: AuthenticatedClient,
    body: KeyRevoke,
) -> ErrorResponse | KeyRevoked | None:
    """Revoke Key And More

     Revoke one of the caller's keys; with `cascade`, also everything it created: the keys
    it made (and theirs), their share links (410 from now on) and the webhook one of them set
    last (removed). Their stream tokens and open streams end too.

    Args:
        key_id (str):
        body (KeyRevoke):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | KeyRevoked
    """

    return sync_detailed(
        key_id=key_id,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    key_id: str,
    *,
    client: AuthenticatedClient,
    body: KeyRevoke,
) -> Response[ErrorResponse | KeyRevoked]:
    """Revoke Key And More

     Revoke one of the caller's keys; with `cascade`, also everything it created: the keys
    it made (and theirs), their share links (410 from now on) and the webhook one of them set
    last (removed). Their stream tokens and open streams end too.

    Args:
        key_id (str):
        body (KeyRevoke):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | KeyRevoked]
    """

    kwargs = _get_kwargs(
        key_id=key_id,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    key_id: str,
    *,
    client: AuthenticatedClient,
    body: KeyRevoke,
) -> ErrorResponse | KeyRevoked | None:
    """Revoke Key And More

     Revoke one of the caller's keys; with `cascade`, also everything it created: the keys
    it made (and theirs), their share links (410 from now on) and the webhook one of them set
    last (removed). Their stream tokens and open streams end too.

    Args:
        key_id (str):
        body (KeyRevoke):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | KeyRevoked
    """

    return (
        await asyncio_detailed(
            key_id=key_id,
            client=client,
            body=body,
        )
    ).parsed
