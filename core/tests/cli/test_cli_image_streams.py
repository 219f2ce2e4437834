"""`save`, `load` and `import` against the fake daemon, and the streamed uploads under them.

Archives are streamed both ways: the request body goes out chunked from the file or stdin, the
answer's progress messages are shown as they come, and a saved archive reaches its file only
when it is complete.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from berth.cli import image as image_cli
from berth.cli.main import cli
from berth.client.api import APIClient
from berth.client.errors import DaemonError, UploadError
from berth.client.hosts import parse_host
from click.testing import CliRunner, Result

IMAGE_ID = "sha256:bb7ba331993d422fa2f1e25778861765931790d3e776cd926e304f2734603c71"


@pytest.fixture
def run(daemon: Any) -> Callable[..., Result]:
    """`berth -H <fake> ARGS...` with bytes on stdin."""

    def invoke(*args: str, stdin: bytes | None = None) -> Result:
        return CliRunner().invoke(cli, ["-H", daemon.url, *args], input=stdin)

    return invoke


@pytest.fixture
def stdout_is_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(image_cli, "is_terminal", lambda stream: stream is sys.stdout)
    monkeypatch.setattr(image_cli, "terminal_width", lambda: 80)


# --- save ---------------------------------------------------------------------------------------

ARCHIVE = b"manifest.json" + bytes(range(256)) * 4096  # 1 MiB of not-a-tar, which is fine here


@pytest.fixture
def save_daemon(daemon: Any, fakes: ModuleType) -> Any:
    def answer(request: Any) -> Any:
        if request.query.get("names") == ["nope"]:
            return fakes.Reply(404, {"message": "No such image: nope:latest"})
        pieces = [ARCHIVE[i : i + 100_000] for i in range(0, len(ARCHIVE), 100_000)]
        return fakes.Stream(items=pieces)

    daemon.routes[("GET", "/images/get")] = answer
    return daemon


def test_save_to_a_file(run: Any, save_daemon: Any, tmp_path: Path) -> None:
    target = tmp_path / "out.tar"
    result = run("save", "-o", str(target), "busybox", "me/app:v1")
    assert (result.exit_code, result.output) == (0, "")
    assert target.read_bytes() == ARCHIVE
    assert save_daemon.requests[-1].query == {"names": ["busybox", "me/app:v1"]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tar"]  # no temporary left
    assert run("image", "save", "--output", str(target), "busybox").exit_code == 0


def test_save_to_stdout(run: Any, save_daemon: Any) -> None:
    result = run("save", "busybox")
    assert result.exit_code == 0
    assert result.stdout_bytes == ARCHIVE


def test_save_refuses_a_terminal(run: Any, save_daemon: Any, stdout_is_a_terminal: None) -> None:
    result = run("save", "busybox")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        "cowardly refusing to save to a terminal. Use the -o flag or redirect\n"
    )
    assert save_daemon.requests == []


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (
            "missing/out.tar",
            "failed to save image: invalid output path: stat {tmp}/missing: "
            "no such file or directory",
        ),
        (".", "failed to save image: cannot write to a directory"),
        ("/dev/null", "failed to save image: cannot write to a character device file"),
    ],
)
def test_save_bad_output_paths(
    run: Any, save_daemon: Any, tmp_path: Path, where: str, message: str
) -> None:
    target = where if where.startswith("/") else str(tmp_path / where)
    result = run("save", "-o", target, "busybox")
    assert result.exit_code == 1
    assert result.stderr == message.format(tmp=tmp_path) + "\n"
    assert save_daemon.requests == []


def test_save_missing_image_creates_no_file(run: Any, save_daemon: Any, tmp_path: Path) -> None:
    result = run("save", "-o", str(tmp_path / "out.tar"), "nope")
    assert result.exit_code == 1
    assert result.stderr == "Error response from daemon: No such image: nope:latest\n"
    assert list(tmp_path.iterdir()) == []


class RawServer:
    """Answers every connection with canned bytes (after reading the request head, or not)."""

    def __init__(self, path: Path, answer: bytes, read_request: bool = True) -> None:
        self.answer = answer
        self.read_request = read_request
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.url = f"unix://{path}"
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
                while self.read_request and b"\r\n\r\n" not in data:
                    piece = conn.recv(65536)
                    if not piece:
                        break
                    data += piece
                conn.sendall(self.answer)
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def raw_server(short_tmp: Path) -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(answer: bytes, read_request: bool = True) -> RawServer:
        server = RawServer(short_tmp / f"raw{len(servers)}.sock", answer, read_request)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def test_save_cut_short_leaves_no_file(raw_server: Any, tmp_path: Path) -> None:
    server = raw_server(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/x-tar\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"  # and then the daemon is gone
    )
    target = tmp_path / "out.tar"
    result = CliRunner().invoke(cli, ["-H", server.url, "save", "-o", str(target), "busybox"])
    assert result.exit_code == 1
    assert "broke off" in result.stderr and result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


# --- load ---------------------------------------------------------------------------------------


@pytest.fixture
def load_daemon(daemon: Any, fakes: ModuleType) -> Any:
    def answer(request: Any) -> Any:
        if request.body.startswith(b"BAD"):
            return fakes.Stream(
                items=[
                    {"status": "Loading layer", "id": "4fd7e5b44357", "progressDetail": {}},
                    {
                        "errorDetail": {"message": "archive/tar: invalid tar header"},
                        "error": "archive/tar: invalid tar header",
                    },
                ]
            )
        return fakes.Stream(
            items=[
                {
                    "status": "Loading layer",
                    "id": "4fd7e5b44357",
                    "progressDetail": {"current": 32768, "total": 2129920},
                    "progress": "[>   ]  32.77kB/2.13MB",
                },
                {
                    "status": "Loading layer",
                    "id": "4fd7e5b44357",
                    "progressDetail": {"current": 2129920, "total": 2129920},
                },
                {"stream": "Loaded image: busybox:latest\n"},
            ]
        )

    daemon.routes[("POST", "/images/load")] = answer
    return daemon


def test_load_from_a_file_streams_it_chunked(run: Any, load_daemon: Any, tmp_path: Path) -> None:
    archive = tmp_path / "bb.tar"
    data = os.urandom(3 * 1024 * 1024 + 17)  # several upload chunks
    archive.write_bytes(data)
    result = run("load", "-i", str(archive))
    assert result.exit_code == 0, result.output
    assert result.stdout == "Loaded image: busybox:latest\n"  # no progress off a terminal
    request = load_daemon.requests[-1]
    assert request.body == data
    assert request.headers["transfer-encoding"] == "chunked"
    assert request.headers["content-type"] == "application/x-tar"
    assert "content-length" not in request.headers
    assert request.query == {"quiet": ["1"]}  # not a terminal: quiet, as docker


def test_load_from_stdin(run: Any, load_daemon: Any) -> None:
    result = run("image", "load", stdin=b"tar bytes")
    assert (result.exit_code, result.stdout) == (0, "Loaded image: busybox:latest\n")
    assert load_daemon.requests[-1].body == b"tar bytes"


def test_load_on_a_terminal_draws_progress_in_place(
    run: Any, load_daemon: Any, tmp_path: Path, stdout_is_a_terminal: None
) -> None:
    archive = tmp_path / "bb.tar"
    archive.write_bytes(b"x")
    result = run("load", "-i", str(archive))
    assert result.exit_code == 0
    assert load_daemon.requests[-1].query == {}
    assert result.stdout == (
        "\n\x1b[1A\x1b[2K\r4fd7e5b44357: Loading layer  32.77kB/2.13MB\r\x1b[1B"
        "\x1b[1A\x1b[2K\r4fd7e5b44357: Loading layer   2.13MB/2.13MB\r\x1b[1B"
        "Loaded image: busybox:latest\n"
    )
    assert run("load", "-q", "-i", str(archive)).exit_code == 0
    assert load_daemon.requests[-1].query == {"quiet": ["1"]}


def test_load_in_band_error_fails_with_the_daemons_message(
    run: Any, load_daemon: Any, tmp_path: Path
) -> None:
    archive = tmp_path / "bad.tar"
    archive.write_bytes(b"BAD archive")
    result = run("load", "-i", str(archive))
    assert result.exit_code == 1
    assert result.stderr == "archive/tar: invalid tar header\n"


def test_load_error_without_error_detail_still_fails(
    run: Any, daemon: Any, fakes: ModuleType
) -> None:
    daemon.routes[("POST", "/images/load")] = fakes.Stream(items=[{"error": "it broke"}])
    result = run("load", stdin=b"x")
    assert (result.exit_code, result.stderr) == (1, "it broke\n")


def test_load_daemon_error_status(run: Any, daemon: Any, fakes: ModuleType) -> None:
    daemon.routes[("POST", "/images/load")] = fakes.Reply(
        400, {"message": "no image found in the archive"}
    )
    result = run("load", stdin=b"x")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error response from daemon: no image found in the archive\n",
    )


def test_load_plain_text_answer_is_copied(run: Any, daemon: Any, fakes: ModuleType) -> None:
    daemon.routes[("POST", "/images/load")] = fakes.Reply(
        body="Loaded image ID: sha256:abc\n", content_type="text/plain"
    )
    assert run("load", stdin=b"x").stdout == "Loaded image ID: sha256:abc\n"


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("missing.tar", "open {tmp}/missing.tar: no such file or directory"),
        (".", "open {tmp}/.: is a directory"),
    ],
)
def test_load_bad_input_files(
    run: Any, load_daemon: Any, tmp_path: Path, path: str, message: str
) -> None:
    result = run("load", "-i", f"{tmp_path}/{path}")
    assert (result.exit_code, result.stderr) == (1, message.format(tmp=tmp_path) + "\n")
    assert load_daemon.requests == []


def test_load_refuses_a_terminal_stdin(
    run: Any, load_daemon: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(image_cli, "is_terminal", lambda stream: stream is not sys.stdout)
    result = run("load")
    assert (result.exit_code, result.stderr) == (
        1,
        "requested load from stdin, but stdin is empty\n",
    )
    assert load_daemon.requests == []


# --- import -------------------------------------------------------------------------------------


@pytest.fixture
def import_daemon(daemon: Any, fakes: ModuleType) -> Any:
    def answer(request: Any) -> Any:
        if request.body == b"broken":
            return fakes.Stream(
                items=[
                    {
                        "errorDetail": {"message": "unexpected EOF"},
                        "error": "unexpected EOF",
                    }
                ]
            )
        return fakes.Stream(items=[{"status": IMAGE_ID}])

    daemon.routes[("POST", "/images/create")] = answer
    return daemon


def test_import_a_file_with_changes_and_message(
    run: Any, import_daemon: Any, tmp_path: Path
) -> None:
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(b"rootfs tar")
    result = run(
        "import",
        "-c",
        'CMD ["sh"]',
        "--change",
        "ENV A=b",
        "-m",
        "made here",
        str(rootfs),
        "busybox:latest",
    )
    assert (result.exit_code, result.stdout) == (0, IMAGE_ID + "\n")
    request = import_daemon.requests[-1]
    assert request.body == b"rootfs tar"
    assert request.query == {
        "fromSrc": ["-"],
        "repo": ["busybox:latest"],
        "message": ["made here"],
        "changes": ['CMD ["sh"]', "ENV A=b"],
    }


def test_import_from_stdin_without_a_name(run: Any, import_daemon: Any) -> None:
    result = run("image", "import", "-", stdin=b"from stdin")
    assert (result.exit_code, result.stdout) == (0, IMAGE_ID + "\n")
    assert import_daemon.requests[-1].body == b"from stdin"
    assert import_daemon.requests[-1].query == {"fromSrc": ["-"]}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("import", "{tmp}/rootfs.tar", "Bad/Name"),
            "invalid reference format: repository name (Name) must be lowercase",
        ),
        (("import", "{tmp}/absent.tar"), "open {tmp}/absent.tar: no such file or directory"),
        (
            ("import", "https://example.org/rootfs.tar"),
            "berth import reads a file or - (stdin), not a URL: download "
            "https://example.org/rootfs.tar first, then import the file",
        ),
    ],
)
def test_import_bad_inputs(
    run: Any, import_daemon: Any, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / "rootfs.tar").write_bytes(b"x")
    result = run(*(a.format(tmp=tmp_path) for a in args))
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == message.format(tmp=tmp_path) + "\n"
    assert import_daemon.requests == []


def test_import_in_band_error(run: Any, import_daemon: Any) -> None:
    result = run("import", "-", stdin=b"broken")
    assert (result.exit_code, result.stderr) == (1, "unexpected EOF\n")


def test_import_needs_a_source(run: Any) -> None:
    result = run("import")
    assert result.exit_code == 2 and "Missing argument 'file|-'" in result.stderr


# --- the streamed upload underneath -------------------------------------------------------------


class EndlessArchive(io.RawIOBase):
    """Reads as an endless stream (counts what was read), or fails after `fail_after` bytes."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.read_bytes = 0
        self.fail_after = fail_after

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.fail_after is not None and self.read_bytes >= self.fail_after:
            raise OSError(errno.EIO, "Input/output error")
        size = len(buffer)
        buffer[:size] = b"\0" * size
        self.read_bytes += size
        return size


def test_early_error_answer_ends_an_endless_upload(raw_server: Any) -> None:
    body = b'{"message":"archive too large"}'
    server = raw_server(
        b"HTTP/1.1 413 Request Entity Too Large\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body,
    )
    api = APIClient(parse_host(server.url))
    source = EndlessArchive()
    with pytest.raises(DaemonError) as caught:
        list(api.stream_json("POST", "/images/load", upload=source))  # type: ignore[arg-type]
    assert (caught.value.status, caught.value.message) == (413, "archive too large")


def test_failing_input_is_reported_not_hung(short_tmp: Path) -> None:
    # A daemon that reads everything and answers only at the end: the input fails first.
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(short_tmp / "slow.sock"))
    listener.listen(1)

    def swallow() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                while conn.recv(65536):
                    pass

    thread = threading.Thread(target=swallow, daemon=True)
    thread.start()
    try:
        api = APIClient(parse_host(f"unix://{short_tmp}/slow.sock"))
        source = EndlessArchive(fail_after=3 * 1024 * 1024)
        with pytest.raises(UploadError) as caught:
            list(api.stream_json("POST", "/images/load", upload=source))  # type: ignore[arg-type]
        assert str(caught.value) == (
            "cannot read the input to send to the daemon: input/output error"
        )
    finally:
        listener.close()
        thread.join(5)


def test_upload_is_not_read_ahead_of_the_socket(raw_server: Any) -> None:
    """The client never reads the whole input into memory: it stops when the daemon does."""
    server = raw_server(
        b'HTTP/1.1 400 Bad Request\r\nContent-Length: 16\r\n\r\n{"message":"no"}',
        read_request=False,
    )
    api = APIClient(parse_host(server.url))
    source = EndlessArchive()
    with pytest.raises(DaemonError):
        list(api.stream_json("POST", "/images/load", upload=source))  # type: ignore[arg-type]
    assert source.read_bytes < 64 * 1024 * 1024


def test_platform_is_passed_on(run: Any, import_daemon: Any, load_daemon: Any) -> None:
    assert run("import", "--platform", "Linux/ARM64", "-", stdin=b"x").exit_code == 0
    assert import_daemon.requests[-1].query["platform"] == ["linux/arm64"]
    assert run("load", "--platform", "linux/amd64", stdin=b"x").exit_code == 0
    assert load_daemon.requests[-1].query == {"quiet": ["1"], "platform": ["linux/amd64"]}


def test_upload_of_a_file_starts_where_it_stands(
    daemon: Any, load_daemon: Any, tmp_path: Path
) -> None:
    data = os.urandom(2 * 1024 * 1024 + 5)
    path = tmp_path / "archive.tar"
    path.write_bytes(data)
    api = APIClient(parse_host(daemon.url))
    with path.open("rb") as f:
        f.read(10)
        list(api.stream_json("POST", "/images/load", upload=f))
        assert f.tell() == len(data)
    assert load_daemon.requests[-1].body == data[10:]


def test_upload_from_a_pipe(daemon: Any, load_daemon: Any) -> None:
    api = APIClient(parse_host(daemon.url))
    read_end, write_end = os.pipe()

    def feed() -> None:
        with os.fdopen(write_end, "wb") as w:
            for _ in range(5):
                w.write(b"p" * 300_000)

    writer = threading.Thread(target=feed)
    writer.start()
    with os.fdopen(read_end, "rb") as r:
        list(api.stream_json("POST", "/images/load", upload=r))
    writer.join(10)
    assert load_daemon.requests[-1].body == b"p" * 1_500_000
