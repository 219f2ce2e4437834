"""Published ports: Docker's ``PortBindings`` (and ``-P`` over ``ExposedPorts``) into
:class:`PortMapping` records, with the host ports reserved by binding a socket to them.

A reserved port is held by an unlistened socket owned by the daemon, so another program (or
another container) cannot take it; the packets themselves never reach that socket: they are
DNATed to the container by the network driver before local delivery.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Mapping
from typing import Any

from berth.engine.errors import BadParameter, BerthError
from berth.plugins import PortMapping

PROTOCOLS = ("tcp", "udp", "sctp")
#: The range Docker takes ``-P`` and host port 0 from (the kernel's is used when binding 0).
EPHEMERAL = (32768, 60999)


class PortInUse(BerthError):
    status = 500


def parse_port_key(key: str) -> tuple[int, str]:
    port_text, _, proto = key.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in PROTOCOLS:
        raise BadParameter(f"invalid protocol {proto!r} in port {key!r}: use tcp, udp or sctp")
    try:
        port = int(port_text)
    except ValueError:
        raise BadParameter(f"invalid port {key!r}: it must be a number") from None
    if not 0 < port < 65536:
        raise BadParameter(f"invalid port {key!r}: it must be between 1 and 65535")
    return port, proto


def _host_port(text: str, key: str) -> int:
    if not text:
        return 0
    try:
        port = int(text)
    except ValueError:
        raise BadParameter(f"invalid host port {text!r} for {key}") from None
    if not 0 <= port < 65536:
        raise BadParameter(f"invalid host port {text!r} for {key}: 0 to 65535")
    return port


def wanted_mappings(
    bindings: Mapping[str, Any] | None,
    exposed: Mapping[str, Any] | None,
    publish_all: bool,
) -> list[PortMapping]:
    """What a container asks for (host port 0: any free port)."""
    out: list[PortMapping] = []
    seen: set[str] = set()
    for key, items in (bindings or {}).items():
        port, proto = parse_port_key(str(key))
        seen.add(f"{port}/{proto}")
        for item in items or [{}]:
            item = item or {}
            host_ip = str(item.get("HostIp") or "")
            if host_ip and ":" in host_ip:
                continue  # IPv6 bindings: not supported, skipped as Docker does without IPv6
            out.append(
                PortMapping(proto, port, _host_port(str(item.get("HostPort") or ""), key), host_ip)
            )
    if publish_all:
        for key in exposed or {}:
            port, proto = parse_port_key(str(key))
            if f"{port}/{proto}" not in seen:
                out.append(PortMapping(proto, port, 0, ""))
    return out


def check_bindings(bindings: Any) -> None:
    """Create-time validation of ``HostConfig.PortBindings``."""
    if bindings is None:
        return
    if not isinstance(bindings, Mapping):
        raise BadParameter("PortBindings must be an object")
    wanted_mappings(bindings, None, False)


class Reservation:
    """Sockets holding a container's host ports."""

    def __init__(self) -> None:
        self.sockets: list[socket.socket] = []

    def close(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()
        self.sockets.clear()


def reserve(mappings: list[PortMapping]) -> tuple[list[PortMapping], Reservation]:
    """Bind each host port (0: the kernel picks a free one); the final mappings."""
    held = Reservation()
    final: list[PortMapping] = []
    try:
        for m in mappings:
            kind = socket.SOCK_DGRAM if m.proto == "udp" else socket.SOCK_STREAM
            sock = socket.socket(socket.AF_INET, kind)
            held.sockets.append(sock)
            if kind == socket.SOCK_STREAM:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            address = m.host_ip or "0.0.0.0"
            try:
                sock.bind((address, m.host_port))
                if kind == socket.SOCK_STREAM:
                    # A listening socket makes the port busy for every other binder.
                    sock.listen(1)
            except OSError as exc:
                raise PortInUse(
                    f"driver failed programming external connectivity: Bind for "
                    f"{address}:{m.host_port} failed: port is already allocated ({exc.strerror})"
                ) from None
            final.append(PortMapping(m.proto, m.container_port, sock.getsockname()[1], m.host_ip))
    except BaseException:
        held.close()
        raise
    return final, held


def settings_ports(
    mappings: list[PortMapping], exposed: Mapping[str, Any] | None
) -> dict[str, Any]:
    """``NetworkSettings.Ports``: every exposed or published port, with its bindings."""
    ports: dict[str, Any] = {}
    for key in exposed or {}:
        port, proto = parse_port_key(str(key))
        ports[f"{port}/{proto}"] = None
    for m in mappings:
        entry = ports.get(f"{m.container_port}/{m.proto}") or []
        entry.append({"HostIp": m.host_ip or "0.0.0.0", "HostPort": str(m.host_port)})
        ports[f"{m.container_port}/{m.proto}"] = entry
    return ports
