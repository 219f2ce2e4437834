"""The local end of an attached session (berth.cli.hijack): detach keys, the terminal in raw
mode and back, the streamer over a socket pair, signals turned into kill/resize requests."""

from __future__ import annotations

import io
import os
import signal
import socket
import termios
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from berth.cli import hijack
from berth.client.transport import RawStream


class PairStream:
    """A RawStream stand-in over one end of a socket pair."""

    def __init__(self, sock: socket.socket, content_type: str) -> None:
        self.sock = sock
        self.content_type = content_type
        self.closed_write = threading.Event()

    def recv(self, size: int = 65536) -> bytes:
        try:
            return self.sock.recv(size)
        except OSError:
            return b""

    def sendall(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close_write(self) -> None:
        self.sock.shutdown(socket.SHUT_WR)
        self.closed_write.set()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    yield ours, theirs
    ours.close()
    theirs.close()


def frame(stream: int, data: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(data).to_bytes(4, "big") + data


# --- detach keys ---------------------------------------------------------------------------------


def test_detach_key_bytes() -> None:
    assert hijack.detach_key_bytes("ctrl-p,ctrl-q") == b"\x10\x11"
    assert hijack.detach_key_bytes("a,ctrl-@,DEL,ctrl-\\") == b"a\x00\x7f\x1c"
    with pytest.raises(ValueError, match="Unknown character: 'ctrl-'"):
        hijack.detach_key_bytes("ctrl-")


def test_escape_proxy_holds_the_prefix_and_detaches() -> None:
    proxy = hijack.EscapeProxy(b"\x10\x11")
    assert proxy.feed(b"ls\x10") == (b"ls", False)  # ctrl-p held back
    assert proxy.feed(b"\x11rest") == (b"", True)
    broken = hijack.EscapeProxy(b"\x10\x11")
    assert broken.feed(b"a\x10") == (b"a", False)
    assert broken.feed(b"b") == (b"\x10b", False)  # the sequence broke: ctrl-p goes through
    double = hijack.EscapeProxy(b"\x10\x11")
    assert double.feed(b"\x10\x10\x11") == (b"\x10\x10\x11", False)  # as moby's proxy does
    assert hijack.EscapeProxy(b"").feed(b"\x10\x11") == (b"\x10\x11", False)


# --- the terminal --------------------------------------------------------------------------------


@pytest.fixture
def pty() -> Iterator[tuple[int, int]]:
    master, slave = os.openpty()
    yield master, slave
    os.close(master)
    os.close(slave)


def test_terminal_raw_mode_and_restore(pty: tuple[int, int]) -> None:
    _, slave = pty
    before = termios.tcgetattr(slave)
    assert before[3] & termios.ECHO and before[3] & termios.ICANON
    terminal = hijack.Terminal(slave)
    terminal.make_raw()
    raw = termios.tcgetattr(slave)
    assert not raw[3] & (termios.ECHO | termios.ICANON | termios.ISIG | termios.IEXTEN)
    assert not raw[1] & termios.OPOST and not raw[0] & termios.ICRNL
    assert raw[6][termios.VMIN] == 1
    terminal.restore()
    terminal.restore()  # once only: a second call changes nothing
    assert termios.tcgetattr(slave) == before


def test_noraw_leaves_the_terminal_alone(
    pty: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, slave = pty
    monkeypatch.setenv("NORAW", "1")
    before = termios.tcgetattr(slave)
    hijack.Terminal(slave).make_raw()
    assert termios.tcgetattr(slave) == before


def test_terminal_size(pty: tuple[int, int]) -> None:
    import fcntl
    import struct

    _, slave = pty
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 101, 0, 0))
    with os.fdopen(os.dup(slave), "rb") as stream:
        assert hijack.terminal_size(stream) == (33, 101)
    assert hijack.terminal_size(io.BytesIO()) == (0, 0)


# --- the streamer --------------------------------------------------------------------------------


def test_streamer_demultiplexes_and_half_closes(pair: Any) -> None:
    ours, theirs = pair
    raw = PairStream(ours, "application/vnd.docker.multiplexed-stream")
    out, err = io.BytesIO(), io.BytesIO()
    stdin = io.BytesIO(b"typed input")
    streamer = hijack.Streamer(
        raw,  # type: ignore[arg-type]
        stdin=stdin,
        stdout=out,
        stderr=err,
        tty=False,
    )

    def daemon() -> None:
        received = b""
        while data := theirs.recv(65536):
            received += data
        theirs.sendall(frame(1, b"got " + received) + frame(2, b"warning"))
        theirs.shutdown(socket.SHUT_WR)

    threading.Thread(target=daemon, daemon=True).start()
    assert streamer.run() is None
    assert (out.getvalue(), err.getvalue()) == (b"got typed input", b"warning")
    assert raw.closed_write.is_set()


def test_streamer_reports_the_daemons_error_frame(pair: Any) -> None:
    ours, theirs = pair
    theirs.sendall(frame(3, b"monitor lost"))
    theirs.shutdown(socket.SHUT_WR)
    streamer = hijack.Streamer(
        PairStream(ours, "x"),  # type: ignore[arg-type]
        stdin=None,
        stdout=io.BytesIO(),
        stderr=io.BytesIO(),
        tty=False,
    )
    outcome = streamer.run()
    assert isinstance(outcome, hijack.StreamError)
    assert str(outcome) == "error from daemon in stream: monitor lost"


def test_streamer_in_a_terminal_detaches_and_restores(pair: Any, pty: tuple[int, int]) -> None:
    ours, theirs = pair
    master, slave = pty
    before = termios.tcgetattr(slave)
    with os.fdopen(os.dup(slave), "rb", buffering=0) as stdin:
        out = io.BytesIO()
        streamer = hijack.Streamer(
            PairStream(ours, "application/vnd.docker.raw-stream"),  # type: ignore[arg-type]
            stdin=stdin,  # type: ignore[arg-type]
            stdout=out,
            stderr=out,
            tty=True,
        )
        result: list[Any] = []
        thread = threading.Thread(target=lambda: result.append(streamer.run()))
        thread.start()
        deadline = time.monotonic() + 5
        while termios.tcgetattr(slave)[3] & termios.ICANON and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not termios.tcgetattr(slave)[3] & termios.ECHO  # raw while attached
        theirs.sendall(b"$ ")
        os.write(master, b"echo hi\r\x10\x11")
        thread.join(5)
        assert result == [hijack.DETACHED]
        assert theirs.recv(100) == b"echo hi\r"  # the detach keys were not sent
        assert termios.tcgetattr(slave) == before
        assert out.getvalue() == b"$ "


def test_streamer_cancel(pair: Any) -> None:
    ours, _theirs = pair
    streamer = hijack.Streamer(
        PairStream(ours, "x"),  # type: ignore[arg-type]
        stdin=None,
        stdout=io.BytesIO(),
        stderr=None,
        tty=False,
    )
    threading.Timer(0.1, streamer.cancel).start()
    assert streamer.run() is hijack.CANCELLED


def test_raw_stream_returns_bytes_buffered_behind_the_head(pair: Any) -> None:
    from berth.client.hosts import parse_host
    from berth.client.transport import Connection

    ours, theirs = pair
    connection = Connection(parse_host("unix:///nowhere"))
    connection.sock = ours
    connection._reader = io.BufferedReader(_SocketReader(ours))  # type: ignore[assignment]
    theirs.sendall(b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream"
                   b"\r\n\r\nearly output")  # fmt: skip
    response = connection.request("POST", "/attach", {}, b"")
    assert response.status == 101
    raw = connection.raw_stream(response.headers["content-type"])
    assert isinstance(raw, RawStream) and not raw.multiplexed
    assert raw.recv() == b"early output"
    raw.close()
    assert raw.recv() == b""


class _SocketReader(io.RawIOBase):
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        return self.sock.recv_into(buffer)


# --- signals -------------------------------------------------------------------------------------


def test_signal_proxy_forwards_and_resizes() -> None:
    forwarded: list[str] = []
    resized = threading.Event()
    done = threading.Event()

    def forward(name: str) -> None:
        forwarded.append(name)
        if name == "USR1":
            done.set()

    before = signal.getsignal(signal.SIGUSR1)
    with hijack.SignalProxy(forward, resize=resized.set) as proxy:
        assert signal.getsignal(signal.SIGUSR1) == proxy._handler
        os.kill(os.getpid(), signal.SIGHUP)
        os.kill(os.getpid(), signal.SIGUSR1)
        os.kill(os.getpid(), signal.SIGWINCH)
        assert done.wait(5) and resized.wait(5)
    assert forwarded[:2] == ["HUP", "USR1"]
    assert signal.getsignal(signal.SIGUSR1) == before


def test_signal_proxy_without_forwarding_only_counts_terminations() -> None:
    with hijack.SignalProxy(None) as proxy:
        assert signal.getsignal(signal.SIGUSR1) != proxy._handler
        os.kill(os.getpid(), signal.SIGINT)  # the first two are swallowed, as docker's
        os.kill(os.getpid(), signal.SIGTERM)
        assert proxy._terminations == 2


FORCED_EXIT = r"""
import os, signal, sys, time
from berth.cli.hijack import SignalProxy

with SignalProxy(lambda name: None, restore=lambda: print("restored", flush=True)):
    for _ in range(3):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
    time.sleep(5)
print("not reached", flush=True)
"""


def test_a_third_termination_signal_forces_the_exit() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", FORCED_EXIT], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 1
    assert done.stdout == "restored\n"
    assert done.stderr == "\ngot 3 SIGTERM/SIGINTs, forcefully exiting\n"
