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
        """Install NAT and published ports for the endpoint.

        ``options["ports"]`` lists :class:`PortMapping` records whose host ports the engine
        has already chosen and reserved; ``options["address"]`` is the endpoint's IPv4.
        """

    @abc.abstractmethod
    def revoke_external_connectivity(self, network_id: str, endpoint_id: str) -> None:
        """Remove what ``program_external_connectivity`` installed."""

    # --- optional: sandboxes and status (drivers that own network namespaces) --------------

    def create_sandbox(self, sandbox_id: str) -> str:
        """Make a network namespace for a container (loopback up); return its path (the
        ``sandbox_key`` given to :meth:`join`). Drivers without sandboxes do not override it."""
        raise NotImplementedError(f"{type(self).__name__} makes no sandboxes")

    def delete_sandbox(self, sandbox_key: str) -> None:
        """Remove a namespace made by :meth:`create_sandbox`; a missing one is not an error."""
        raise NotImplementedError(f"{type(self).__name__} makes no sandboxes")

    def status(self) -> Sequence[tuple[str, str]]:
        """Pairs shown by ``berth info`` (e.g. which packet filter the driver uses)."""
        return []


@dataclass(frozen=True)
class PortMapping:
    """One published port: ``host_ip:host_port`` → ``container_port`` over ``proto``."""

    proto: str  # "tcp" | "udp" | "sctp"
    container_port: int
    host_port: int
    host_ip: str = ""  # "" or "0.0.0.0": every host address


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
