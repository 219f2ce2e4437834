"""Packet filtering and NAT for one bridge network, as one nftables table of its own.

Each network owns the table ``ip berth_<bridge>``, rewritten whole in one atomic ``nft -f``
transaction whenever its endpoints' published ports change, and deleted with the network.
Tables of different networks (and of different daemons) never touch each other, so parallel
daemons cannot collide; several tables on one hook all have to accept a packet, which is how
isolation works without any table knowing the others:

- forward: traffic into the bridge is accepted only when it is a reply, comes from the same
  bridge (unless ICC is off), or was DNATed to a published port; an ``internal`` network also
  drops everything leaving the bridge;
- postrouting: masquerade what leaves the subnet for elsewhere (not for internal networks),
  and what the host's loopback or a hairpin sends into the bridge;
- prerouting/output: DNAT of published ports on the host's local addresses (``-p``), so they
  answer on 127.0.0.1 too (with ``route_localnet`` set on the bridge).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from berth.plugins import PortMapping

NFT = "nft"


@dataclass(frozen=True)
class NetworkRules:
    bridge: str
    subnet: str
    internal: bool = False
    icc: bool = True
    masquerade: bool = True


@dataclass(frozen=True)
class Published:
    address: str  # the container's IPv4
    mapping: PortMapping


#: Forces a backend (``nftables`` or ``iptables``); by default nft when the host has it.
BACKEND_ENV = "BERTH_BRIDGE_FIREWALL"


def backend() -> str:
    """``nftables``, else ``iptables``, else ``""`` (neither command is installed)."""
    forced = os.environ.get(BACKEND_ENV, "")
    if forced in ("nftables", "iptables"):
        return forced
    if shutil.which(NFT):
        return "nftables"
    if shutil.which("iptables") and shutil.which("iptables-restore"):
        return "iptables"
    return ""


def table_name(bridge: str) -> str:
    return "berth_" + "".join(c if c.isalnum() else "_" for c in bridge)


def _q(name: str) -> str:
    return '"' + name + '"'


def render(rules: NetworkRules, published: Iterable[Published]) -> str:
    """The nft script that (re)creates the network's table."""
    table = table_name(rules.bridge)
    br = _q(rules.bridge)
    forward = [
        f"oifname {br} ct state established,related accept",
        f"oifname {br} iifname {br} {'accept' if rules.icc else 'drop'}",
    ]
    if rules.internal:
        forward += [f"oifname {br} drop", f"iifname {br} drop"]
    else:
        forward += [f"oifname {br} ct status dnat accept", f"oifname {br} drop"]
    post = [
        f"oifname {br} ip saddr 127.0.0.0/8 masquerade",
        f"oifname {br} ip saddr {rules.subnet} ct status dnat masquerade",
    ]
    if rules.masquerade and not rules.internal:
        post.append(f"ip saddr {rules.subnet} oifname != {br} masquerade")
    dnat: list[str] = []
    if not rules.internal:
        for item in published:
            m = item.mapping
            match = f"ip daddr {m.host_ip}" if m.host_ip not in ("", "0.0.0.0") else ""
            match = match or "fib daddr type local"
            dnat.append(
                f"{match} {m.proto} dport {m.host_port} dnat to {item.address}:{m.container_port}"
            )
    lines = [
        f"table ip {table} {{}}",
        f"delete table ip {table}",
        f"table ip {table} {{",
        "  chain forward { type filter hook forward priority filter; policy accept;",
        *(f"    {r}" for r in forward),
        "  }",
        "  chain postrouting { type nat hook postrouting priority srcnat; policy accept;",
        *(f"    {r}" for r in post),
        "  }",
        "  chain ports {",
        *(f"    {r}" for r in dnat),
        "  }",
        "  chain prerouting { type nat hook prerouting priority dstnat; policy accept;",
        "    jump ports",
        "  }",
        "  chain output { type nat hook output priority -100; policy accept;",
        "    jump ports",
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _run(script: str) -> None:
    done = subprocess.run(
        [NFT, "-f", "-"], input=script, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()
        raise RuntimeError(f"nft failed: {detail[0] if detail else done.returncode}")


def apply(rules: NetworkRules, published: Iterable[Published]) -> None:
    _run(render(rules, published))


def delete(bridge: str) -> None:
    table = table_name(bridge)
    _run(f"table ip {table} {{}}\ndelete table ip {table}\n")


def tables() -> Sequence[str]:
    """The ``berth_*`` tables present (for tests and reconciliation)."""
    done = subprocess.run([NFT, "list", "tables", "ip"], capture_output=True, text=True)
    names = [line.split()[-1] for line in done.stdout.splitlines() if line.startswith("table")]
    return [n for n in names if n.startswith("berth_")]
