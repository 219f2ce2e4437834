"""The images router over a real HTTP connection (UNIX socket) with the fake driver: bodies
streamed in, archives streamed out, Docker's statuses and shapes."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from berth.daemon.api import Api
from berth.daemon.http import Connection
from berth.daemon.routers.images import images_router
from berth.engine.images.errors import StoreUnavailable
from berth.engine.images.service import ImageService

from .builders import ImageSpec, docker_archive, layer_tar, sha
from .conftest import NullLog

BIG = layer_tar({f"data/{i}": bytes([i]) * 200_000 for i in range(20)})  # ~4 MB, many chunks
BASE = layer_tar({"bin/sh": b"#!shell\n"})


class StubEngine:
    def __init__(self, images: ImageService | None) -> None:
        self.images = images

    def image_service(self) -> ImageService:
        if self.images is None:
            raise StoreUnavailable("images are unavailable: no usable storage driver (test)")
        return self.images


class Server:
    def __init__(self, engine: StubEngine) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="berth-img-", dir="/tmp"))
        self.sock = self.dir / "s.sock"
        api = Api(NullLog())
        api.mount(images_router(engine))  # type: ignore[arg-type]
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def serve() -> None:
            async def on_client(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
                await Connection(r, w, api, lambda: []).serve()

            self.server = await asyncio.start_unix_server(on_client, path=str(self.sock))
            ready.set()

        self.thread = threading.Thread(
            target=lambda: (self.loop.run_until_complete(serve()), self.loop.run_forever())
        )
        self.thread.start()
        ready.wait(5)

    def close(self) -> None:
        async def stop() -> None:
            self.server.close()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
        self.sock.unlink(missing_ok=True)
        self.dir.rmdir()

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(20)
            conn.connect(str(self.sock))
            head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            conn.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            data = b""
            while chunk := conn.recv(1 << 16):
                data += chunk
        head_bytes, _, payload = data.partition(b"\r\n\r\n")
        status = int(head_bytes.split()[1])
        if b"transfer-encoding: chunked" in head_bytes.lower():
            out = b""
            while payload:
                size_line, _, rest = payload.partition(b"\r\n")
                size = int(size_line, 16)
                if size == 0:
                    break
                out += rest[:size]
                payload = rest[size + 2 :]
            payload = out
        return status, payload

    def json(self, method: str, path: str, body: bytes = b"") -> tuple[int, Any]:
        status, payload = self.request(method, path, body)
        lines = [json.loads(line) for line in payload.splitlines() if line.strip()]
        return status, lines[0] if len(lines) == 1 else lines


@pytest.fixture
def server(service: ImageService) -> Iterator[Server]:
    running = Server(StubEngine(service))
    yield running
    running.close()


def test_load_list_inspect_save(server: Server) -> None:
    image = ImageSpec([BASE, BIG], ["me/app:v1"])
    status, messages = server.json("POST", "/v1.44/images/load?quiet=1", docker_archive([image]))
    assert status == 200
    assert messages == {"stream": "Loaded image: me/app:v1\n"}
    status, listed = server.json("GET", "/images/json")
    assert status == 200 and [i["RepoTags"] for i in listed] == [["me/app:v1"]]
    status, inspect = server.json("GET", "/images/me/app:v1/json")
    assert status == 200 and inspect["Id"] == image.id
    status, inspect = server.json("GET", "/images/me%2Fapp%3Av1/json")
    assert status == 200 and inspect["Id"] == image.id
    status, history = server.json("GET", "/images/me/app:v1/history")
    assert status == 200 and len(history) == 2
    status, saved = server.request("GET", "/images/me/app:v1/get")
    assert status == 200
    with tarfile.open(fileobj=io.BytesIO(saved)) as tar:
        assert f"blobs/sha256/{sha(BIG)[7:]}" in tar.getnames()
    status, again = server.request("GET", "/images/get?names=me/app:v1")
    assert status == 200 and again == saved


def test_tag_remove_prune_import(server: Server) -> None:
    server.request("POST", "/images/load", docker_archive([ImageSpec([BASE], ["a:1"])]))
    status, _ = server.request("POST", "/images/a:1/tag?repo=b&tag=2")
    assert status == 201
    status, records = server.json("DELETE", "/images/b:2")
    assert status == 200 and records == [{"Untagged": "b:2"}]
    status, created = server.json("POST", "/images/create?fromSrc=-&repo=imp&tag=1", BASE)
    assert status == 200 and created["status"].startswith("sha256:")
    status, report = server.json("POST", "/images/prune")
    assert status == 200 and report == {"ImagesDeleted": None, "SpaceReclaimed": 0}


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "message"),
    [
        ("DELETE", "/images/ghost", b"", 404, "No such image: ghost:latest"),
        ("POST", "/images/ghost/tag?repo=x", b"", 404, "No such image: ghost:latest"),
        ("POST", "/images/load", b"garbage" * 1000, 400, "not a valid tar"),
        ("GET", "/images/UPPER/json", b"", 400, "must be lowercase"),
        ("GET", "/images/json?filters=%7B%22x%22%3A%5B%22y%22%5D%7D", b"", 400, "invalid filter"),
        ("GET", "/images/get", b"", 400, "no image names"),
        ("POST", "/images/create?fromImage=UPPER", b"", 400, "must be lowercase"),
        ("POST", "/images/create?fromSrc=http://x/y.tar", b"", 400, "not supported"),
        ("POST", "/images/create?fromSrc=-&changes=RUN%20x", BASE, 400, "not a valid change"),
        ("POST", "/images/load?platform=linux%2F", b"", 400, "invalid platform"),
    ],
)
def test_errors(
    server: Server, method: str, path: str, body: bytes, status: int, message: str
) -> None:
    got, answer = server.json(method, path, body)
    assert got == status
    assert message in answer["message"]


def test_no_store_is_503(tmp_path: Path) -> None:
    running = Server(StubEngine(None))
    try:
        status, answer = running.json("GET", "/images/json")
    finally:
        running.close()
    assert status == 503
    assert answer["message"].startswith("images are unavailable: no usable storage driver")
