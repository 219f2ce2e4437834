"""Image calls of the API: list, inspect, history, tag, remove, save, load, import, prune, df.

Archives go both ways as streams: `save_images` yields the daemon's tar piece by piece, and
`load_images`/`import_image` send a file or stdin chunked while yielding the daemon's JSON
progress messages as they come. Nothing holds a whole archive in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, BinaryIO

from berth.client.api import APIClient
from berth.client.errors import ClientError, ProtocolError
from berth.client.reference import ReferenceError, check_any, parse_normalized
from berth.client.system import encode_filters

JSONObject = dict[str, Any]

_PATH_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/:@")


def image_path(name: str, suffix: str) -> str:
    """`/images/<name>/<suffix>`, the name percent-encoded where a path needs it."""
    quoted = "".join(chr(b) if b in _PATH_SAFE else f"%{b:02X}" for b in name.encode())
    return f"/images/{quoted}/{suffix}" if suffix else f"/images/{quoted}"


def _objects(value: Any, what: str) -> list[JSONObject]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ProtocolError(f"the berth daemon answered {what} with no list of objects")
    return value


def _object(value: Any, what: str) -> JSONObject:
    if not isinstance(value, dict):
        raise ProtocolError(f"the berth daemon answered {what} with {type(value).__name__}")
    return value


def list_images(
    api: APIClient, *, all_images: bool = False, filters: Mapping[str, Sequence[str]] | None = None
) -> list[JSONObject]:
    """`GET /images/json`: image summaries, newest first."""
    query: dict[str, str | bool | None] = {"all": True if all_images else None}
    if filters:
        query["filters"] = encode_filters(filters)
    return _objects(api.get_json("/images/json", query), "GET /images/json")


def inspect_image(api: APIClient, name: str) -> JSONObject:
    """`GET /images/{name}/json`."""
    path = image_path(name, "json")
    return _object(api.get_json(path), f"GET {path}")


def image_history(api: APIClient, name: str) -> list[JSONObject]:
    """`GET /images/{name}/history`: the image's layers, newest first."""
    path = image_path(name, "history")
    return _objects(api.get_json(path), f"GET {path}")


def tag_image(api: APIClient, source: str, target: str) -> None:
    """`POST /images/{source}/tag?repo=&tag=`; both names are checked here first, as docker does."""
    try:
        check_any(source)
    except ReferenceError as exc:
        raise ClientError(
            f'Error parsing reference: "{source}" is not a valid repository/tag: {exc}'
        ) from None
    try:
        ref = parse_normalized(target)
    except ReferenceError as exc:
        raise ClientError(
            f'Error parsing reference: "{target}" is not a valid repository/tag: {exc}'
        ) from None
    if ref.digest:
        raise ClientError("refusing to create a tag with a digest reference")
    ref = ref.with_default_tag()
    api.post_json(image_path(source, "tag"), query={"repo": ref.name, "tag": ref.tag})


def remove_image(api: APIClient, name: str, *, force: bool, prune: bool) -> list[JSONObject]:
    """`DELETE /images/{name}`: what was untagged and deleted, in order."""
    query = {"force": True if force else None, "noprune": None if prune else True}
    path = image_path(name, "")
    _, _, data = api.request("DELETE", path, query=query)
    if not data.strip():
        return []
    import json

    try:
        value = json.loads(data)
    except ValueError as exc:
        raise ProtocolError(f"the berth daemon answered DELETE {path} with invalid JSON") from exc
    return _objects(value, f"DELETE {path}")


def save_images(api: APIClient, names: Sequence[str]) -> Iterator[bytes]:
    """`GET /images/get?names=...`: the archive, piece by piece as the daemon sends it."""
    return api.stream_bytes("GET", "/images/get", query={"names": list(names)})


def load_images(
    api: APIClient, archive: BinaryIO, *, quiet: bool, platform: str = ""
) -> Iterator[JSONObject]:
    """`POST /images/load`: send the archive (a file or stdin) and yield the daemon's messages."""
    query = {"quiet": True if quiet else None, "platform": platform.lower() or None}
    for value in api.stream_json("POST", "/images/load", query=query, upload=archive):
        yield _object(value, "POST /images/load")


def import_image(
    api: APIClient,
    rootfs: BinaryIO,
    *,
    reference: str = "",
    message: str = "",
    changes: Sequence[str] = (),
    platform: str = "",
) -> Iterator[JSONObject]:
    """`POST /images/create?fromSrc=-`: send a rootfs tarball, yield the daemon's messages.

    The reference is checked here first, as docker does (it is sent whole, `repo=name:tag`).
    """
    if reference:
        try:
            parse_normalized(reference)
        except ReferenceError as exc:
            raise ClientError(str(exc)) from None
    query: dict[str, str | list[str] | None] = {
        "fromSrc": "-",
        "repo": reference or None,
        "message": message or None,
        "changes": list(changes) or None,
        "platform": platform.lower() or None,
    }
    for value in api.stream_json("POST", "/images/create", query=query, upload=rootfs):
        yield _object(value, "POST /images/create")


def prune_images(api: APIClient, filters: Mapping[str, Sequence[str]]) -> JSONObject:
    """`POST /images/prune`: {"ImagesDeleted": [...], "SpaceReclaimed": N}."""
    query = {"filters": encode_filters(filters)} if filters else None
    value = api.post_json("/images/prune", query=query)
    return {} if value is None else _object(value, "POST /images/prune")


def disk_usage(api: APIClient) -> JSONObject:
    """`GET /system/df`: images, containers, volumes and build cache with their sizes."""
    return _object(api.get_json("/system/df"), "GET /system/df")
