from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.control_in import ControlIn
from ...models.error_response import ErrorResponse
from ...models.stop_response_stop import StopResponseStop
from ...models.stop_scope import StopScope
from ...types import Response


def _get_kwargs(
    scope: StopScope,
    *,
    body: ControlIn,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/admin/controls/{scope}/stop".format(
            scope=quote(str(scope), safe=""),
        ),
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> ErrorResponse | StopResponseStop | None:
    if response.status_code == 200:
        response_200 = StopResponseStop.from_dict(response.json())

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
) -> Response[ErrorResponse | StopResponseStop]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    scope: StopScope,
    *,
    client: AuthenticatedClient,
    body: ControlIn,
) -> Response[ErrorResponse | StopResponseStop]:
    """Stop

     Refuse new submissions for a tier (or `all`); running jobs finish.

    Args:
        scope (StopScope):
        body (ControlIn):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | StopResponseStop]
    """

    kwargs = _get_kwargs(
        scope=scope,
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    scope: StopScope,
    *,
    client: AuthenticatedClient,
    body: ControlIn,
) -> ErrorResponse | StopResponseStop | None:
    """Stop

     Refuse new submissions for a tier (or `all`); running jobs finish.

    Args:
        scope (StopScope):
        body (ControlIn):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | StopResponseStop
    """

    return sync_detailed(
        scope=scope,
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    scope: StopScope,
    *,
    client: AuthenticatedClient,
    body: ControlIn,
) -> Response[ErrorResponse | StopResponseStop]:
    """Stop

     Refuse new submissions for a tier (or `all`); running jobs finish.

    Args:
        scope (StopScope):
        body (ControlIn):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[ErrorResponse | StopResponseStop]
    """

    kwargs = _get_kwargs(
        scope=scope,
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    scope: StopScope,
    *,
    client: AuthenticatedClient,
    body: ControlIn,
) -> ErrorResponse | StopResponseStop | None:
    """Stop

     Refuse new submissions for a tier (or `all`); running jobs finish.

    Args:
        scope (StopScope):
        body (ControlIn):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        ErrorResponse | StopResponseStop
    """

    return (
        await asyncio_detailed(
            scope=scope,
            client=client,
            body=body,
        )
    ).parsed
