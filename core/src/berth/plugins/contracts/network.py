"""The network contract, modelled on libnetwork's driver API, plus IPAM."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class EndpointInterface:
    """An endpoint's addresses; the driver fills in what the request left empty."""

    address: str = ""  # CIDR, e.g. "172.17.0.2/16"
    address_v6: str = ""
    mac_address: str = ""


@dataclass
class JoinInfo:
    """What a sandbox needs after a join: the interface to move in, routes and gateways."""

    src_name: str
    dst_prefix: str = "eth"
    gateway: str = ""
    gateway_v6: str = ""
    static_routes: Sequence[Mapping[str, str]] = field(default_factory=list)


class NetworkDriver(abc.ABC):
    @abc.abstractmethod
    def create_network(
        self, network_id: str, options: Mapping[str, Any], ipv4: Sequence[Mapping[str, str]]
    ) -> None:
        """Create the network (e.g. a bridge) with the pools IPAM gave it."""

    @abc.abstractmethod
    def delete_network(self, network_id: str) -> None:
        """Delete the network; deleting one that does not exist is not an error."""

    @abc.abstractmethod
    def create_endpoint(
        self,
        network_id: str,
        endpoint_id: str,
        interface: EndpointInterface,
        options: Mapping[str, Any],
    ) -> EndpointInterface:
        """Create an endpoint (e.g. a veth pair) and return its final addresses."""

    @abc.abstractmethod
    def delete_endpoint(self, network_id: str, endpoint_id: str) -> None:
        """Delete an endpoint and everything it owned."""

    @abc.abstractmethod
    def join(
        self, network_id: str, endpoint_id: str, sandbox_key: str, options: Mapping[str, Any]
    ) -> JoinInfo:
        """Attach the endpoint to a container's network namespace (``sandbox_key`` is its path)."""

    @abc.abstractmethod
    def leave(self, network_id: str, endpoint_id: str) -> None:
        """Detach the endpoint from its sandbox."""

    @abc.abstractmethod
    def program_external_connectivity(
        self, network_id: str, endpoint_id: str, options: Mapping[str, Any]
    ) -> None:
        """Install NAT and published ports for the endpoint."""

    @abc.abstractmethod
    def revoke_external_connectivity(self, network_id: str, endpoint_id: str) -> None:
        """Remove what ``program_external_connectivity`` installed."""


class IpamDriver(abc.ABC):
    """Address management: pools for networks, addresses for endpoints."""

    @abc.abstractmethod
    def request_pool(
        self, address_space: str, pool: str, sub_pool: str, options: Mapping[str, str], v6: bool
    ) -> tuple[str, str]:
        """Reserve a pool (``pool`` empty: pick one); return ``(pool_id, cidr)``."""

    @abc.abstractmethod
    def release_pool(self, pool_id: str) -> None:
        """Give a pool back."""

    @abc.abstractmethod
    def request_address(self, pool_id: str, address: str, options: Mapping[str, str]) -> str:
        """Reserve an address (``address`` empty: the next free one); return it as CIDR."""

    @abc.abstractmethod
    def release_address(self, pool_id: str, address: str) -> None:
        """Give an address back."""
