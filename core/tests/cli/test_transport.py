"""The HTTP/1.1 framing of berth.client.transport, against canned raw answers."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from berth.client.errors import ProtocolError
from berth.client.hosts import parse_host
from berth.client.transport import Connection, Response


class CannedServer:
    """Accepts connections on a UNIX socket; answers each with `answer` after the request."""

    def __init__(self, path: Path, answer: bytes) -> None:
        self.answer = answer
        self.requests: list[bytes] = []
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    piece = conn.recv(4096)
                    if not piece:
                        break
                    data += piece
                self.requests.append(data)
                conn.sendall(self.answer)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def serve(short_tmp: Path) -> Iterator[object]:
    servers: list[CannedServer] = []

    def start(answer: bytes) -> Connection:
        path = short_tmp / f"s{len(servers)}.sock"
        servers.append(CannedServer(path, answer))
        conn = Connection(parse_host(f"unix://{path}"), timeout=5)
        conn.connect()
        return conn

    start.servers = servers  # type: ignore[attr-defined]
    yield start
    for server in servers:
        server.close()


def ask(conn: Connection, method: str = "GET") -> Response:
    return conn.request(method, "/v1.44/x", {"User-Agent": "t"}, None)


def test_request_bytes(serve) -> None:  # type: ignore[no-untyped-def]
    conn = serve(b"HTTP/1.1 204 No Content\r\n\r\n")
    response = conn.request("POST", "/v1.44/y?a=1", {"Content-Type": "application/json"}, b"{}")
    assert response.status == 204 and response.read() == b""
    conn.close()
    sent = serve.servers[0].requests[0]
    assert sent.startswith(b"POST /v1.44/y?a=1 HTTP/1.1\r\nHost: localhost\r\n")
    assert b"\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n" in sent


def test_content_length_and_headers(serve) -> None:  # type: ignore[no-untyped-def]
    conn = serve(
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\nx-a: 2\r\n"
        b"X-Long: first\r\n  folded\r\nApi-Version: 1.44\r\n\r\nhelloEXTRA"
    )
    response = ask(conn)
    assert (response.status, response.reason) == (200, "OK")
    assert response.headers["x-a"] == "1, 2"
    assert response.headers["x-long"] == "first folded"
    assert response.read() == b"hello"
    assert response.read1() == b""
    conn.close()


def test_chunked_with_extensions_and_trailers(serve) -> None:  # type: ignore[no-untyped-def]
    conn = serve(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n"
    )
    response = ask(conn)
    assert response.read() == b"hello 0123456789"
    conn.close()


def test_body_until_close(serve) -> None:  # type: ignore[no-untyped-def]
    conn = serve(b"HTTP/1.0 200 OK\r\n\r\nall of it")
    assert ask(conn).read() == b"all of it"
    conn.close()


def test_head_has_no_body(serve) -> None:  # type: ignore[no-untyped-def]
    conn = serve(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
    response = ask(conn, "HEAD")
    assert response.read() == b""
    conn.close()


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"", "closed the connection without answering"),
        (b"SSH-2.0-OpenSSH\r\n", "not an HTTP answer"),
        (b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n", "bad header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "ended early"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc", "not terminated"),
        (b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 300 + b"\r\n", "too many headers"),
        (b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70000 + b"\r\n\r\n", "too long"),
    ],
)
def test_malformed_answers(serve, answer: bytes, message: str) -> None:  # type: ignore[no-untyped-def]
    conn = serve(answer)
    with pytest.raises(ProtocolError, match=message):
        ask(conn).read()
    conn.close()


def test_request_before_connect() -> None:
    with pytest.raises(RuntimeError):
        Connection(parse_host("unix:///nowhere.sock")).request("GET", "/", {}, None)
