"""System calls of the API: ping, version, info, events, and berth's plugin inventory."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from berth.client.api import APIClient
from berth.client.errors import ProtocolError

JSONObject = dict[str, Any]


def _expect_object(value: Any, what: str) -> JSONObject:
    if not isinstance(value, dict):
        raise ProtocolError(f"the berth daemon answered {what} with {type(value).__name__}")
    return value


def ping(api: APIClient, timeout: float | None = None) -> str:
    return api.ping(timeout=timeout)


def version(api: APIClient) -> JSONObject:
    return _expect_object(api.get_json("/version"), "GET /version")


def info(api: APIClient) -> JSONObject:
    return _expect_object(api.get_json("/info"), "GET /info")


def encode_filters(filters: Mapping[str, Sequence[str]]) -> str:
    """Docker's `filters` query value: {"key": {"value": true, ...}, ...} as JSON."""
    return json.dumps({key: dict.fromkeys(values, True) for key, values in filters.items()})


def events(
    api: APIClient,
    *,
    since: str | None = None,
    until: str | None = None,
    filters: Mapping[str, Sequence[str]] | None = None,
) -> Iterator[JSONObject]:
    """`GET /events`: yield each event as it comes; ends when the daemon ends the stream."""
    query: dict[str, str | None] = {"since": since, "until": until}
    if filters:
        query["filters"] = encode_filters(filters)
    for value in api.stream_json("GET", "/events", query=query):
        yield _expect_object(value, "GET /events")


def plugins(api: APIClient) -> list[JSONObject]:
    """`GET /berth/plugins`: the daemon's plugin inventory."""
    value = api.get_json("/berth/plugins")
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ProtocolError("the berth daemon answered GET /berth/plugins with no list of objects")
    return value
