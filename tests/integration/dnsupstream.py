"""A fake upstream DNS server for tests: UDP and TCP on one loopback address and port, in
background threads, answering from a fixed table.

Names: those in ``records`` answer with their address; ``servfail.test`` answers SERVFAIL;
``silent.test`` gets no answer; ``truncated.test`` is truncated over UDP and answered over TCP
(address 10.53.0.99); anything else is NXDOMAIN. ``seen`` lists (name, "udp"|"tcp") asked.
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Mapping
from types import TracebackType

from berth.engine.networks import dnswire

TRUNCATED_ADDRESS = "10.53.0.99"


class FakeUpstream:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, records: Mapping[str, str] = {}):
        self.records = dict(records)
        self.seen: list[tuple[str, str]] = []
        self._stop = threading.Event()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.udp.bind((host, port))
            self.host, self.port = self.udp.getsockname()
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.tcp.bind((host, self.port))
            self.tcp.listen(8)
        except OSError:
            self.udp.close()
            self.tcp.close()
            raise
        self.udp.settimeout(0.1)
        self.tcp.settimeout(0.1)
        self._threads = [
            threading.Thread(target=self._serve_udp, daemon=True),
            threading.Thread(target=self._serve_tcp, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _answer(self, data: bytes, proto: str) -> bytes | None:
        request = dnswire.parse_message(data)
        question = request.questions[0]
        self.seen.append((question.name, proto))
        if question.name == "silent.test":
            return None
        if question.name == "servfail.test":
            return dnswire.encode_message(dnswire.reply(request, dnswire.SERVFAIL, (), False))
        if question.name == "truncated.test":
            if proto == "udp":
                message = dnswire.reply(request, dnswire.NOERROR, (), False)
                return dnswire.encode_message(
                    dnswire.Message(message.id, message.flags | dnswire.FLAG_TC, message.questions)
                )
            record = dnswire.address_record(question.name, TRUNCATED_ADDRESS, 30)
            return dnswire.encode_message(dnswire.reply(request, dnswire.NOERROR, (record,), False))
        address = self.records.get(question.name)
        if address and question.qtype == dnswire.TYPE_A:
            record = dnswire.address_record(question.name, address, 30)
            return dnswire.encode_message(dnswire.reply(request, dnswire.NOERROR, (record,), False))
        rcode = dnswire.NOERROR if address else dnswire.NXDOMAIN
        return dnswire.encode_message(dnswire.reply(request, rcode, (), False))

    def _serve_udp(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.udp.recvfrom(4096)
            except (TimeoutError, OSError):
                continue
            try:
                answer = self._answer(data, "udp")
            except (dnswire.DnsFormatError, IndexError):
                continue
            if answer is not None:
                self.udp.sendto(answer, peer)

    def _serve_tcp(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.tcp.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                conn.settimeout(2)
                try:
                    size = struct.unpack("!H", _read(conn, 2))[0]
                    answer = self._answer(_read(conn, size), "tcp")
                    if answer is not None:
                        conn.sendall(struct.pack("!H", len(answer)) + answer)
                except (OSError, struct.error, dnswire.DnsFormatError, IndexError):
                    continue

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.udp.close()
        self.tcp.close()

    def __enter__(self) -> FakeUpstream:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _read(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data
