"""Build calls of the API: `POST /build` (the classic builder's JSON stream) and
`POST /build/prune`."""

from __future__ import annotations

from berth.client.errors import ProtocolError

# typing (and system's json) stay off the start-up path of `berth build` (berth.cli.buildrun)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from typing import Any, BinaryIO

    from berth.client.api import APIClient, Query

    JSONObject = dict[str, Any]


def build_image(api: APIClient, context: BinaryIO, query: Query) -> Iterator[JSONObject]:
    """Send the context tar (streamed, chunked) and yield the daemon's messages as they come."""
    for value in api.stream_json("POST", "/build", query=query, upload=context):
        if not isinstance(value, dict):
            raise ProtocolError("the berth daemon answered POST /build with a non-object")
        yield value


def prune_build_cache(
    api: APIClient, *, all_: bool, filters: Mapping[str, Sequence[str]], keep_storage: int
) -> JSONObject:
    """`POST /build/prune`: {"CachesDeleted": [...], "SpaceReclaimed": N}."""
    from berth.client.system import encode_filters

    query: dict[str, str | int | bool | None] = {
        "all": True if all_ else None,
        "keep-storage": keep_storage or None,
        "filters": encode_filters(filters) if filters else None,
    }
    value = api.post_json("/build/prune", query=query)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProtocolError("the berth daemon answered POST /build/prune with a non-object")
    return value
