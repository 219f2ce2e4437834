"""The HTTP layer on its own: keep-alive, streams, client departure, and the hijack."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
import struct
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from berth.daemon.api import Api, Router
from berth.daemon.bodyreader import body_file
from berth.daemon.http import (
    Connection,
    HijackResponse,
    RawStream,
    Request,
    Response,
    StreamResponse,
)


class Server:
    """An Api with test routes on a UNIX socket, served from a thread's event loop."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="berth-http-", dir="/tmp"))
        self.sock = self.dir / "s.sock"
        self.stream_closed = asyncio.Event()
        self.hijack_log: list[str] = []

    def api(self) -> Api:
        router = Router()

        async def hello(request: Request) -> Response:
            return Response.json(
                {"hello": request.params.get("name", ""), "v": request.api_version}
            )

        async def echo(request: Request) -> Response:
            return Response(200, await request.body(), "application/octet-stream")

        async def count(request: Request) -> StreamResponse:
            async def chunks() -> AsyncIterator[bytes]:
                for i in range(3):
                    yield json.dumps({"n": i}).encode() + b"\n"

            return StreamResponse(chunks())

        async def forever(request: Request) -> StreamResponse:
            async def chunks() -> AsyncIterator[bytes]:
                try:
                    yield b'{"started": true}\n'
                    await asyncio.sleep(3600)
                    yield b""
                finally:
                    self.stream_closed.set()

            return StreamResponse(chunks())

        async def upper(request: Request) -> HijackResponse:
            async def handler(raw: RawStream) -> None:
                # Multiplexed like a non-TTY attach: read stdin to EOF, then answer.
                received = b""
                while data := await raw.read():
                    received += data
                self.hijack_log.append("eof")
                out = received.upper()
                await raw.write(struct.pack(">BxxxL", 1, len(out)) + out)

            return HijackResponse(handler, "application/vnd.docker.multiplexed-stream")

        async def boom(request: Request) -> Response:
            raise ValueError("kaboom")

        async def early(request: Request) -> Response:
            return Response.json({"message": "no such thing"}, 404)  # body left unread

        async def sha(request: Request) -> Response:
            body = body_file(request.stream())

            def digest() -> str:
                h = hashlib.sha256()
                while data := body.read(50_000):
                    h.update(data)
                return h.hexdigest()

            return Response.json({"sha256": await asyncio.to_thread(digest)})

        router.add("GET", "/hello/{name}", hello)
        router.add("POST", "/echo", echo)
        router.add("GET", "/count", count)
        router.add("GET", "/forever", forever)
        router.add("POST", "/upper", upper)
        router.add("GET", "/boom", boom)
        router.add("PUT", "/early", early)
        router.add("PUT", "/sha", sha)
        router.add("GET", "/images/{name:path}/json", hello)
        api = Api(_NullLog())
        api.mount(router)
        return api


class _NullLog:
    def error(self, *args: object, **kwargs: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    import shutil
    import threading

    srv = Server()
    loop = asyncio.new_event_loop()
    started = threading.Event()
    api = srv.api()

    async def on_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await Connection(reader, writer, api, lambda: [("Api-Version", "1.44")]).serve()

    async def main() -> asyncio.AbstractServer:
        return await asyncio.start_unix_server(on_client, path=str(srv.sock))

    def run() -> None:
        asyncio.set_event_loop(loop)
        srv._server = loop.run_until_complete(main())  # type: ignore[attr-defined]
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(5)
    srv.loop = loop  # type: ignore[attr-defined]
    yield srv

    async def shutdown() -> None:
        srv._server.close()  # type: ignore[attr-defined]
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()

    asyncio.run_coroutine_threadsafe(shutdown(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    shutil.rmtree(srv.dir, ignore_errors=True)


def connect(server: Server) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(5)
    conn.connect(str(server.sock))
    return conn


def read_response(conn: socket.socket) -> tuple[bytes, bytes]:
    """Read one Content-Length response; return (head, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += conn.recv(4096)
    return head, body


def test_keep_alive_serves_several_requests(server: Server) -> None:
    with connect(server) as conn:
        for name in ("a", "b"):
            conn.sendall(f"GET /v1.40/hello/{name} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            head, body = read_response(conn)
            assert head.startswith(b"HTTP/1.1 200 OK")
            assert json.loads(body) == {"hello": name, "v": "1.40"}


def test_request_body_and_path_params(server: Server) -> None:
    with connect(server) as conn:
        payload = b"x" * 200_000
        conn.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n" + payload)
        _, body = read_response(conn)
        assert body == payload
        conn.sendall(b"GET /images/quay.io/a/b:1/json HTTP/1.1\r\nHost: x\r\n\r\n")
        _, body = read_response(conn)
        assert json.loads(body)["hello"] == "quay.io/a/b:1"


def test_chunked_stream(server: Server) -> None:
    with connect(server) as conn:
        conn.sendall(b"GET /count HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower()
    assert body.endswith(b"0\r\n\r\n")
    for i in range(3):
        assert json.dumps({"n": i}).encode() in body


def test_stream_ends_when_client_goes_away(server: Server) -> None:
    conn = connect(server)
    conn.sendall(b"GET /forever HTTP/1.1\r\nHost: x\r\n\r\n")
    data = b""
    while b"started" not in data:
        data += conn.recv(4096)
    conn.close()
    closed = asyncio.run_coroutine_threadsafe(
        asyncio.wait_for(server.stream_closed.wait(), 5),
        server.loop,  # type: ignore[attr-defined]
    )
    closed.result(6)  # the generator was closed, not leaked


def test_hijack_upgrade_with_half_close(server: Server) -> None:
    with connect(server) as conn:
        conn.sendall(
            b"POST /upper HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
            b"Content-Length: 0\r\n\r\n"
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(1)
        assert head.startswith(b"HTTP/1.1 101 UPGRADED")
        assert b"application/vnd.docker.multiplexed-stream" in head
        assert b"chunked" not in head.lower()
        conn.sendall(b"hello ")
        conn.sendall(b"world")
        conn.shutdown(socket.SHUT_WR)  # stdin ends; output must still arrive
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
    assert data == struct.pack(">BxxxL", 1, 11) + b"HELLO WORLD"
    assert server.hijack_log == ["eof"]


def test_hijack_bytes_sent_with_the_request_are_kept(server: Server) -> None:
    with connect(server) as conn:
        conn.sendall(
            b"POST /upper HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
            b"Content-Length: 0\r\n\r\nearly"
        )
        conn.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
    assert data.endswith(b"EARLY")


def test_hijack_without_upgrade_gets_200_raw(server: Server) -> None:
    with connect(server) as conn:
        conn.sendall(b"POST /upper HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\nabc")
        conn.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := conn.recv(4096):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK")
    assert data.endswith(b"ABC")


def test_handler_bug_is_a_500_one_liner(server: Server) -> None:
    with connect(server) as conn:
        conn.sendall(b"GET /boom HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = read_response(conn)
    assert head.startswith(b"HTTP/1.1 500")
    assert json.loads(body) == {"message": "internal error in berthd: ValueError: kaboom"}


def chunked(data: bytes, size: int) -> bytes:
    framed = b"".join(
        b"%x\r\n" % len(data[i : i + size]) + data[i : i + size] + b"\r\n"
        for i in range(0, len(data), size)
    )
    return framed + b"0\r\n\r\n"


def read_all(conn: socket.socket) -> bytes:
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    return data


def test_chunked_upload_to_a_worker_thread_then_keep_alive(server: Server) -> None:
    payload = bytes(range(256)) * 4000  # ~1 MB in the docker CLI's 32 KiB chunks
    with connect(server) as conn:
        for data, size in ((payload, 32 * 1024), (payload, 1 << 20), (payload[:20_000], 7)):
            head = b"PUT /sha HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            conn.sendall(head + chunked(data, size))
            _, body = read_response(conn)
            assert json.loads(body) == {"sha256": hashlib.sha256(data).hexdigest()}
        head = b"PUT /sha HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(payload)
        conn.sendall(head + payload)
        _, body = read_response(conn)
        assert json.loads(body) == {"sha256": hashlib.sha256(payload).hexdigest()}


def test_chunked_body_with_trailers_and_pipelined_requests(server: Server) -> None:
    with connect(server) as conn:
        conn.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-Checksum: 1\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz"
            b"GET /hello/z HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        data = read_all(conn)
    bodies = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        bodies.append(rest[:length])
        data = rest[length:]
    assert bodies[:2] == [b"abcde", b"xyz"]
    assert json.loads(bodies[2])["hello"] == "z"
    assert len(bodies) == 3


def test_early_answer_then_the_body_is_skipped_and_keep_alive_holds(server: Server) -> None:
    with connect(server) as conn:
        head = b"PUT /early HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        conn.sendall(head + chunked(b"z" * 3_000_000, 32 * 1024))
        head, _ = read_response(conn)
        assert head.startswith(b"HTTP/1.1 404")
        conn.sendall(b"GET /hello/after HTTP/1.1\r\nHost: x\r\n\r\n")
        assert json.loads(read_response(conn)[1])["hello"] == "after"


@pytest.mark.parametrize(
    ("framed", "message"),
    [
        (b"zz\r\nhello\r\n0\r\n\r\n", "invalid chunk size 'zz'"),
        (b"10000000000000000\r\nhello\r\n", "invalid chunk size"),  # over 64 bits
        (b"5\r\nhelloXY0\r\n\r\n", "chunk data not followed by CRLF"),
        (b"5;" + b"e" * 5000 + b"\r\nhello\r\n0\r\n\r\n", "chunk head longer than"),
    ],
)
def test_malformed_chunked_body_is_a_400_then_close(
    server: Server, framed: bytes, message: str
) -> None:
    with connect(server) as conn:
        conn.sendall(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + framed
            + b"GET /hello/never HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        data = read_all(conn)  # the connection closes: the next request is not served
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert message in json.loads(body)["message"]
    assert b"never" not in data


def test_malformed_body_nobody_reads_closes_the_connection(server: Server) -> None:
    with connect(server) as conn:
        conn.sendall(b"PUT /early HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nq\r\n")
        data = read_all(conn)
    assert data.startswith(b"HTTP/1.1 404")


def test_client_gone_mid_body_then_the_server_still_serves(server: Server) -> None:
    conn = connect(server)
    conn.sendall(b"PUT /sha HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    conn.sendall(b"8000\r\n" + b"a" * 1000)
    conn.shutdown(socket.SHUT_WR)
    data = read_all(conn)
    conn.close()
    assert data.startswith(b"HTTP/1.1 400")
    assert b"ended early" in data
    with connect(server) as conn:
        conn.sendall(b"GET /hello/still HTTP/1.1\r\nHost: x\r\n\r\n")
        assert json.loads(read_response(conn)[1])["hello"] == "still"


def test_connection_close_and_http10_requests_close_after_the_body(server: Server) -> None:
    for head in (
        b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok",
        b"POST /echo HTTP/1.0\r\nContent-Length: 2\r\n\r\nok",
    ):
        with connect(server) as conn:
            conn.sendall(head)
            data = read_all(conn)  # ends: the server closed the connection
        assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"\r\n\r\nok")


def test_oversized_request_head_is_a_431(server: Server) -> None:
    with connect(server) as conn:
        conn.sendall(b"GET /hello/a HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 70_000 + b"\r\n\r\n")
        data = read_all(conn)
    assert data.startswith(b"HTTP/1.1 431")


def test_hijack_after_a_request_body_like_exec_start(server: Server) -> None:
    with connect(server) as conn:
        body = b'{"Detach":false,"Tty":false}'
        conn.sendall(
            b"POST /upper HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % len(body)
            + body
            + b"stdin"
        )
        conn.shutdown(socket.SHUT_WR)
        data = read_all(conn)
    assert data.startswith(b"HTTP/1.1 101 UPGRADED\r\n")
    assert data.endswith(struct.pack(">BxxxL", 1, 5) + b"STDIN")
