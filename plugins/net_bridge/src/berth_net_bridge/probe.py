"""Can the bridge driver work here? IPv4 networking, rtnetlink, pyroute2, CAP_NET_ADMIN, nft.

Fast and side-effect free: pyroute2 is looked up, never imported (importing it costs ~270 ms);
the netlink socket is opened and closed at once.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
from pathlib import Path

from berth.plugins import PluginContext, ProbeResult

#: The kernel's IPv4 settings; absent when the kernel has no IPv4 networking.
PROC_NET_IPV4 = Path("/proc/sys/net/ipv4")
#: Where the effective capabilities of this process are listed (``CapEff:`` line).
PROC_SELF_STATUS = Path("/proc/self/status")
#: The netlink protocol the driver speaks (``NETLINK_ROUTE``), through pyroute2.
NETLINK_PROTOCOL = 0
#: Python package the driver is written with.
NETLINK_LIBRARY = "pyroute2"
CAP_NET_ADMIN = 12

#: The packet filter's command (nftables): NAT, isolation and published ports.
NFT_COMMAND = "nft"
#: The fallback when there is no nft: iptables (and iptables-restore).
IPTABLES_COMMAND = "iptables"
#: Forces the packet filter (``nftables`` or ``iptables``), as the driver reads it.
FIREWALL_ENV = "BERTH_BRIDGE_FIREWALL"


def probe(ctx: PluginContext) -> ProbeResult:
    """Each host prerequisite in turn."""
    for check in (_ipv4, _library, _netlink, _net_admin, _nftables):
        problem = check()
        if problem:
            return ProbeResult.unsupported(problem)
    if _packet_filter() == "iptables":
        return ProbeResult.ok("packet filter: iptables, chains per network; ports: kernel DNAT")
    return ProbeResult.ok("packet filter: nftables, one table per network; ports: kernel DNAT")


def _nftables() -> str:
    if _packet_filter():
        return ""
    return (
        f"neither {NFT_COMMAND} (nftables) nor iptables/iptables-restore is installed; "
        "install the nftables package for NAT, isolation and published ports"
    )


def _packet_filter() -> str:
    """What the driver will use (its firewall.backend(), without importing the driver)."""
    forced = os.environ.get(FIREWALL_ENV, "")
    if forced in ("nftables", "iptables"):
        return forced
    if shutil.which(NFT_COMMAND):
        return "nftables"
    if shutil.which(IPTABLES_COMMAND) and shutil.which(IPTABLES_COMMAND + "-restore"):
        return "iptables"
    return ""


def _ipv4() -> str:
    if PROC_NET_IPV4.is_dir():
        return ""
    return f"the kernel has no IPv4 networking ({PROC_NET_IPV4} is missing); use --network none"


def _library() -> str:
    try:
        found = importlib.util.find_spec(NETLINK_LIBRARY) is not None
    except (ImportError, ValueError):
        found = False
    if found:
        return ""
    return f"{NETLINK_LIBRARY} is not installed; reinstall berth-net-bridge with its dependencies"


def _netlink() -> str:
    try:
        socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_PROTOCOL).close()
    except OSError as exc:
        return f"cannot open a route netlink socket ({exc.strerror}); the kernel must allow it"
    return ""


def _net_admin() -> str:
    effective = _effective_capabilities()
    if effective is None or effective >> CAP_NET_ADMIN & 1:
        return ""  # unknown: let the driver find out; known and present: fine
    return "berthd lacks CAP_NET_ADMIN, needed to create bridges and veth pairs; run it as root"


def _effective_capabilities() -> int | None:
    try:
        for line in PROC_SELF_STATUS.read_text(encoding="utf-8").splitlines():
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return None
