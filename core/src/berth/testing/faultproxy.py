"""A fault-injecting HTTP proxy in front of a test registry, for the failures a real network
has: a connection dropped mid-body, 500s before recovery, a stall, corrupted bytes, or a
canned answer (a schema 1 manifest). Each rule matches a request method and a path
substring and fires ``times`` times; ``hits`` records every request (method, path, Range).

    with FaultProxy(registry.url) as proxy:
        proxy.add(Fault("GET", "/blobs/", drop_after=1000))
        ... pull from proxy.host ...
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

from berth.testing.loopback import BackgroundHTTPServer

HOP_HEADERS = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "upgrade", "proxy-connection"}
)


@dataclass
class Fault:
    method: str
    path_contains: str
    times: int = 1
    #: send this many body bytes, then cut the connection
    drop_after: int | None = None
    #: answer with this status (and a JSON error body) instead of forwarding
    status: int | None = None
    #: send the headers and this many body bytes, then hang until the proxy stops
    stall_after: int | None = None
    #: flip one byte of the body (its middle)
    corrupt: bool = False
    #: answer with these (content type, bytes) instead of forwarding
    canned: tuple[str, bytes] | None = None
    fired: int = 0


@dataclass
class Hit:
    method: str
    path: str
    range: str = ""
    status: int = 0


@dataclass
class FaultProxy:
    upstream: str
    faults: list[Fault] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    _server: BackgroundHTTPServer | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.port

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def _match(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if (
                    fault.method == method
                    and fault.path_contains in path
                    and fault.fired < fault.times
                ):
                    fault.fired += 1
                    return fault
        return None

    def start(self) -> FaultProxy:
        self._server = BackgroundHTTPServer(self._serve)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- one request --------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        method, path = handler.command, handler.path
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        hit = Hit(method, path, handler.headers.get("Range", ""))
        with self._lock:
            self.hits.append(hit)
        fault = self._match(method, path)
        if fault is not None and fault.status is not None:
            data = b'{"errors":[{"code":"UNKNOWN","message":"injected failure"}]}'
            hit.status = fault.status
            self._send(handler, fault.status, [("Content-Type", "application/json")], data)
            return
        if fault is not None and fault.canned is not None:
            content_type, data = fault.canned
            hit.status = 200
            self._send(handler, 200, [("Content-Type", content_type)], data)
            return
        status, headers, data = self._forward(handler, method, path, body)
        hit.status = status
        if fault is not None and fault.corrupt and data:
            middle = len(data) // 2
            data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
        if fault is not None and fault.drop_after is not None:
            self._send(handler, status, headers, data, cut=fault.drop_after)
            return
        if fault is not None and fault.stall_after is not None:
            self._send(handler, status, headers, data, cut=fault.stall_after, stall=True)
            return
        self._send(handler, status, headers, data)

    def _forward(
        self, handler: BaseHTTPRequestHandler, method: str, path: str, body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        target = urlsplit(self.upstream)
        conn = http.client.HTTPConnection(target.hostname or "127.0.0.1", target.port, timeout=30)
        headers = {
            k: v
            for k, v in handler.headers.items()
            if k.lower() not in HOP_HEADERS and k.lower() != "host"
        }
        headers["Host"] = target.netloc
        try:
            conn.request(
                method,
                path,
                body=body if body or method in ("PUT", "POST", "PATCH") else None,
                headers=headers,
            )
            response = conn.getresponse()
            data = response.read() if method != "HEAD" else b""
            out = [
                (k, v.replace(target.netloc, self.host) if k.lower() == "location" else v)
                for k, v in response.getheaders()
                if k.lower() not in HOP_HEADERS
            ]
            return response.status, out, data
        finally:
            conn.close()

    def _send(
        self,
        handler: BaseHTTPRequestHandler,
        status: int,
        headers: list[tuple[str, str]],
        data: bytes,
        cut: int | None = None,
        stall: bool = False,
    ) -> None:
        handler.send_response_only(status)
        has_length = False
        for name, value in headers:
            if name.lower() == "content-length":
                has_length = True
            handler.send_header(name, value)
        if not has_length and handler.command != "HEAD":
            handler.send_header("Content-Length", str(len(data)))
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.close_connection = True
        if handler.command == "HEAD":
            return
        if cut is None:
            handler.wfile.write(data)
            return
        handler.wfile.write(data[:cut])
        handler.wfile.flush()
        if stall:
            self._stop.wait(120)
