"""Small servers for tests on the loopback interface: a free port, and an HTTP server on a
thread of its own whose every request goes to one function."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[BaseHTTPRequestHandler], None]
ALL_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class BackgroundHTTPServer:
    """An HTTP/1.1 server on 127.0.0.1 (any free port) passing each request made with one of
    `methods` to `answer` (others get the standard library's 501)."""

    def __init__(self, answer: Answer, methods: tuple[str, ...] = ALL_METHODS) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

        def handle(handler: BaseHTTPRequestHandler) -> None:
            answer(handler)

        for method in methods:
            setattr(Handler, f"do_{method}", handle)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
