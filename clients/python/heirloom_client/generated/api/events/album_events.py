from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.error_response import ErrorResponse
from ...types import UNSET, Response, Unset


def _get_kwargs(
    album_id: str,
    *,
    after: int | None | Unset = UNSET,
    token: None | str | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if not isinstance(last_event_id, Unset):
        headers["Last-Event-ID"] = last_event_id

    params: dict[str, Any] = {}

    json_after: int | None | Unset
    if isinstance(after, Unset):
        json_after = UNSET
    else:
        json_after = after
    params["after"] = json_after

    json_token: None | str | Unset
    if isinstance(token, Unset):
        json_token = UNSET
    else:
        json_token = token
    params["token"] = json_token

    params = {k: v for k, v in params.items() if v is not UNSET and v is not None}

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/v1/albums/{album_id}/events".format(
            album_id=quote(str(album_id), safe=""),
        ),
        "params": params,
    }

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Any | ErrorResponse | None:
    if response.status_code == 200:
        response_200 = cast(Any, None)
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
) -> Response[Any | ErrorResponse]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    album_id: str,
    *,
    client: AuthenticatedClient,
    after: int | None | Unset = UNSET,
    token: None | str | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,
) -> Response[Any | ErrorResponse]:
    """Album Events

     Every change of an album's photos, from the album's start (or after `Last-Event-ID`),
    then `album.completed`, and the stream ends. Keys and caps as on a job's stream.

    Args:
        album_id (str):
        after (int | None | Unset): resume after this event id
        token (None | str | Unset): a stream token, for browsers
        last_event_id (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | ErrorResponse]
    """

    kwargs = _get_kwargs(
        album_id=album_id,
        after=after,
        token=token,
        last_event_id=last_event_id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    album_id: str,
    *,
    client: AuthenticatedClient,
    after: int | None | Unset = UNSET,
    token: None | str | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,
) -> Any | ErrorResponse | None:
    """Album Events

     Every change of an album's photos, from the album's start (or after `Last-Event-ID`),
    then `album.completed`, and the stream ends. Keys and caps as on a job's stream.

    Args:
        album_id (str):
        after (int | None | Unset): resume after this event id
        token (None | str | Unset): a stream token, for browsers
        last_event_id (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | ErrorResponse
    """

    return sync_detailed(
        album_id=album_id,
        client=client,
        after=after,
        token=token,
        last_event_id=last_event_id,
    ).parsed


async def asyncio_detailed(
    album_id: str,
    *,
    client: AuthenticatedClient,
    after: int | None | Unset = UNSET,
    token: None | str | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,
) -> Response[Any | ErrorResponse]:
    """Album Events

     Every change of an album's photos, from the album's start (or after `Last-Event-ID`),
    then `album.completed`, and the stream ends. Keys and caps as on a job's stream.

    Args:
        album_id (str):
        after (int | None | Unset): resume after this event id
        token (None | str | Unset): a stream token, for browsers
        last_event_id (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | ErrorResponse]
    """

    kwargs = _get_kwargs(
        album_id=album_id,
        after=after,
        token=token,
        last_event_id=last_event_id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    album_id: str,
    *,
    client: AuthenticatedClient,
    after: int | None | Unset = UNSET,
    token: None | str | Unset = UNSET,
    last_event_id: None | str | Unset = UNSET,
) -> Any | ErrorResponse | None:
    """Album Events

     Every change of an album's photos, from the album's start (or after `Last-Event-ID`),
    then `album.completed`, and the stream ends. Keys and caps as on a job's stream.

    Args:
        album_id (str):
        after (int | None | Unset): resume after this event id
        token (None | str | Unset): a stream token, for browsers
        last_event_id (None | str | Unset):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | ErrorResponse
    """

    return (
        await asyncio_detailed(
            album_id=album_id,
            client=client,
            after=after,
            token=token,
            last_event_id=last_event_id,
        )
    ).parsed
