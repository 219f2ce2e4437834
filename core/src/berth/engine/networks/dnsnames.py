"""Which names the embedded DNS answers itself, for which asking container.

A container on user-defined networks may look up, in the networks it shares with others:
a container's name, its ``--network-alias`` names, a prefix of its ID (12 characters or more,
as Docker), and any of those followed by ``.<network name>``. Reverse lookups (PTR) of an
address in a shared network give ``<name>.<network name>``. Names are case-insensitive. An
alias several containers share resolves to all of their addresses.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

MIN_ID_PREFIX = 12
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class DnsEndpoint:
    """One container's endpoint on one network, as the resolver sees it."""

    network_id: str
    network_name: str
    container_id: str
    container_name: str  # without Docker's leading "/"
    aliases: tuple[str, ...] = ()
    ipv4: str = ""
    ipv6: str = ""
    dns_servers: tuple[str, ...] = ()  # the container's --dns: where other names go


@dataclass(frozen=True)
class Lookup:
    """The outcome of a local lookup: ``known`` is False when the name is not ours (forward
    it); ``addresses`` may be empty for a known name (no address of the asked family)."""

    known: bool
    addresses: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()  # for PTR


UNKNOWN = Lookup(False)


def _norm(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _names_of(endpoint: DnsEndpoint) -> set[str]:
    names = {_norm(endpoint.container_name)} | {_norm(a) for a in endpoint.aliases}
    names.discard("")
    return names


def reverse_name_to_ip(name: str) -> str:
    """``4.3.2.1.in-addr.arpa`` → ``1.2.3.4`` (also ip6.arpa nibbles); "" if not one."""
    name = _norm(name)
    if name.endswith(".in-addr.arpa"):
        parts = name[: -len(".in-addr.arpa")].split(".")
        if len(parts) == 4:
            try:
                return str(ipaddress.IPv4Address(".".join(reversed(parts))))
            except ValueError:
                return ""
    if name.endswith(".ip6.arpa"):
        nibbles = name[: -len(".ip6.arpa")].split(".")
        if len(nibbles) == 32 and all(len(n) == 1 for n in nibbles):
            try:
                return str(ipaddress.IPv6Address(int("".join(reversed(nibbles)), 16)))
            except ValueError:
                return ""
    return ""


class NameTable:
    """A snapshot of the endpoints the embedded DNS knows, indexed for lookups."""

    def __init__(self, endpoints: Iterable[DnsEndpoint]) -> None:
        self.endpoints = tuple(endpoints)
        self._by_ip: dict[str, list[DnsEndpoint]] = {}
        self._by_name: dict[str, list[DnsEndpoint]] = {}
        self._networks: dict[str, dict[str, str]] = {}
        for endpoint in self.endpoints:
            for ip in (endpoint.ipv4, endpoint.ipv6):
                if ip:
                    self._by_ip.setdefault(_ip_key(ip), []).append(endpoint)
            for name in _names_of(endpoint):
                self._by_name.setdefault(name, []).append(endpoint)
            networks = self._networks.setdefault(endpoint.container_id, {})
            networks[endpoint.network_id] = endpoint.network_name

    def asker(self, ip: str) -> DnsEndpoint | None:
        """The endpoint a query from ``ip`` comes from (None: not a container we serve)."""
        found = self._by_ip.get(_ip_key(ip))
        return found[0] if found else None

    def networks_of(self, container_id: str) -> dict[str, str]:
        """Network ID → name of every network the container is on."""
        return self._networks.get(container_id, {})

    def _named(self, name: str) -> list[DnsEndpoint]:
        """Endpoints whose name or alias is ``name``, or whose ID starts with it."""
        found = list(self._by_name.get(name, ()))
        if len(name) >= MIN_ID_PREFIX and _HEX.issuperset(name):
            found += [e for e in self.endpoints if e.container_id.startswith(name)]
        return found

    def lookup(self, asker: DnsEndpoint, name: str, want_v6: bool = False) -> Lookup:
        """Addresses (IPv4, or IPv6 with ``want_v6``) of ``name`` in the asker's networks."""
        name = _norm(name)
        networks = self.networks_of(asker.container_id)
        candidates = [(name, set(networks))]
        for network_id, network_name in networks.items():
            suffix = "." + _norm(network_name)
            if name.endswith(suffix) and len(name) > len(suffix):
                candidates.append((name[: -len(suffix)], {network_id}))
        hits: list[DnsEndpoint] = []
        for short, scope in candidates:
            hits += [e for e in self._named(short) if e.network_id in scope]
        if not hits:
            return UNKNOWN
        addresses: list[str] = []
        for endpoint in hits:
            ip = endpoint.ipv6 if want_v6 else endpoint.ipv4
            if ip and ip not in addresses:
                addresses.append(ip)
        return Lookup(True, tuple(addresses))

    def reverse(self, asker: DnsEndpoint, name: str) -> Lookup:
        """PTR of an address of a container in the asker's networks."""
        ip = reverse_name_to_ip(name)
        if not ip:
            return UNKNOWN
        networks = self.networks_of(asker.container_id)
        targets = [
            f"{_norm(e.container_name)}.{_norm(e.network_name)}"
            for e in self._by_ip.get(_ip_key(ip), ())
            if e.network_id in networks and _norm(e.container_name)
        ]
        return Lookup(True, targets=tuple(targets)) if targets else UNKNOWN


def _ip_key(ip: str) -> str:
    """One spelling per address. IPv4 text from the kernel and the network records is already
    canonical (and parsing it is most of a table's cost), so only IPv6 is normalised."""
    ip = ip.split("%", 1)[0]
    if ":" not in ip:
        return ip
    try:
        return socket.inet_ntop(socket.AF_INET6, socket.inet_pton(socket.AF_INET6, ip))
    except OSError:
        return ip
