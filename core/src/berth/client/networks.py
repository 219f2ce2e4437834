"""Network calls of the API: create, list, inspect, remove, prune, connect, disconnect."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from berth.client.api import APIClient
from berth.client.errors import ProtocolError
from berth.client.system import encode_filters
from berth.client.volumes import volume_path

JSONObject = dict[str, Any]


def network_path(name: str) -> str:
    return "/networks/" + volume_path(name)[len("/volumes/") :]


def _object(value: Any, what: str) -> JSONObject:
    if not isinstance(value, dict):
        raise ProtocolError(f"the berth daemon answered {what} with {type(value).__name__}")
    return value


def create_network(api: APIClient, body: Mapping[str, Any]) -> JSONObject:
    return _object(api.post_json("/networks/create", dict(body)), "POST /networks/create")


def list_networks(
    api: APIClient, filters: Mapping[str, Sequence[str]] | None = None
) -> list[JSONObject]:
    query = {"filters": encode_filters(filters)} if filters else None
    value = api.get_json("/networks", query)
    if not isinstance(value, list):
        raise ProtocolError("the berth daemon answered GET /networks with no list")
    return [n for n in value if isinstance(n, dict)]


def inspect_network(api: APIClient, name: str) -> JSONObject:
    path = network_path(name)
    return _object(api.get_json(path), f"GET {path}")


def remove_network(api: APIClient, name: str) -> None:
    api.request("DELETE", network_path(name))


def prune_networks(api: APIClient, filters: Mapping[str, Sequence[str]]) -> JSONObject:
    query = {"filters": encode_filters(filters)} if filters else None
    value = api.post_json("/networks/prune", query=query)
    return {} if value is None else _object(value, "POST /networks/prune")


def connect(api: APIClient, network: str, container: str, config: Mapping[str, Any]) -> None:
    body = {"Container": container, "EndpointConfig": dict(config)}
    api.post_json(network_path(network) + "/connect", body)


def disconnect(api: APIClient, network: str, container: str, force: bool) -> None:
    body = {"Container": container, "Force": force}
    api.post_json(network_path(network) + "/disconnect", body)
