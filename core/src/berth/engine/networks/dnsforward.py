"""Forwarding the names the embedded DNS does not know to upstream resolvers.

Upstreams are tried in order, each for at most ``timeout`` seconds: no answer, a broken answer
or SERVFAIL/REFUSED moves on to the next one; a truncated UDP answer is asked again over TCP.
Each query goes out on a fresh socket (a random source port) and only an answer with the
query's ID from the address it was sent to is accepted. When no upstream answers, the caller
gets None and replies SERVFAIL itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from berth.engine.networks import dnswire

DEFAULT_TIMEOUT = 2.0
MAX_UPSTREAMS = 3
DNS_PORT = 53


@dataclass(frozen=True)
class Upstream:
    host: str
    port: int = DNS_PORT

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_upstream(text: str) -> Upstream:
    """``1.2.3.4``, ``1.2.3.4:5353``, ``::1`` or ``[::1]:5353``; raises ValueError."""
    text = text.strip()
    host, port = text, DNS_PORT
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else DNS_PORT
    elif text.count(":") == 1:
        host, _, number = text.partition(":")
        port = int(number)
    ipaddress.ip_address(host.split("%", 1)[0])
    if not 0 < port < 65536:
        raise ValueError(f"bad port in {text!r}")
    return Upstream(host, port)


class _Exchange(asyncio.DatagramProtocol):
    def __init__(self, ident: int, peer: Upstream) -> None:
        self.ident = ident
        self.peer = peer
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if self.answer.done() or dnswire.peek_id(data) != self.ident:
            return
        if addr[1] != self.peer.port or not _same_ip(str(addr[0]), self.peer.host):
            return
        self.answer.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(exc)


def _same_ip(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a.split("%", 1)[0]) == ipaddress.ip_address(b.split("%", 1)[0])
    except ValueError:
        return a == b


async def ask_udp(data: bytes, upstream: Upstream, timeout: float) -> bytes:
    """One UDP exchange; raises OSError or TimeoutError."""
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: _Exchange(dnswire.peek_id(data), upstream),
        remote_addr=(upstream.host, upstream.port),
    )
    try:
        transport.sendto(data)
        return await asyncio.wait_for(protocol.answer, timeout)
    finally:
        transport.close()


async def ask_tcp(data: bytes, upstream: Upstream, timeout: float) -> bytes:
    """One TCP exchange (two-byte length prefix); raises OSError or TimeoutError."""

    async def exchange() -> bytes:
        reader, writer = await asyncio.open_connection(upstream.host, upstream.port)
        try:
            writer.write(struct.pack("!H", len(data)) + data)
            await writer.drain()
            size = struct.unpack("!H", await reader.readexactly(2))[0]
            return await reader.readexactly(size)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    try:
        return await asyncio.wait_for(exchange(), timeout)
    except asyncio.IncompleteReadError as exc:
        raise OSError(f"{upstream} closed the connection mid-answer") from exc


def _usable(answer: bytes, ident: int) -> tuple[bool, bool]:
    """(whether the answer can be given to the client, whether it was truncated)."""
    if len(answer) < dnswire.HEADER.size or dnswire.peek_id(answer) != ident:
        return False, False
    flags = int.from_bytes(answer[2:4], "big")
    if not flags & dnswire.FLAG_QR or (flags & 0x0F) in (dnswire.SERVFAIL, dnswire.REFUSED):
        return False, False
    return True, bool(flags & dnswire.FLAG_TC)


async def forward(
    data: bytes,
    upstreams: Sequence[Upstream],
    *,
    tcp: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
) -> bytes | None:
    """The first usable answer to the query ``data`` from ``upstreams``; None if none.

    Over UDP (``tcp`` False) a truncated answer is asked again over TCP and the TCP answer
    returned whole (the caller fits it to the client). The last SERVFAIL/REFUSED answer is
    returned when no upstream did better, so the client learns what the upstream said.
    """
    ident = dnswire.peek_id(data)
    fallback: bytes | None = None
    for upstream in upstreams[:MAX_UPSTREAMS]:
        try:
            if tcp:
                answer = await ask_tcp(data, upstream, timeout)
            else:
                answer = await ask_udp(data, upstream, timeout)
            usable, truncated = _usable(answer, ident)
            if usable and truncated and not tcp:
                with contextlib.suppress(OSError, TimeoutError):
                    full = await ask_tcp(data, upstream, timeout)
                    if _usable(full, ident)[0]:
                        answer = full
        except (OSError, TimeoutError):
            continue
        if usable:
            return answer
        if dnswire.peek_id(answer) == ident and len(answer) >= dnswire.HEADER.size:
            fallback = answer
    return fallback
