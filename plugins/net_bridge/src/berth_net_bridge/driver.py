"""The ``bridge`` network driver: one Linux bridge per network, a veth pair per endpoint,
one nftables table per network (:mod:`.firewall`), namespaces pinned under the plugin's run
directory (:mod:`.netns`).

The driver keeps what it was told in memory only; the engine owns the records and, after a
daemon restart, tells it again (``create_network`` and the endpoints' connectivity are
idempotent), which rebuilds each table from what the engine knows.
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.plugins import (
    EndpointInterface,
    JoinInfo,
    NetworkDriver,
    PluginContext,
    PortMapping,
)

from berth_net_bridge import firewall, iptables, links, netns

OPT_BRIDGE_NAME = "com.docker.network.bridge.name"
OPT_MTU = "com.docker.network.driver.mtu"
OPT_ICC = "com.docker.network.bridge.enable_icc"
OPT_MASQUERADE = "com.docker.network.bridge.enable_ip_masquerade"
OPT_INTERNAL = "internal"
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def _flag(value: Any, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).lower() in ("1", "true", "yes", "on")


def _short(endpoint_id: str) -> str:
    return hashlib.sha256(endpoint_id.encode()).hexdigest()[:7]


def host_veth(endpoint_id: str) -> str:
    return "veth" + _short(endpoint_id)


def mac_for(address: str) -> str:
    """Docker's MAC for an IPv4: 02:42 then the four bytes of the address."""
    packed = ipaddress.ip_interface(address).ip.packed
    return "02:42:" + ":".join(f"{b:02x}" for b in packed)


@dataclass
class BridgeNetwork:
    network_id: str
    bridge: str
    subnet: str
    gateway: str  # CIDR on the bridge
    mtu: int
    rules: firewall.NetworkRules
    endpoints: dict[str, EndpointInterface] = field(default_factory=dict)
    published: dict[str, list[firewall.Published]] = field(default_factory=dict)


class BridgeDriver(NetworkDriver):
    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.log = ctx.logger
        self.sandbox_dir = Path(ctx.run_dir) / "netns"
        self.networks: dict[str, BridgeNetwork] = {}
        self.lock = threading.Lock()
        self.firewall_name = firewall.backend() or "nftables"
        self.firewall: Any = firewall if self.firewall_name == "nftables" else iptables

    # --- networks ------------------------------------------------------------------------

    def create_network(
        self, network_id: str, options: Mapping[str, Any], ipv4: Sequence[Mapping[str, str]]
    ) -> None:
        if not ipv4:
            raise ValueError("a bridge network needs an IPv4 pool")
        pool = ipv4[0]
        subnet = ipaddress.ip_network(pool["Subnet"], strict=False)
        gateway = f"{pool['Gateway']}/{subnet.prefixlen}" if pool.get("Gateway") else ""
        bridge = str(options.get(OPT_BRIDGE_NAME) or "br-" + network_id[:12])
        if len(bridge) > 15:
            raise ValueError(f"bridge name {bridge!r} is longer than 15 characters")
        mtu = int(options.get(OPT_MTU) or 0)
        internal = _flag(options.get(OPT_INTERNAL), False)
        rules = firewall.NetworkRules(
            bridge=bridge,
            subnet=str(subnet),
            internal=internal,
            icc=_flag(options.get(OPT_ICC), True),
            masquerade=_flag(options.get(OPT_MASQUERADE), True),
        )
        network = BridgeNetwork(network_id, bridge, str(subnet), gateway, mtu, rules)
        created = not links.link_exists(bridge)
        try:
            links.ensure_bridge(bridge, gateway, mtu)
            if not internal:
                _enable_forwarding()
            self.firewall.apply(rules, [])
        except BaseException:
            if created:
                links.delete_link(bridge)
            raise
        with self.lock:
            old = self.networks.get(network_id)
            if old is not None:  # told again (restart): keep what endpoints it knows
                network.endpoints, network.published = old.endpoints, old.published
            self.networks[network_id] = network
        if network.published:
            self._apply(network)

    def delete_network(self, network_id: str) -> None:
        with self.lock:
            network = self.networks.pop(network_id, None)
        if network is None:
            return
        self.firewall.delete(network.bridge)
        links.delete_link(network.bridge)

    def forget_bridge(self, bridge: str) -> None:
        """Remove a bridge and its table that no network record claims any more."""
        self.firewall.delete(bridge)
        links.delete_link(bridge)

    def _network(self, network_id: str) -> BridgeNetwork:
        with self.lock:
            network = self.networks.get(network_id)
        if network is None:
            raise KeyError(f"network {network_id} is not known to the bridge driver")
        return network

    # --- endpoints -------------------------------------------------------------------------

    def create_endpoint(
        self,
        network_id: str,
        endpoint_id: str,
        interface: EndpointInterface,
        options: Mapping[str, Any],
    ) -> EndpointInterface:
        network = self._network(network_id)
        if not interface.address:
            raise ValueError("the bridge driver needs an address from IPAM")
        final = EndpointInterface(
            address=interface.address,
            mac_address=interface.mac_address or mac_for(interface.address),
        )
        # The veth pair is made by join, in one request with its peer inside the namespace.
        with self.lock:
            network.endpoints[endpoint_id] = final
        return final

    def delete_endpoint(self, network_id: str, endpoint_id: str) -> None:
        links.delete_link(host_veth(endpoint_id))
        with self.lock:
            network = self.networks.get(network_id)
            if network is not None:
                network.endpoints.pop(endpoint_id, None)

    def join(
        self, network_id: str, endpoint_id: str, sandbox_key: str, options: Mapping[str, Any]
    ) -> JoinInfo:
        network = self._network(network_id)
        interface = network.endpoints.get(endpoint_id)
        if interface is None:
            raise KeyError(f"endpoint {endpoint_id} does not exist")
        ifname = str(options.get("ifname") or "eth0")
        gateway = str(ipaddress.ip_interface(network.gateway).ip) if network.gateway else ""
        use_gateway = bool(options.get("default_route", True)) and not network.rules.internal
        links.plug(
            host_veth(endpoint_id),
            network.bridge,
            sandbox_key,
            ifname,
            interface.address,
            interface.mac_address,
            network.mtu,
            gateway if use_gateway else "",
        )
        return JoinInfo(src_name=ifname, gateway=gateway if use_gateway else "")

    def leave(self, network_id: str, endpoint_id: str) -> None:
        # Off the bridge and down now; delete_endpoint deletes the pair (both ends go).
        links.unplug(host_veth(endpoint_id))

    # --- published ports -----------------------------------------------------------------

    def program_external_connectivity(
        self, network_id: str, endpoint_id: str, options: Mapping[str, Any]
    ) -> None:
        network = self._network(network_id)
        address = str(options.get("address") or "")
        ports: list[PortMapping] = list(options.get("ports") or [])
        if not ports:
            return
        if not address:
            raise ValueError("published ports need the endpoint's address")
        ip = str(ipaddress.ip_interface(address).ip)
        with self.lock:
            network.published[endpoint_id] = [firewall.Published(ip, m) for m in ports]
        self._apply(network)

    def revoke_external_connectivity(self, network_id: str, endpoint_id: str) -> None:
        with self.lock:
            network = self.networks.get(network_id)
            if network is None or endpoint_id not in network.published:
                return
            del network.published[endpoint_id]
        self._apply(network)

    def _apply(self, network: BridgeNetwork) -> None:
        with self.lock:
            published = [p for items in network.published.values() for p in items]
        self.firewall.apply(network.rules, published)

    # --- sandboxes -----------------------------------------------------------------------

    def create_sandbox(self, sandbox_id: str) -> str:
        path = str(self.sandbox_dir / sandbox_id)
        if netns.is_pinned(path):
            return path
        netns.create(path, links.loopback_up)
        return path

    def delete_sandbox(self, sandbox_key: str) -> None:
        netns.remove(sandbox_key)

    def prune_sandboxes(self, keep: set[str]) -> None:
        """Remove the namespaces of containers not in ``keep`` (a crash mid-start or while
        the daemon was down leaves them pinned)."""
        try:
            names = os.listdir(self.sandbox_dir)
        except OSError:
            return
        for name in names:
            if name not in keep:
                netns.remove(str(self.sandbox_dir / name))

    def status(self) -> Sequence[tuple[str, str]]:
        if self.firewall_name == "iptables":
            return [("Packet filter", "iptables (chains per network)"), ("Port proxy", "none")]
        return [("Packet filter", "nftables (one table per network)"), ("Port proxy", "none")]


def _enable_forwarding() -> None:
    try:
        if IP_FORWARD.read_text().strip() != "1":
            IP_FORWARD.write_text("1")
    except OSError:
        pass
