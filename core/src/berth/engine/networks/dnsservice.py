"""The embedded DNS, wired to the network service: what it knows and where it listens.

It knows the endpoints of user-defined networks (the default ``bridge`` network has no name
resolution, as in Docker) and listens on the gateway address of each user-defined network that
has containers attached. The network service calls :meth:`ContainerDns.changed` (from any
thread) whenever a network's endpoints change; the listeners follow on the daemon's loop.
Queries read the endpoints as of the last change notice (and container names as they are
now), so a start, stop, connect, disconnect or rename is seen by the very next query.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from berth.engine.containers.resolv import NO_DNS_DEFAULTS, DnsDefaults, EtcFiles
from berth.engine.errors import BerthError
from berth.engine.networks.dnsforward import Upstream, parse_upstream
from berth.engine.networks.dnsnames import DnsEndpoint
from berth.engine.networks.dnsserver import DNS_PORT, EmbeddedDns

#: How long the endpoint list is trusted without a change notice (a safety net: every change
#: the network service makes is notified at once).
CACHE_SECONDS = 5.0

if TYPE_CHECKING:
    from berth.engine.containers.model import Container
    from berth.engine.containers.service import ContainerService
    from berth.engine.networks.model import Network
    from berth.engine.networks.service import NetworkService


def has_embedded_dns(network: Network) -> bool:
    """Whether containers on ``network`` use the embedded DNS: user-defined networks with
    addresses (not the default bridge, host or none)."""
    return network.has_addresses and not network.predefined


def dns_address(network: Network) -> str:
    """Where containers on ``network`` find the embedded DNS: its gateway ("" if none)."""
    if not has_embedded_dns(network) or not network.ipam_config:
        return ""
    return str(network.ipam_config[0].get("Gateway") or "")


class ContainerDns:
    def __init__(
        self,
        networks: NetworkService,
        log: Any,
        *,
        port: int = DNS_PORT,
        upstreams: Sequence[Upstream] | None = None,
        name_of: Callable[[str], str | None] | None = None,
    ) -> None:
        """``name_of`` gives a container's current name (after a rename) by its ID."""
        self.networks = networks
        self.log = log
        self.name_of = name_of
        self.server = EmbeddedDns(self.endpoints, log, port=port, upstreams=upstreams)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending = False
        self._changes = itertools.count(1)  # next() is atomic: changes come from many threads
        self._generation = 0
        self._cache: tuple[int, float, list[DnsEndpoint]] | None = None

    def endpoints(self) -> list[DnsEndpoint]:
        """Every endpoint on a network with the embedded DNS, now (current names)."""
        found = self._current()
        if self.name_of is None:
            return found
        return [_renamed(e, self.name_of(e.container_id)) for e in found]

    def _current(self) -> list[DnsEndpoint]:
        """The network service's endpoints, cached until :meth:`changed` (a generation count
        keeps a list read before a change from being cached after it) or for CACHE_SECONDS."""
        generation = self._generation
        cached = self._cache
        fresh = cached is not None and time.monotonic() - cached[1] < CACHE_SECONDS
        if cached is not None and fresh and cached[0] == generation:
            return cached[2]
        found: list[DnsEndpoint] = []
        for network in self.networks.all_networks():
            if has_embedded_dns(network):
                found += self.networks.endpoints_for_dns(network.id)
        self._cache = (generation, time.monotonic(), found)
        return found

    def wanted_addresses(self) -> set[str]:
        return {
            dns_address(network)
            for network in self.networks.all_networks()
            if network.endpoints and dns_address(network)
        }

    async def start(self) -> None:
        """Listen where containers need it now; follow the network service from here on."""
        self._loop = asyncio.get_running_loop()
        self.networks.dns_listeners.append(self.changed)
        await self.server.sync(self.wanted_addresses())

    async def stop(self) -> None:
        with contextlib.suppress(ValueError):
            self.networks.dns_listeners.remove(self.changed)
        await self.server.close()
        self._loop = None

    def changed(self, network_id: str = "") -> None:
        """A network's endpoints changed (called from any thread, before the container runs):
        bind the sockets a new network needs right here, so the container's first query
        waits in the kernel even if the loop is busy; serving and unlistening follow on the
        loop (several changes in a row make one sync)."""
        self._generation = next(self._changes)
        loop = self._loop
        if loop is None:
            return
        bound = set(self.server.addresses)
        for address in self.wanted_addresses() - bound:
            try:
                self.server.bind(address)
            except OSError as exc:
                self.log.warning("dns.listen_failed", address=address, error=str(exc))
        if self._pending:
            return
        self._pending = True
        with contextlib.suppress(RuntimeError):  # the loop is closing
            loop.call_soon_threadsafe(self._sync_soon)

    def _sync_soon(self) -> None:
        self._pending = False
        self.server.spawn(self.server.sync(self.wanted_addresses()))


def _renamed(endpoint: DnsEndpoint, name: str | None) -> DnsEndpoint:
    if not name or name == endpoint.container_name:
        return endpoint
    return dataclasses.replace(endpoint, container_name=name)


def host_gateway_ip(networks: NetworkService) -> str:
    """What ``--add-host name:host-gateway`` stands for: the default bridge's gateway, as in
    Docker ("" when there is no default bridge)."""
    for network in networks.all_networks():
        if network.name == "bridge" and network.ipam_config:
            return str(network.ipam_config[0].get("Gateway") or "")
    return ""


def wire_container_dns(
    networks: NetworkService,
    containers: ContainerService | None,
    log: Any,
    defaults: DnsDefaults = NO_DNS_DEFAULTS,
) -> ContainerDns:
    """The embedded DNS for the engine, and the container side of name resolution: the
    host-gateway address for ``--add-host``, the daemon's DNS defaults, and hosts/resolv.conf
    rewritten when a running container is connected to or disconnected from a network.

    The daemon's ``dns`` servers, when given, are where the embedded DNS forwards for
    containers without ``--dns`` (instead of the host's resolvers), as in Docker."""
    upstreams: list[Upstream] = []
    for server in defaults.servers:
        try:
            upstreams.append(parse_upstream(server))
        except ValueError:
            log.warning("dns.bad_daemon_dns", server=server)
    fixed = upstreams or None
    if containers is None:
        return ContainerDns(networks, log, upstreams=fixed)
    store = containers.store

    def name_of(container_id: str) -> str | None:
        container = store.get(container_id)
        return container.name.lstrip("/") if container is not None else None

    bundles = containers.bundles
    bundles.host_gateway_ip = lambda: host_gateway_ip(networks)
    bundles.dns_defaults = defaults

    def etc_files_of(ref: str) -> EtcFiles | None:
        try:
            other = store.lookup(ref)
        except BerthError:
            return None
        paths = (other.hostname_path, other.hosts_path, other.resolv_conf_path)
        return EtcFiles(*paths) if all(paths) else None

    bundles.etc_files_of = etc_files_of
    networking = containers.networking
    if networking is not None:

        def refresh(container: Container) -> None:
            try:
                bundles.refresh_etc_files(container)
            except Exception as exc:  # the network change itself has succeeded
                log.warning("dns.etc_refresh_failed", id=container.id, error=str(exc))

        networking.on_networks_changed = refresh
    return ContainerDns(networks, log, upstreams=fixed, name_of=name_of)
