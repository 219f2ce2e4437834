"""A container's networks: checked at create, attached at start, detached when it stops.

The container service calls four hooks (all blocking, run in its threads):

- :meth:`ContainerNetworking.settings_at_create` — the ``NetworkSettings`` of a new container
  from ``NetworkMode`` and ``NetworkingConfig`` (unknown network: 404);
- :meth:`ContainerNetworking.attach` — at start: a network namespace from the bridge driver,
  an endpoint per network (``eth0``, ``eth1``… in order), published ports on the first one;
  returns the namespace's path for the OCI spec (None: the runtime's own namespace, for
  ``none``/``host``/``container:``);
- :meth:`ContainerNetworking.detach` — when the run ends: endpoints, ports and namespace go;
- :meth:`ContainerNetworking.connect` / :meth:`ContainerNetworking.disconnect` — ``network
  connect``/``disconnect``, on a running container too.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable, Mapping
from typing import Any

from berth.engine.containers.model import Container, default_network_settings
from berth.engine.errors import BadParameter, BerthError, Conflict
from berth.engine.networks import ports
from berth.engine.networks.model import Network
from berth.engine.networks.service import (
    Attached,
    EndpointRequest,
    NetworkNotFound,
    NetworkService,
)
from berth.plugins import PortMapping

BUILTIN_MODES = ("none", "host")
CONTAINER_MODE = "container:"


def mode_network(mode: str) -> str:
    """The network name a ``NetworkMode`` stands for (``default`` is ``bridge``)."""
    return "bridge" if mode in ("", "default") else mode


def uses_bridge_driver(mode: str) -> bool:
    return mode not in BUILTIN_MODES and not mode.startswith(CONTAINER_MODE)


def empty_endpoint(request: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Docker's ``EndpointSettings`` with what was asked (IPAMConfig, Aliases, MacAddress)."""
    request = request or {}
    ipam_config = request.get("IPAMConfig") or None
    aliases = [str(a) for a in request.get("Aliases") or ()] or None
    return {
        "IPAMConfig": dict(ipam_config) if ipam_config else None,
        "Links": request.get("Links") or None,
        "Aliases": aliases,
        "MacAddress": str(request.get("MacAddress") or ""),
        "DriverOpts": request.get("DriverOpts") or None,
        "NetworkID": "",
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": None,
    }


class ContainerNetworking:
    def __init__(self, networks: NetworkService, log: Any) -> None:
        self.networks = networks
        self.log = log
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        #: Called after a running container's networks changed (connect/disconnect): the
        #: embedded DNS wiring rewrites its hosts and resolv.conf.
        self.on_networks_changed: Callable[[Container], None] = lambda container: None

    def _lock(self, container_id: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(container_id, threading.Lock())

    # --- create ----------------------------------------------------------------------------

    def settings_at_create(
        self,
        mode: str,
        networking_config: Mapping[str, Any] | None,
        host_config: Mapping[str, Any],
    ) -> dict[str, Any]:
        if mode in BUILTIN_MODES or mode.startswith(CONTAINER_MODE):
            return default_network_settings(mode.partition(":")[0])
        if mode in ("", "default") and not self.networks.driver_available("bridge"):
            return default_network_settings("bridge")  # no bridge driver: loopback only
        try:
            return self._settings(mode, networking_config, host_config)
        except NetworkNotFound as exc:  # Docker answers 400 here: a 404 makes clients pull
            raise BadParameter(str(exc)) from None

    def _settings(
        self,
        mode: str,
        networking_config: Mapping[str, Any] | None,
        host_config: Mapping[str, Any],
    ) -> dict[str, Any]:
        ports.check_bindings(host_config.get("PortBindings"))
        wanted = dict((networking_config or {}).get("EndpointsConfig") or {})
        name = mode_network(mode)
        first = self.networks.lookup(name)  # NetworkNotFound: 404
        if first.driver != "bridge":
            raise BadParameter(f"container cannot be attached to network {first.name}")
        settings = default_network_settings(first.name)
        request = wanted.pop(name, None) or wanted.pop(first.name, None) or wanted.pop(mode, None)
        if first.name == "bridge" and request and request.get("Aliases"):
            raise BadParameter(
                "network-scoped aliases are only supported for user-defined networks"
            )
        networks = {first.name: self._checked(first, request)}
        for ref, request in wanted.items():
            network = self.networks.lookup(str(ref))
            networks[network.name] = self._checked(network, request)
        settings["Networks"] = networks
        return settings

    def _checked(self, network: Network, request: Mapping[str, Any] | None) -> dict[str, Any]:
        endpoint = empty_endpoint(request)
        wanted = (endpoint["IPAMConfig"] or {}).get("IPv4Address")
        if wanted:
            if network.name == "bridge":
                raise BadParameter(
                    "user specified IP address is supported on user defined networks only"
                )
            try:
                address = ipaddress.IPv4Address(str(wanted))
            except ValueError:
                raise BadParameter(f"invalid IPv4 address {wanted!r}") from None
            subnet = ipaddress.IPv4Network(network.ipam_config[0]["Subnet"])
            if address not in subnet:
                raise BadParameter(
                    f"invalid endpoint settings: no configured subnet contains IP address "
                    f"{address} (network {network.name} has {subnet})"
                )
        endpoint["NetworkID"] = network.id
        return endpoint

    # --- start and stop ------------------------------------------------------------------

    def attach(self, container: Container) -> str | None:
        """At start: the sandbox path, with every network of the container wired in it."""
        mode = str(container.host_config.get("NetworkMode") or "default")
        if not uses_bridge_driver(mode):
            return None
        settings = container.network_settings
        if mode in ("", "default") and not (settings.get("Networks") or {}).get("bridge", {}).get(
            "NetworkID"
        ):
            return None  # made while no bridge driver could work: loopback only, as then
        with self._lock(container.id):
            sandbox = self.networks.create_sandbox(container.id)
            settings["SandboxKey"] = sandbox
            settings["SandboxID"] = container.id
            try:
                names = list((settings.get("Networks") or {}).keys())
                for index, name in enumerate(names):
                    self._join(container, name, sandbox, index)
            except BaseException:
                self._detach_locked(container)
                raise
            return sandbox

    def _join(self, container: Container, name: str, sandbox: str, index: int) -> Attached:
        settings = container.network_settings
        endpoint = settings["Networks"][name]
        try:
            network = self.networks.lookup(str(endpoint.get("NetworkID") or name))
        except NetworkNotFound:
            network = self.networks.lookup(name)
        request = EndpointRequest.from_settings(endpoint)
        if index == 0 and not request.mac_address:
            request.mac_address = str(container.config.get("MacAddress") or "")
        attached = self.networks.attach(
            network,
            container.id,
            container.name.lstrip("/"),
            sandbox,
            request,
            ifname=f"eth{index}",
            default_route=index == 0,
            dns_servers=[str(d) for d in container.host_config.get("Dns") or ()],
        )
        if index == 0:
            self._publish(container, attached)
        self._fill(container, name, attached)
        return attached

    def _publish(self, container: Container, attached: Attached) -> None:
        hc = container.host_config
        exposed = container.config.get("ExposedPorts") or {}
        wanted = ports.wanted_mappings(
            hc.get("PortBindings"), exposed, bool(hc.get("PublishAllPorts"))
        )
        final: list[PortMapping] = []
        if wanted and not attached.network.internal:
            final, held = ports.reserve(wanted)
            try:
                self.networks.publish(attached, final)
            except BaseException:
                held.close()
                raise
            self.networks.reservations[container.id] = held
        container.network_settings["Ports"] = ports.settings_ports(final, exposed)

    def _fill(self, container: Container, name: str, attached: Attached) -> None:
        record = attached.record
        iface = ipaddress.IPv4Interface(record.address)
        endpoint = container.network_settings["Networks"][name]
        endpoint.update(
            {
                "NetworkID": attached.network.id,
                "EndpointID": record.endpoint_id,
                "Gateway": attached.gateway,
                "IPAddress": str(iface.ip),
                "IPPrefixLen": iface.network.prefixlen,
                "MacAddress": record.mac_address,
                "DNSNames": [container.name.lstrip("/"), container.id[:12], *record.aliases]
                if name != "bridge"
                else None,
            }
        )
        if name == "bridge":  # Docker's deprecated top-level fields: the default bridge only
            container.network_settings.update(
                {
                    "EndpointID": record.endpoint_id,
                    "Gateway": attached.gateway,
                    "IPAddress": str(iface.ip),
                    "IPPrefixLen": iface.network.prefixlen,
                    "MacAddress": record.mac_address,
                }
            )

    def detach(self, container: Container) -> None:
        """When a run ends (or the container goes): free endpoints, ports and namespace."""
        with self._lock(container.id):
            self._detach_locked(container)

    def _detach_locked(self, container: Container) -> None:
        held = self.networks.reservations.pop(container.id, None)
        if held is not None:
            held.close()
        for network in self.networks.networks_of(container.id):
            self.networks.detach(network, container.id)
        settings = container.network_settings
        sandbox = str(settings.get("SandboxKey") or "")
        if sandbox:
            self.networks.delete_sandbox(sandbox)
        if not settings:
            return
        settings["SandboxKey"] = ""
        settings["SandboxID"] = ""
        settings["Ports"] = {}
        for key in ("EndpointID", "Gateway", "IPAddress", "MacAddress"):
            if key in settings:
                settings[key] = ""
        settings["IPPrefixLen"] = 0
        for endpoint in (settings.get("Networks") or {}).values():
            for key in ("EndpointID", "Gateway", "IPAddress", "DNSNames"):
                endpoint[key] = "" if key != "DNSNames" else None
            endpoint["IPPrefixLen"] = 0
            if not (endpoint.get("IPAMConfig") or {}).get("IPv4Address") and not endpoint.get(
                "MacAddress"
            ):
                endpoint["MacAddress"] = ""

    def forget(self, container: Container) -> None:
        self.detach(container)
        with self._guard:
            self._locks.pop(container.id, None)

    def restore(self, running: list[Container]) -> None:
        """After a daemon restart: hold the host ports of running containers again."""
        for container in running:
            wanted: list[PortMapping] = []
            for network in self.networks.networks_of(container.id):
                record = network.endpoints[container.id]
                wanted.extend(PortMapping(**p) for p in record.ports)
            if not wanted:
                continue
            try:
                _, held = ports.reserve(wanted)
            except BerthError as exc:
                self.log.warning("network.port_lost", id=container.id, error=str(exc))
                continue
            self.networks.reservations[container.id] = held

    # --- connect and disconnect ----------------------------------------------------------

    def connect(
        self,
        container: Container,
        network_ref: str,
        request: Mapping[str, Any] | None,
        save: Callable[[], None],
    ) -> None:
        network = self.networks.lookup(network_ref)
        mode = str(container.host_config.get("NetworkMode") or "default")
        if not uses_bridge_driver(mode):
            raise BadParameter(
                f"container sharing network namespace with another container or host "
                f"cannot be connected to any other network (network mode {mode})"
            )
        if network.driver != "bridge":
            raise BadParameter(f"container cannot be connected to network {network.name}")
        with self._lock(container.id):
            settings = container.network_settings
            networks = settings.setdefault("Networks", {})
            if network.name in networks:
                raise Conflict(
                    f"endpoint with name {container.name.lstrip('/')} already exists in "
                    f"network {network.name}"
                )
            networks[network.name] = self._checked(network, request)
            sandbox = str(settings.get("SandboxKey") or "")
            if container.state.running and sandbox:
                try:
                    self._join(container, network.name, sandbox, self._next_index(container))
                except BaseException:
                    networks.pop(network.name, None)
                    raise
                self.on_networks_changed(container)
            save()

    def _next_index(self, container: Container) -> int:
        used = {
            network.endpoints[container.id].ifname
            for network in self.networks.networks_of(container.id)
        }
        index = 0
        while f"eth{index}" in used:
            index += 1
        return index

    def disconnect(
        self, container: Container, network_ref: str, force: bool, save: Callable[[], None]
    ) -> None:
        try:
            network = self.networks.lookup(network_ref)
            name = network.name
        except NetworkNotFound:
            if not force:
                raise
            network, name = None, network_ref
        with self._lock(container.id):
            networks = container.network_settings.get("Networks") or {}
            if name not in networks:
                raise BadParameter(
                    f"container {container.short_id} is not connected to network {name}"
                )
            if network is not None:
                self.networks.detach(network, container.id)
            networks.pop(name)
            if name == "bridge":
                for key in ("EndpointID", "Gateway", "IPAddress", "MacAddress"):
                    container.network_settings[key] = ""
            if container.state.running:
                self.on_networks_changed(container)
            save()
