"""Volume calls of the API: create, list, inspect, remove, prune."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from berth.client.api import APIClient
from berth.client.errors import ProtocolError
from berth.client.system import encode_filters

JSONObject = dict[str, Any]

_PATH_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def volume_path(name: str) -> str:
    """`/volumes/<name>`, the name percent-encoded where a path needs it."""
    quoted = "".join(chr(b) if b in _PATH_SAFE else f"%{b:02X}" for b in name.encode())
    return f"/volumes/{quoted}"


def _object(value: Any, what: str) -> JSONObject:
    if not isinstance(value, dict):
        raise ProtocolError(f"the berth daemon answered {what} with {type(value).__name__}")
    return value


def create_volume(
    api: APIClient,
    name: str = "",
    driver: str = "",
    options: Mapping[str, str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> JSONObject:
    """`POST /volumes/create`: the volume (an existing one of that name as it is)."""
    body = {
        "Name": name,
        "Driver": driver or "local",
        "DriverOpts": dict(options or {}),
        "Labels": dict(labels or {}),
    }
    return _object(api.post_json("/volumes/create", body), "POST /volumes/create")


def list_volumes(
    api: APIClient, filters: Mapping[str, Sequence[str]] | None = None
) -> list[JSONObject]:
    """`GET /volumes`: the volumes, by name."""
    query = {"filters": encode_filters(filters)} if filters else None
    value = _object(api.get_json("/volumes", query), "GET /volumes")
    found = value.get("Volumes") or []
    if not isinstance(found, list):
        raise ProtocolError("the berth daemon answered GET /volumes with no list of volumes")
    return [v for v in found if isinstance(v, dict)]


def inspect_volume(api: APIClient, name: str) -> JSONObject:
    path = volume_path(name)
    return _object(api.get_json(path), f"GET {path}")


def remove_volume(api: APIClient, name: str, *, force: bool = False) -> None:
    api.request("DELETE", volume_path(name), query={"force": True if force else None})


def prune_volumes(api: APIClient, filters: Mapping[str, Sequence[str]]) -> JSONObject:
    """`POST /volumes/prune`: {"VolumesDeleted": [...], "SpaceReclaimed": N}."""
    query = {"filters": encode_filters(filters)} if filters else None
    value = api.post_json("/volumes/prune", query=query)
    return {} if value is None else _object(value, "POST /volumes/prune")
