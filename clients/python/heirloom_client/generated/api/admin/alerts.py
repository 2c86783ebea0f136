from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.alert_list import AlertList
from ...models.error_response import ErrorResponse
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    open_only: bool | Unset = False,
    limit: int | Unset = 100,
    cursor: None | str | Unset = UNSET,
) -> dict[str, Any]:

    params: dict[str, Any] = {}

    params["open_only"] = open_only

    params["limit"] = limit

    json_cursor: None | str | Unset
    if isinstance(cursor, Unset):
        json_cursor = UNSET
    else:
        json_cursor = cursor
    params["cursor"] = json_cursor

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/admin/alerts",
        "params": params,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> AlertList | ErrorResponse | None:
    if response.status_code == 200:
        response_200 = AlertList.from_dict(response.json())

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
) -> Response[AlertList | ErrorResponse]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    open_only: bool | Unset = False,
    limit: int | Unset = 100,
    cursor: None | str | Unset = UNSET,
) -> Response[AlertList | ErrorResponse]:
    """Alerts

     Alert incidents newest first (`open_only` for those still open); page with `cursor`.

    Args:
        open_only (bool | Unset):  Default: False.
        limit (int | Unset):  Default: 100.
        cursor (None | str | Unset): `next_cursor` of the previous page, unchanged

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AlertList | ErrorResponse]
    """

    kwargs = _get_kwargs(
        open_only=open_only,
        limit=limit,
        cursor=cursor,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    open_only: bool | Unset = False,
    limit: int | Unset = 100,
    cursor: None | str | Unset = UNSET,
) -> AlertList | ErrorResponse | None:
    """Alerts

     Alert incidents newest first (`open_only` for those still open); page with `cursor`.

    Args:
        open_only (bool | Unset):  Default: False.
        limit (int | Unset):  Default: 100.
        cursor (None | str | Unset): `next_cursor` of the previous page, unchanged

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AlertList | ErrorResponse
    """

    return sync_detailed(
        client=client,
        open_only=open_only,
        limit=limit,
        cursor=cursor,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    open_only: bool | Unset = False,
    limit: int | Unset = 100,
    cursor: None | str | Unset = UNSET,
) -> Response[AlertList | ErrorResponse]:
    """Alerts

     Alert incidents newest first (`open_only` for those still open); page with `cursor`.

    Args:
        open_only (bool | Unset):  Default: False.
        limit (int | Unset):  Default: 100.
        cursor (None | str | Unset): `next_cursor` of the previous page, unchanged

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AlertList | ErrorResponse]
    """

    kwargs = _get_kwargs(
        open_only=open_only,
        limit=limit,
        cursor=cursor,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    open_only: bool | Unset = False,
    limit: int | Unset = 100,
    cursor: None | str | Unset = UNSET,
) -> AlertList | ErrorResponse | None:
    """Alerts

     Alert incidents newest first (`open_only` for those still open); page with `cursor`.

    Args:
        open_only (bool | Unset):  Default: False.
        limit (int | Unset):  Default: 100.
        cursor (None | str | Unset): `next_cursor` of the previous page, unchanged

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AlertList | ErrorResponse
    """

    return (
        await asyncio_detailed(
            client=client,
            open_only=open_only,
            limit=limit,
            cursor=cursor,
        )
    ).parsed
