"""Registry calls of the API: pull (``POST /images/create?fromImage=``), push, login.

Light at import (no `typing`, `json` or `re`): `berth pull` runs on the lean client path.
"""

from __future__ import annotations

from berth.client.credentials import header_value
from berth.client.errors import ProtocolError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from typing import Any

    from berth.client.api import APIClient

    JSONObject = dict[str, Any]


def _objects(values: Iterator[Any], what: str) -> Iterator[JSONObject]:
    for value in values:
        if not isinstance(value, dict):
            raise ProtocolError(f"the berth daemon answered {what} with {type(value).__name__}")
        yield value


def pull_image(
    api: APIClient,
    name: str,
    tag: str,
    *,
    platform: str = "",
    auth: Mapping[str, str] | None = None,
) -> Iterator[JSONObject]:
    """Pull ``name`` (``tag`` empty: every tag); yield the daemon's progress messages."""
    query = {"fromImage": name, "tag": tag, "platform": platform.lower() or None}
    headers = {"X-Registry-Auth": header_value(auth)}
    stream = api.stream_json("POST", "/images/create", query=query, headers=headers)
    return _objects(stream, "POST /images/create")


def push_image(
    api: APIClient, name: str, tag: str, *, auth: Mapping[str, str] | None = None
) -> Iterator[JSONObject]:
    from berth.client.images import image_path

    query = {"tag": tag or None}
    headers = {"X-Registry-Auth": header_value(auth)}
    path = image_path(name, "push")
    return _objects(api.stream_json("POST", path, query=query, headers=headers), f"POST {path}")


def login(api: APIClient, auth: Mapping[str, str]) -> JSONObject:
    value = api.post_json("/auth", dict(auth))
    if not isinstance(value, dict):
        raise ProtocolError("the berth daemon answered POST /auth with no JSON object")
    return value
