"""The daemon's embedded DNS server for containers on user-defined networks.

Where it listens: on port 53 (UDP and TCP) of each user-defined network's gateway address,
in the host's network namespace, and a container's resolv.conf names that gateway. Docker
instead listens on 127.0.0.11 inside every container's namespace behind NAT rules; one socket
pair per network is simpler, costs nothing per container start and needs no NAT. Sockets are
bound with IP_FREEBIND, so listening may begin before the bridge has its address.

Who may ask: only a container we know, recognised by its source address; it gets the names of
the networks it is on (see :mod:`berth.engine.networks.dnsnames`), and everything else is
forwarded to its ``--dns`` servers or else to the host's resolvers (from the host's
resolv.conf, read again when it changes; loopback servers work, since forwarding happens in
the host's namespace). Other askers get REFUSED, so the gateway is no open resolver.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, cast

from berth.engine.containers import resolv
from berth.engine.networks import dnswire
from berth.engine.networks.dnsforward import DEFAULT_TIMEOUT, Upstream, forward, parse_upstream
from berth.engine.networks.dnsnames import DnsEndpoint, Lookup, NameTable

DNS_PORT = 53
TTL = 600  # Docker's TTL for container records
TCP_IDLE_TIMEOUT = 10.0
MAX_IN_FLIGHT = 256  # queries being answered at once; more are dropped (clients retry)
IP_FREEBIND = 15  # from <linux/in.h>; not exported by Python's socket module

EndpointSource = Callable[[], Iterable[DnsEndpoint]]


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, server: EmbeddedDns) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if self.transport is not None:
            self.server.spawn(self.server.answer_udp(self.transport, data, addr))


class _Listener:
    """The sockets on one address: bound first (any thread), served once the loop has them
    (queries that arrive in between wait in the kernel's buffers)."""

    def __init__(self, udp_sock: socket.socket, tcp_sock: socket.socket) -> None:
        self.udp_sock = udp_sock
        self.tcp_sock = tcp_sock
        self.port = int(udp_sock.getsockname()[1])
        self.udp: asyncio.DatagramTransport | None = None
        self.tcp: asyncio.Server | None = None
        self.closed = False

    def close(self) -> None:
        self.closed = True
        if self.udp is not None:
            self.udp.close()
        else:
            self.udp_sock.close()
        if self.tcp is not None:
            self.tcp.close()
        else:
            self.tcp_sock.close()


def _bound_socket(address: str, port: int, kind: socket.SocketKind) -> socket.socket:
    family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    sock = socket.socket(family, kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET:
            sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        sock.bind((address, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(64)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _bind_pair(address: str, port: int) -> tuple[socket.socket, socket.socket]:
    """A UDP and a TCP socket on the same port (port 0: any port free for both)."""
    for _ in range(20):
        udp = _bound_socket(address, port, socket.SOCK_DGRAM)
        try:
            return udp, _bound_socket(address, udp.getsockname()[1], socket.SOCK_STREAM)
        except OSError:
            udp.close()
            if port:
                raise
    raise OSError(f"no port free for both UDP and TCP on {address}")


class EmbeddedDns:
    """Answers containers' queries on the addresses it is told to listen on."""

    def __init__(
        self,
        endpoints: EndpointSource,
        log: Any,
        *,
        port: int = DNS_PORT,
        upstreams: Sequence[Upstream] | None = None,
        host_resolv_conf: str = "",
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        """``endpoints`` is called for each query and must be cheap; ``upstreams`` replaces
        the host's resolvers (tests); ``host_resolv_conf`` is the file they come from."""
        self._endpoints = endpoints
        self.log = log
        self.port = port
        self._fixed_upstreams = tuple(upstreams) if upstreams is not None else None
        self._host_resolv_conf = host_resolv_conf
        self._host_cache: tuple[tuple[str, float], tuple[Upstream, ...]] | None = None
        self.timeout = timeout
        self._listeners: dict[str, _Listener] = {}
        self._lock = threading.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight = 0
        self._cached_table: NameTable | None = None

    # --- listeners ----------------------------------------------------------------------------

    @property
    def addresses(self) -> dict[str, int]:
        """Address → port of every listener."""
        with self._lock:
            return {address: listener.port for address, listener in self._listeners.items()}

    def bind(self, address: str) -> int:
        """Bind the sockets for ``address`` now (from any thread; idempotent); the port.
        They are served once :meth:`serve_bound` runs on the loop. Raises OSError."""
        address = str(ipaddress.ip_address(address))
        with self._lock:
            if address in self._listeners:
                return self._listeners[address].port
            listener = _Listener(*_bind_pair(address, self.port))
            self._listeners[address] = listener
        self.log.info("dns.listening", address=address, port=listener.port)
        return listener.port

    async def serve_bound(self) -> None:
        """Start serving every bound listener that is not served yet."""
        loop = asyncio.get_running_loop()
        with self._lock:
            waiting = [item for item in self._listeners.items() if item[1].udp is None]
        for address, listener in waiting:
            try:
                udp, _ = await loop.create_datagram_endpoint(
                    lambda: _Udp(self), sock=listener.udp_sock
                )
                listener.udp = udp
                listener.tcp = await asyncio.start_server(self._serve_tcp, sock=listener.tcp_sock)
            except OSError as exc:
                self.log.warning("dns.listen_failed", address=address, error=str(exc))
                await self.unlisten(address)
                continue
            if listener.closed:  # unlistened while its transports were being made
                listener.close()

    async def listen(self, address: str) -> int:
        """Start answering on ``address`` (idempotent); the port. Raises OSError."""
        port = self.bind(address)
        await self.serve_bound()
        return port

    async def unlisten(self, address: str) -> None:
        """Stop answering on ``address`` (nothing happens when it was not listening)."""
        with contextlib.suppress(ValueError):
            address = str(ipaddress.ip_address(address))
        with self._lock:
            listener = self._listeners.pop(address, None)
        if listener is not None:
            listener.close()
            self.log.info("dns.stopped", address=address)

    async def sync(self, addresses: Iterable[str]) -> None:
        """Listen on exactly ``addresses``; an address that cannot be bound is logged."""
        wanted = {str(ipaddress.ip_address(a)) for a in addresses}
        for address in set(self.addresses) - wanted:
            await self.unlisten(address)
        for address in sorted(wanted - set(self.addresses)):
            try:
                self.bind(address)
            except OSError as exc:
                self.log.warning("dns.listen_failed", address=address, error=str(exc))
        await self.serve_bound()

    async def close(self) -> None:
        for address in list(self.addresses):
            await self.unlisten(address)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)

    def spawn(self, coroutine: Any) -> None:
        """Run one answer as its own task, dropping queries beyond MAX_IN_FLIGHT."""
        if self._in_flight >= MAX_IN_FLIGHT:
            coroutine.close()
            return
        self._in_flight += 1
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._in_flight -= 1
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.log.error("dns.answer_failed", error=repr(task.exception()))

    # --- transports ---------------------------------------------------------------------------

    async def answer_udp(
        self, transport: asyncio.DatagramTransport, data: bytes, addr: tuple[str | int, ...]
    ) -> None:
        response = await self.answer(data, str(addr[0]), tcp=False)
        if response is not None and not transport.is_closing():
            transport.sendto(response, addr)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        client = str(peer[0]) if peer else ""
        try:
            while True:
                head = await asyncio.wait_for(reader.readexactly(2), TCP_IDLE_TIMEOUT)
                data = await asyncio.wait_for(
                    reader.readexactly(struct.unpack("!H", head)[0]), TCP_IDLE_TIMEOUT
                )
                response = await self.answer(data, client, tcp=True)
                if response is None:
                    break
                writer.write(struct.pack("!H", len(response)) + response)
                await writer.drain()
        except (asyncio.IncompleteReadError, TimeoutError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    # --- answers ------------------------------------------------------------------------------

    async def answer(self, data: bytes, client_ip: str, *, tcp: bool) -> bytes | None:
        """The reply to the query ``data`` from ``client_ip`` (None: send nothing); a query
        that does not parse, or whose name cannot be written back, gets FORMERR."""
        try:
            return await self._answer(data, client_ip, tcp)
        except dnswire.DnsFormatError:
            return dnswire.error_reply(data, dnswire.FORMERR)

    async def _answer(self, data: bytes, client_ip: str, tcp: bool) -> bytes | None:
        request = dnswire.parse_message(data)
        if request.is_response:
            return None
        if request.opcode != dnswire.OPCODE_QUERY:
            return dnswire.encode_message(dnswire.reply(request, dnswire.NOTIMP))
        if len(request.questions) != 1:
            return dnswire.encode_message(dnswire.reply(request, dnswire.FORMERR))
        try:
            table = self._table()
        except Exception as exc:  # the endpoint source is another service's state
            self.log.error("dns.endpoints_failed", error=repr(exc))
            return dnswire.encode_message(dnswire.reply(request, dnswire.SERVFAIL))
        asker = table.asker(client_ip)
        if asker is None:
            return dnswire.encode_message(dnswire.reply(request, dnswire.REFUSED))
        limit = 65535 if tcp else dnswire.udp_limit(request)
        local = self._local(table, asker, request)
        if local is not None:
            return dnswire.fit_udp(local, limit)
        forwarded = await forward(data, self._upstreams_for(asker), tcp=tcp, timeout=self.timeout)
        if forwarded is None:
            self.log.debug("dns.forward_failed", name=request.questions[0].name)
            return dnswire.encode_message(
                dnswire.reply(request, dnswire.SERVFAIL, authoritative=False)
            )
        if len(forwarded) <= limit:
            return forwarded
        rcode = forwarded[3] & 0x0F
        truncated = dnswire.reply(request, rcode, authoritative=False)
        return dnswire.encode_message(
            dnswire.Message(truncated.id, truncated.flags | dnswire.FLAG_TC, request.questions)
        )

    def _table(self) -> NameTable:
        """The table of the current endpoints (rebuilt only when they changed)."""
        endpoints = tuple(self._endpoints())
        cached = self._cached_table
        if cached is None or cached.endpoints != endpoints:
            cached = self._cached_table = NameTable(endpoints)
        return cached

    def _local(
        self, table: NameTable, asker: DnsEndpoint, request: dnswire.Message
    ) -> dnswire.Message | None:
        """The reply when the name is one of ours; None to forward it."""
        question = request.questions[0]
        if question.qclass != dnswire.CLASS_IN:
            return None
        if question.qtype == dnswire.TYPE_PTR:
            found = table.reverse(asker, question.name)
            if not found.known:
                return None
            records = tuple(dnswire.ptr_record(question.name, t, TTL) for t in found.targets)
            return dnswire.reply(request, dnswire.NOERROR, records)
        found = table.lookup(asker, question.name, want_v6=question.qtype == dnswire.TYPE_AAAA)
        if not found.known:
            return None
        return dnswire.reply(request, dnswire.NOERROR, self._address_records(question, found))

    @staticmethod
    def _address_records(question: dnswire.Question, found: Lookup) -> tuple[dnswire.Record, ...]:
        if question.qtype not in (dnswire.TYPE_A, dnswire.TYPE_AAAA):
            return ()  # a known name with no records of this type: NOERROR, no answers
        return tuple(dnswire.address_record(question.name, ip, TTL) for ip in found.addresses)

    # --- upstreams ----------------------------------------------------------------------------

    def _upstreams_for(self, asker: DnsEndpoint) -> list[Upstream]:
        chosen: list[Upstream] = []
        for text in asker.dns_servers:
            with contextlib.suppress(ValueError):
                chosen.append(parse_upstream(text))
        if not chosen:
            chosen = list(self.host_upstreams())
        ours = self.addresses
        return [u for u in chosen if ours.get(_ip_text(u.host)) != u.port]

    def host_upstreams(self) -> tuple[Upstream, ...]:
        """The host's resolvers (or the fixed ones given at construction)."""
        if self._fixed_upstreams is not None:
            return self._fixed_upstreams
        path = self._host_resolv_conf or resolv.host_resolv_conf_path()
        try:
            stamp = (path, os.stat(path).st_mtime)
        except OSError:
            stamp = (path, 0.0)
        if self._host_cache is not None and self._host_cache[0] == stamp:
            return self._host_cache[1]
        try:
            text = Path(path).read_text(errors="replace")
        except OSError:
            text = ""
        servers = resolv.parse_resolv_conf(text).nameservers or resolv.DEFAULT_NAMESERVERS
        found = []
        for server in servers:
            with contextlib.suppress(ValueError):
                found.append(parse_upstream(server))
        self._host_cache = (stamp, tuple(found))
        return self._host_cache[1]


def _ip_text(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return host
