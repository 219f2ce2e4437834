"""Containers for the monitor's tests: a bundle whose config.json names a host command, run by
the fork-and-exec test launcher (no isolation), with a state directory and a log in tmp_path.

Every monitor a test starts is gone at the end of the test (killed if it has to be), and so is
every process it ran.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from berth.monitor import client
from berth.monitor.system import socket_address

HERE = Path(__file__).resolve().parent


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.01)
    return False


def children_of(pid: int) -> list[tuple[int, str]]:
    """``(pid, state)`` of every process whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            if int(fields[1]) == pid:
                found.append((int(entry.name), fields[0]))
    return found


def raw_connect(state: Path) -> socket.socket:
    """A plain connection to a monitor's socket (however long its path)."""
    address, dir_fd = socket_address(str(state / "monitor.sock"))
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.connect(address)
    finally:
        if dir_fd >= 0:
            os.close(dir_fd)
    return sock


def read_all(sock: socket.socket) -> list[tuple[int, bytes]]:
    """Every frame until the monitor closes the stream, consecutive frames of a stream joined."""
    joined: list[tuple[int, bytes]] = []
    with sock:
        for stream, payload in client.iter_frames(sock):
            if joined and joined[-1][0] == stream:
                joined[-1] = (stream, joined[-1][1] + payload)
            else:
                joined.append((stream, payload))
    return joined


def stream_bytes(frames: list[tuple[int, bytes]], stream: int) -> bytes:
    return b"".join(payload for s, payload in frames if s == stream)


def log_entries(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


class Box:
    """One container for the test launcher, in its own directory."""

    def __init__(self, root: Path, launcher: str = "forklauncher") -> None:
        self.root = root
        self.bundle = root / "bundle"
        self.state = root / "state"
        self.log = root / "ctr-json.log"
        self.launcher = launcher
        self.bundle.mkdir(parents=True)
        self.monitor_pid = 0
        self.init_pid = 0

    def configure(self, args: list[str], **extra: Any) -> None:
        process = {"args": args, "env": ["PATH=/usr/bin:/bin", "LC_ALL=C"], "cwd": "/"}
        config = {"ociVersion": "1.0.2", "process": process, **extra}
        (self.bundle / "config.json").write_text(json.dumps(config))

    def spawn(self, args: list[str], **options: Any) -> int:
        """Create the container (not started); the monitor's PID."""
        self.configure(args, annotations=options.pop("annotations", {}))
        options.setdefault("log_path", self.log)
        self.monitor_pid = client.spawn(
            self.state, self.bundle, "ctr", self.launcher, paths=[str(HERE)], **options
        )
        self.init_pid = int(client.state(self.state)["pid"])
        return self.monitor_pid

    def run(self, args: list[str], **options: Any) -> client.ExitStatus:
        """Create, start and wait."""
        self.spawn(args, **options)
        client.start(self.state)
        return client.wait(self.state, timeout=30)

    def finished(self, timeout: float = 10.0) -> bool:
        """The monitor exited, and so did the init."""
        return wait_gone(self.monitor_pid, timeout) and wait_gone(self.init_pid, timeout)

    def clean_up(self) -> None:
        if self.monitor_pid and alive(self.monitor_pid):
            with contextlib.suppress(client.MonitorError, OSError):
                client.kill(self.state, signal.SIGKILL)
            if not wait_gone(self.monitor_pid, 5):
                os.kill(self.monitor_pid, signal.SIGKILL)
        if self.init_pid and alive(self.init_pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.init_pid, signal.SIGKILL)
        for pid in (self.monitor_pid, self.init_pid):
            if pid:
                assert wait_gone(pid), f"process {pid} is still there"


@pytest.fixture
def make_box(tmp_path: Path) -> Iterator[Any]:
    boxes: list[Box] = []

    def make(launcher: str = "forklauncher") -> Box:
        box = Box(tmp_path / f"box{len(boxes)}", launcher)
        boxes.append(box)
        return box

    yield make
    for box in boxes:
        box.clean_up()


@pytest.fixture
def box(make_box: Any) -> Box:
    made: Box = make_box()
    return made
