"""Address management: subnets for networks (from pools), addresses for endpoints.

Docker's defaults when ``default-address-pools`` is not set: 172.17.0.0/16 for the default
bridge, then /16 networks from 172.17.0.0/12 and /20 networks from 192.168.0.0/16. A pool is
skipped when it overlaps another network of this daemon or a route of the host (another
daemon's bridge, the host's own networks).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from berth.engine.errors import BadParameter, BerthError

IPv4Net = ipaddress.IPv4Network
DEFAULT_POOLS: tuple[Mapping[str, object], ...] = (
    {"base": "172.17.0.0/12", "size": 16},
    {"base": "192.168.0.0/16", "size": 20},
)
PROC_ROUTE = Path("/proc/net/route")


class PoolOverlap(BerthError):
    status = 403


class NoPool(BerthError):
    status = 500


class AddressInUse(BerthError):
    status = 403


def parse_subnet(text: str) -> IPv4Net:
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise BadParameter(
            f"invalid subnet {text!r}: it must be a CIDR such as 10.1.0.0/24"
        ) from None
    if not isinstance(net, IPv4Net):
        raise BadParameter(f"subnet {text}: only IPv4 networks are supported")
    if net.prefixlen > 30:
        raise BadParameter(f"subnet {text} is too small: use a /30 or larger")
    if str(net) != text.strip():
        raise BadParameter(f"invalid subnet {text}: did you mean {net}?")
    return net


def parse_address(text: str, what: str) -> ipaddress.IPv4Address:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        raise BadParameter(f"invalid {what} {text!r}: it must be an IPv4 address") from None
    if not isinstance(address, ipaddress.IPv4Address):
        raise BadParameter(f"invalid {what} {text}: only IPv4 is supported")
    return address


def host_routes(path: Path | None = None) -> list[IPv4Net]:
    """Destinations of the host's routes (the default route left out)."""
    found: list[IPv4Net] = []
    try:
        lines = (path or PROC_ROUTE).read_text().splitlines()[1:]
    except OSError:
        return found
    for line in lines:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            dest = ipaddress.IPv4Address(int(fields[1], 16).to_bytes(4, "little"))
            mask = ipaddress.IPv4Address(int(fields[7], 16).to_bytes(4, "little"))
        except ValueError:
            continue
        if int(mask) == 0:
            continue
        found.append(IPv4Net(f"{dest}/{mask}", strict=False))
    return found


def candidates(pools: Sequence[Mapping[str, object]]) -> Iterator[IPv4Net]:
    for pool in pools or DEFAULT_POOLS:
        base = ipaddress.ip_network(str(pool["base"]), strict=False)
        size = int(str(pool["size"]))
        if isinstance(base, IPv4Net) and size >= base.prefixlen:
            yield from base.subnets(new_prefix=size)


def choose_subnet(
    pools: Sequence[Mapping[str, object]], taken: Iterable[IPv4Net], skip_host: bool = True
) -> IPv4Net:
    avoid = list(taken) + (host_routes() if skip_host else [])
    for net in candidates(pools):
        if not any(net.overlaps(other) for other in avoid):
            return net
    raise NoPool(
        "could not find an available, non-overlapping IPv4 address pool among the defaults "
        "to assign to the network; give one with --subnet or widen default-address-pools"
    )


def check_overlap(net: IPv4Net, taken: Mapping[str, IPv4Net]) -> None:
    for name, other in taken.items():
        if net.overlaps(other):
            raise PoolOverlap(
                f"Pool overlaps with other one on this address space "
                f"({net} overlaps {other} of network {name})"
            )


def first_host(net: IPv4Net) -> ipaddress.IPv4Address:
    return net.network_address + 1


def allocate(
    net: IPv4Net,
    ip_range: IPv4Net | None,
    used: set[ipaddress.IPv4Address],
    wanted: ipaddress.IPv4Address | None = None,
) -> ipaddress.IPv4Address:
    """An address of ``net`` not in ``used``: ``wanted`` if given, else the first free one of
    ``ip_range`` (or of the subnet)."""
    if wanted is not None:
        if wanted not in net or wanted in (net.network_address, net.broadcast_address):
            raise BadParameter(f"address {wanted} is not a usable address of subnet {net}")
        if wanted in used:
            raise AddressInUse(f"Address already in use: {wanted}")
        return wanted
    scope = ip_range or net
    for address in scope.hosts() if scope.prefixlen < 31 else scope:
        if address in (net.network_address, net.broadcast_address) or address in used:
            continue
        return address
    raise NoPool(f"no address left in {scope}: the network is full")
