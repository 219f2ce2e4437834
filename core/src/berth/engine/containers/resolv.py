"""A container's ``/etc/hostname``, ``/etc/hosts`` and ``/etc/resolv.conf``, as Docker makes them.

The engine writes the three files into the container's directory and the OCI spec bind-mounts
them over the image's (see :mod:`berth.engine.containers.spec`).

- ``hosts``: Docker's localhost and IPv6 lines, then ``--add-host`` entries (``host-gateway``
  stands for the daemon's host-gateway IP), then the container's own address and hostname when
  it has an address. On the host's network, a copy of the host's ``/etc/hosts`` plus the
  ``--add-host`` entries.
- ``resolv.conf``: the host's, with loopback nameservers (127.x, ::1) dropped for containers not
  on the host's network (they would point at the container itself) and Google's public servers
  used if none are left; ``--dns``, ``--dns-search`` and ``--dns-option`` replace the
  respective parts. When the host's only nameserver is systemd-resolved's stub (127.0.0.53),
  the file systemd-resolved writes is used instead, as Docker does. On user-defined networks
  the only nameserver is the daemon's embedded DNS (the network's gateway, see
  :mod:`berth.engine.networks.dnsserver`), with ``ndots:0``; ``--dns`` servers are where it
  forwards.
- :func:`etc_contents` makes all three from a container's configuration and
  ``NetworkSettings`` (one hosts line per network address); a running container's files are
  rewritten in place when it is connected to or disconnected from a network.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.engine.errors import BadParameter
from berth.engine.statefile import write_atomic

HOST_GATEWAY = "host-gateway"
HOST_RESOLV_CONF = "/etc/resolv.conf"
SYSTEMD_RESOLV_CONF = "/run/systemd/resolve/resolv.conf"
HOST_HOSTS = "/etc/hosts"
DEFAULT_NAMESERVERS = ("8.8.8.8", "8.8.4.4")
MAX_NAMESERVERS = 3  # the C library reads no more
PREDEFINED_NETWORKS = ("bridge", "host", "none")

DEFAULT_HOSTS = (
    ("127.0.0.1", "localhost"),
    ("::1", "localhost ip6-localhost ip6-loopback"),
    ("fe00::0", "ip6-localnet"),
    ("ff00::0", "ip6-mcastprefix"),
    ("ff02::1", "ip6-allnodes"),
    ("ff02::2", "ip6-allrouters"),
)

_KEYWORD = re.compile(r"^\s*(nameserver|search|domain|options)\b\s*(.*)$")


@dataclass(frozen=True)
class EtcFiles:
    """Host paths of a container's hostname, hosts and resolv.conf files."""

    hostname: str
    hosts: str
    resolv_conf: str


def parse_extra_host(text: str) -> tuple[str, str]:
    """``name:ip`` (or ``name=ip``) of ``--add-host``; ``ip`` may be ``host-gateway``. IPv6
    addresses work since only the first separator splits. Raises BadParameter (Docker's text)."""
    sep = min((i for i in (text.find(":"), text.find("=")) if i >= 0), default=-1)
    name, ip = (text[:sep], text[sep + 1 :]) if sep >= 0 else (text, "")
    if sep < 0 or not name:
        raise BadParameter(f'bad format for add-host: "{text}"')
    if ip != HOST_GATEWAY:
        candidate = ip[1:-1] if ip.startswith("[") and ip.endswith("]") else ip
        try:
            ip = str(ipaddress.ip_address(candidate))
        except ValueError:
            raise BadParameter(f'invalid IP address in add-host: "{ip}"') from None
    return name, ip


def _extra_lines(extra_hosts: Sequence[str], host_gateway_ip: str) -> list[str]:
    lines = []
    for item in extra_hosts:
        name, ip = parse_extra_host(item)
        if ip == HOST_GATEWAY:
            if not host_gateway_ip:
                raise BadParameter(
                    "unable to derive the IP value for host-gateway: this daemon has no "
                    "host-gateway IP (no bridge network); give an address instead"
                )
            ip = host_gateway_ip
        lines.append(f"{ip}\t{name}")
    return lines


def build_hosts(
    hostname: str,
    domainname: str = "",
    ip: str = "",
    extra_hosts: Sequence[str] = (),
    host_gateway_ip: str = "",
    more_ips: Sequence[str] = (),
) -> str:
    """``/etc/hosts`` of a container with its own network namespace: a line for each of its
    addresses (``ip`` and ``more_ips``, one per network) with its host name."""
    lines = [f"{addr}\t{names}" for addr, names in DEFAULT_HOSTS]
    lines += _extra_lines(extra_hosts, host_gateway_ip)
    fqdn = f"{hostname}.{domainname}" if domainname else hostname
    names = fqdn
    short, dot, _ = fqdn.partition(".")
    if dot:
        names += f" {short}"
    for address in dict.fromkeys(a for a in (ip, *more_ips) if a):
        lines.append(f"{address}\t{names}")
    return "\n".join(lines) + "\n"


def build_host_network_hosts(
    host_hosts: str, extra_hosts: Sequence[str] = (), host_gateway_ip: str = ""
) -> str:
    """``/etc/hosts`` of a container on the host's network: the host's, plus ``--add-host``."""
    text = host_hosts if not host_hosts or host_hosts.endswith("\n") else host_hosts + "\n"
    extra = _extra_lines(extra_hosts, host_gateway_ip)
    return text + "".join(line + "\n" for line in extra)


@dataclass(frozen=True)
class ResolvConf:
    nameservers: tuple[str, ...]
    search: tuple[str, ...]
    options: tuple[str, ...]


def parse_resolv_conf(text: str) -> ResolvConf:
    """Nameservers, search domains and options (the last ``search``/``options`` line wins, and
    ``domain`` counts as a one-name ``search``, as the resolver reads them)."""
    nameservers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0]
        match = _KEYWORD.match(line)
        if match is None:
            continue
        keyword, rest = match.group(1), match.group(2).split()
        if keyword == "nameserver" and rest:
            nameservers.append(rest[0])
        elif keyword in ("search", "domain"):
            search = rest if keyword == "search" else rest[:1]
        elif keyword == "options":
            options = rest
    return ResolvConf(tuple(nameservers), tuple(search), tuple(options))


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def host_resolv_conf_path(
    default: str = HOST_RESOLV_CONF, alternate: str = SYSTEMD_RESOLV_CONF
) -> str:
    """The resolv.conf to start from: systemd-resolved's own file when the host's only
    nameserver is its 127.0.0.53 stub (and that file exists), else ``/etc/resolv.conf``."""
    try:
        text = Path(default).read_text(errors="replace")
    except OSError:
        return default
    if parse_resolv_conf(text).nameservers == ("127.0.0.53",) and Path(alternate).is_file():
        return alternate
    return default


def validate_dns(dns: Sequence[str]) -> None:
    for server in dns:
        try:
            ipaddress.ip_address(server.split("%", 1)[0])
        except ValueError:
            raise BadParameter(f"{server} is not an ip address") from None


def build_resolv_conf(
    host_text: str,
    dns: Sequence[str] = (),
    dns_search: Sequence[str] = (),
    dns_options: Sequence[str] = (),
    host_network: bool = False,
    embedded_dns: Sequence[str] = (),
) -> str:
    """``/etc/resolv.conf`` of a container from the host's text and the ``--dns*`` options.

    On user-defined networks (``embedded_dns``: where the embedded DNS answers, one address
    per network) only those are named, as Docker names 127.0.0.11: ``--dns`` servers are
    where the embedded DNS forwards, and ``ndots:0`` (unless an ``ndots`` is given) sends
    names with no dot to it before the search domains are tried."""
    validate_dns(dns)
    if embedded_dns:
        return _embedded_resolv_conf(host_text, embedded_dns, dns_search, dns_options)
    if host_network and not (dns or dns_search or dns_options):
        return host_text if not host_text or host_text.endswith("\n") else host_text + "\n"
    host = parse_resolv_conf(host_text)
    servers = list(dns) or [s for s in host.nameservers if host_network or not is_loopback(s)]
    if not servers:
        servers = list(DEFAULT_NAMESERVERS)
    search = list(dns_search) or list(host.search)
    options = list(dns_options) or list(host.options)
    lines = []
    if search and " ".join(search).strip() != ".":
        lines.append("search " + " ".join(search))
    lines += [f"nameserver {server}" for server in servers]
    if options and " ".join(options).strip():
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def _embedded_resolv_conf(
    host_text: str, servers: Sequence[str], dns_search: Sequence[str], dns_options: Sequence[str]
) -> str:
    host = parse_resolv_conf(host_text)
    search = list(dns_search) or list(host.search)
    options = list(dns_options) or list(host.options)
    if not any(o.startswith("ndots:") for o in options):
        options.append("ndots:0")
    lines = [f"nameserver {server}" for server in dict.fromkeys(servers)][:MAX_NAMESERVERS]
    if search and " ".join(search).strip() != ".":
        lines.insert(0, "search " + " ".join(search))
    lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n"


def network_addresses(network_settings: Mapping[str, Any] | None) -> list[str]:
    """The container's IPv4 address on each network it is on, in ``NetworkSettings`` order."""
    networks = (network_settings or {}).get("Networks") or {}
    return [str(n["IPAddress"]) for n in networks.values() if n and n.get("IPAddress")]


def embedded_dns_addresses(network_settings: Mapping[str, Any] | None) -> list[str]:
    """Where the container reaches the embedded DNS: the gateway of each user-defined network
    it is on (the daemon's DNS listens there; the predefined networks have none)."""
    networks = (network_settings or {}).get("Networks") or {}
    return [
        str(n["Gateway"])
        for name, n in networks.items()
        if name not in PREDEFINED_NETWORKS and n and n.get("IPAddress") and n.get("Gateway")
    ]


@dataclass(frozen=True)
class EtcContents:
    hostname: str
    hosts: str
    resolv_conf: str


@dataclass(frozen=True)
class DnsDefaults:
    """The daemon's ``dns``, ``dns-search`` and ``dns-opts``: for containers without their own."""

    servers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


NO_DNS_DEFAULTS = DnsDefaults()


def etc_contents(
    short_id: str,
    config: Mapping[str, Any],
    host_config: Mapping[str, Any],
    network_settings: Mapping[str, Any] | None,
    host_gateway_ip: str = "",
    defaults: DnsDefaults = NO_DNS_DEFAULTS,
) -> EtcContents:
    """The hostname, hosts and resolv.conf of a container in its own or the host's network
    namespace, from its configuration, its networks, the daemon's DNS defaults and the host's
    files."""
    mode = str(host_config.get("NetworkMode") or "")
    host_network = mode == "host"
    hostname = str(config.get("Hostname") or short_id)
    extra = [str(h) for h in host_config.get("ExtraHosts") or ()]
    if host_network:
        hosts = build_host_network_hosts(_read(HOST_HOSTS), extra, host_gateway_ip)
    else:
        addresses = network_addresses(network_settings)
        hosts = build_hosts(
            hostname,
            str(config.get("Domainname") or ""),
            extra_hosts=extra,
            host_gateway_ip=host_gateway_ip,
            more_ips=addresses,
        )
    resolv_conf = build_resolv_conf(
        _read(host_resolv_conf_path()),
        [str(d) for d in host_config.get("Dns") or defaults.servers],
        [str(d) for d in host_config.get("DnsSearch") or defaults.search],
        [str(d) for d in host_config.get("DnsOptions") or defaults.options],
        host_network,
        embedded_dns=() if host_network else embedded_dns_addresses(network_settings),
    )
    return EtcContents(hostname, hosts, resolv_conf)


def _read(path: str) -> str:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def rewrite_in_place(path: str, text: str) -> None:
    """Replace a file's content without replacing the file: a running container has it
    bind-mounted, and a renamed-over file would leave the container with the old one."""
    with open(path, "r+b") as handle:
        handle.truncate(0)
        handle.write(text.encode())


def write_network_files(directory: Path, hostname: str, hosts: str, resolv_conf: str) -> EtcFiles:
    """Write ``hostname``, ``hosts`` and ``resolv.conf`` into ``directory`` (atomically, mode
    0644: processes in the container run as any user) and return their paths."""
    files = EtcFiles(
        str(directory / "hostname"), str(directory / "hosts"), str(directory / "resolv.conf")
    )
    write_atomic(files.hostname, (hostname + "\n").encode())
    write_atomic(files.hosts, hosts.encode())
    write_atomic(files.resolv_conf, resolv_conf.encode())
    return files
