"""A tiny fake of berthd's Docker API for the client's unit tests (not the real daemon).

Serves HTTP/1.1 on a UNIX socket (or TCP) from a thread; each route answers with JSON, text,
a chunked stream of JSON lines, or a hijack (`101 UPGRADED`, then the raw connection is handed
to the route's function: attach, exec start). Requests are recorded for assertions. Run as a script
(`python fake_daemon.py SOCKET`) it serves the sample routes until killed: the autostart tests
use it as a stand-in `berthd`.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socketserver
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

VERSION_PREFIX = re.compile(r"^/v\d+\.\d+(?=/)")


@dataclass
class Recorded:
    method: str
    target: str  # as sent, with the version prefix and query
    path: str  # without them
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # JSON-encoded unless bytes/str
    content_type: str = "application/json"


@dataclass
class Stream:
    """A chunked answer: each item is a JSON value, or raw bytes sent as one chunk as is."""

    items: Iterable[Any] = ()
    before_each: Callable[[int], None] | None = None  # called with the index before sending it
    keep_open: threading.Event | None = None  # when given: after the items, wait until it is set


class RawConnection:
    """The hijacked connection, as a route's handler sees it."""

    def __init__(self, sock: Any, rfile: Any) -> None:
        self.sock = sock
        self._rfile = rfile

    def recv(self, size: int = 65536) -> bytes:
        """Some of what the client sent (its stdin); b"" once it half-closed."""
        try:
            return bytes(self._rfile.read1(size))
        except (ConnectionResetError, OSError):
            return b""

    def read_all(self) -> bytes:
        """Everything the client sends until it half-closes."""
        parts = []
        while data := self.recv():
            parts.append(data)
        return b"".join(parts)

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)


@dataclass
class Hijack:
    """Answer `101 UPGRADED` with `content_type`, then run `handler(connection)` on the raw
    connection (a `RawConnection`: read the client's stdin, send output; closed on return)."""

    handler: Callable[[Any], None]
    content_type: str = "application/vnd.docker.multiplexed-stream"


def frame(stream: int, data: bytes) -> bytes:
    """One frame of Docker's multiplexed stream (1 stdout, 2 stderr, 3 system error)."""
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


Route = Reply | Stream | Hijack | Callable[[Recorded], "Reply | Stream | Hijack"]


SAMPLE_VERSION: dict[str, Any] = {
    "Platform": {"Name": "Berth Engine"},
    "Components": [
        {
            "Name": "Engine",
            "Version": "0.1.0",
            "Details": {
                "ApiVersion": "1.44",
                "MinAPIVersion": "1.24",
                "PythonVersion": "3.11.2",
                "KernelVersion": "6.1.0-test",
                "Os": "linux",
                "Arch": "amd64",
            },
        },
        {"Name": "crun", "Version": "1.8.1", "Details": {"Path": "/usr/bin/crun"}},
    ],
    "Version": "0.1.0",
    "ApiVersion": "1.44",
    "MinAPIVersion": "1.24",
    "Os": "linux",
    "Arch": "amd64",
    "KernelVersion": "6.1.0-test",
}

SAMPLE_PLUGINS: list[dict[str, Any]] = [
    {
        "Kind": "storage",
        "Name": "overlay",
        "Distribution": "berth-storage-overlay",
        "Version": "0.1.0",
        "Module": "berth_storage_overlay.plugin",
        "Status": "active",
        "Reason": "",
        "Selected": True,
    },
    {
        "Kind": "storage",
        "Name": "btrfs",
        "Distribution": "berth-storage-btrfs",
        "Version": "0.1.0",
        "Module": "berth_storage_btrfs.plugin",
        "Status": "unsupported",
        "Reason": "/var/lib/berth is not on a btrfs file system",
        "Selected": False,
    },
    {
        "Kind": "network",
        "Name": "bridge",
        "Distribution": "berth-net-bridge",
        "Version": "0.1.0",
        "Module": "berth_net_bridge.plugin",
        "Status": "ready",
        "Reason": "",
        "Selected": False,
    },
]

SAMPLE_INFO: dict[str, Any] = {
    "ID": "6f1c0e4a-1d2b-4c3d-8e9f-0a1b2c3d4e5f",
    "Containers": 3,
    "ContainersRunning": 1,
    "ContainersPaused": 0,
    "ContainersStopped": 2,
    "Images": 5,
    "Driver": "overlay",
    "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
    "Plugins": {
        "Volume": ["local"],
        "Network": ["bridge", "host", "null"],
        "Authorization": None,
        "Log": ["json-file", "local"],
    },
    "MemTotal": 4107370496,
    "NCPU": 2,
    "KernelVersion": "6.1.0-test",
    "OperatingSystem": "Debian GNU/Linux 12 (bookworm)",
    "OSType": "linux",
    "Architecture": "x86_64",
    "Name": "testhost",
    "ServerVersion": "0.1.0",
    "LoggingDriver": "json-file",
    "CgroupDriver": "cgroupfs",
    "CgroupVersion": "2",
    "DockerRootDir": "/var/lib/berth",
    "Debug": False,
    "LiveRestoreEnabled": True,
    "Runtimes": {"runc": {"path": "runc"}, "crun": {"path": "crun"}},
    "DefaultRuntime": "crun",
    "SecurityOptions": ["name=seccomp,profile=builtin", "name=cgroupns"],
    "RegistryConfig": {
        "InsecureRegistryCIDRs": ["127.0.0.0/8"],
        "IndexConfigs": {"docker.io": {"Name": "docker.io", "Secure": True}},
        "Mirrors": [],
    },
    "Warnings": ["WARNING: bridge-nf-call-iptables is disabled"],
    "BerthPlugins": SAMPLE_PLUGINS,
}

SAMPLE_EVENTS: list[dict[str, Any]] = [
    {
        "Type": "container",
        "Action": "start",
        "Actor": {"ID": "4a5b6c", "Attributes": {"name": "x", "image": "busybox"}},
        "scope": "local",
        "time": 1795860900,
        "timeNano": 1795860900123456789,
    },
    {
        "Type": "network",
        "Action": "connect",
        "Actor": {"ID": "n1", "Attributes": {}},
        "scope": "local",
        "time": 1795860901,
        "timeNano": 1795860901000000000,
    },
]


def sample_routes() -> dict[tuple[str, str], Route]:
    return {
        ("GET", "/_ping"): Reply(body="OK", content_type="text/plain; charset=utf-8"),
        ("HEAD", "/_ping"): Reply(body="", content_type="text/plain; charset=utf-8"),
        ("GET", "/version"): Reply(body=SAMPLE_VERSION),
        ("GET", "/info"): Reply(body=SAMPLE_INFO),
        ("GET", "/berth/plugins"): Reply(body=SAMPLE_PLUGINS),
        ("GET", "/events"): Stream(items=SAMPLE_EVENTS),
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _serve(self) -> None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = self._read_chunked()
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        path = VERSION_PREFIX.sub("", parts.path)
        request = Recorded(
            self.command,
            self.path,
            path,
            parse_qs(parts.query),
            {k.lower(): v for k, v in self.headers.items()},
            body,
        )
        fake: FakeDaemon = self.server.fake
        fake.requests.append(request)
        route = fake.routes.get((self.command, path))
        if route is None:
            answer: Reply | Stream | Hijack = Reply(404, {"message": f"page not found: {path}"})
        elif callable(route):
            answer = route(request)
        else:
            answer = route
        if isinstance(answer, Stream):
            self._stream(answer)
        elif isinstance(answer, Hijack):
            self._hijack(answer)
        else:
            self._reply(answer)

    do_GET = do_POST = do_HEAD = do_DELETE = do_PUT = _serve

    def _reply(self, reply: Reply) -> None:
        if isinstance(reply.body, bytes):
            data = reply.body
        elif isinstance(reply.body, str):
            data = reply.body.encode()
        else:
            data = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Api-Version", "1.44")
        self.send_header("Ostype", "linux")
        self.end_headers()
        if self.command != "HEAD" and data:  # (a client may close right after a bodiless head)
            self.wfile.write(data)

    def _hijack(self, hijack: Hijack) -> None:
        self.wfile.write(
            b"HTTP/1.1 101 UPGRADED\r\nContent-Type: %s\r\nConnection: Upgrade\r\n"
            b"Upgrade: tcp\r\nApi-Version: 1.44\r\n\r\n" % hijack.content_type.encode()
        )
        self.wfile.flush()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            hijack.handler(RawConnection(self.connection, self.rfile))
        self.close_connection = True

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _stream(self, stream: Stream) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        try:
            for index, item in enumerate(stream.items):
                if stream.before_each is not None:
                    stream.before_each(index)
                data = item if isinstance(item, bytes) else json.dumps(item).encode() + b"\n"
                self._chunk(data)
            if stream.keep_open is not None:
                stream.keep_open.wait(30)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away, as a Ctrl-C does
        self.close_connection = True


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self) -> tuple[Any, Any]:
        request, _ = super().get_request()
        return request, ("local", 0)  # BaseHTTPRequestHandler wants a (host, port)


class _TCPServer(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True


@dataclass
class FakeDaemon:
    """Serve on `socket_path` (or TCP on 127.0.0.1 when None) until `stop()`."""

    socket_path: str | None
    routes: dict[tuple[str, str], Route] = field(default_factory=sample_routes)
    requests: list[Recorded] = field(default_factory=list)

    def start(self) -> FakeDaemon:
        if self.socket_path is not None:
            self._server: socketserver.BaseServer = _UnixServer(self.socket_path, _Handler)
        else:
            self._server = _TCPServer(("127.0.0.1", 0), _Handler)
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        if self.socket_path is not None:
            return f"unix://{self.socket_path}"
        host, port = self._server.server_address[:2]  # type: ignore[attr-defined]
        return f"tcp://{host}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        if self.socket_path is not None and os.path.exists(self.socket_path):
            os.unlink(self.socket_path)

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


def _serve_until_signalled(socket_path: str) -> None:
    fake = FakeDaemon(socket_path).start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"fake berthd listening on {socket_path}", flush=True)
    stop.wait()
    fake.stop()


if __name__ == "__main__":
    _serve_until_signalled(sys.argv[1])
