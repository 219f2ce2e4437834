"""The monitor zygote (berth.monitor.zygote) as berthd's supervisor uses it: monitors forked from
it run containers as before, outlive it, are recognised as monitors, and the zygote can be
switched off, replaced when it dies, and refuses malformed requests in one line."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from berth.engine.containers import zygote as zygote_side
from berth.engine.containers.supervisor import Supervisor
from berth.monitor import client, zygote

from .conftest import HERE, alive, log_entries, wait_gone


class Spawner:
    """A supervisor (berthd's side) over the fork launcher, and its boxes' bundles."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.supervisor = Supervisor(root / "run", log=None)
        self.monitors: list[int] = []
        self.inits: list[int] = []
        self.count = 0

    def spawn(self, args: list[str]) -> tuple[str, Any]:
        self.count += 1
        container_id = f"{self.count:064x}"
        bundle = self.root / f"bundle{self.count}"
        bundle.mkdir()
        process = {"args": args, "env": ["PATH=/usr/bin:/bin"], "cwd": "/"}
        (bundle / "config.json").write_text(_json({"ociVersion": "1.0.2", "process": process}))
        log_path = self.root / f"ctr{self.count}-json.log"
        handle = asyncio.run(
            self.supervisor.spawn(container_id, bundle, "forklauncher", log_path=str(log_path))
        )
        self.monitors.append(handle.pid)
        self.inits.append(int(client.state(self.supervisor.state_dir(container_id))["pid"]))
        return container_id, handle

    def finish(self, container_id: str, handle: Any) -> int:
        """Start the container, wait for its monitor to end: the exit code it recorded."""
        asyncio.run(handle.start())
        assert wait_gone(handle.pid)
        status = self.supervisor.read_exit(container_id)
        assert status is not None
        return status.exit_code

    def zygote_pid(self) -> int:
        process = self.supervisor.zygote._process
        return process.pid if process is not None else 0

    def clean_up(self) -> None:
        """Kill every monitor and every init (an init never started waits for its start
        for ever, even once its monitor is gone)."""
        for pid in (*self.monitors, *self.inits):
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.supervisor.zygote.close()
        for pid in (*self.monitors, *self.inits):
            assert wait_gone(pid), f"process {pid} is still there"


def _json(value: object) -> str:
    import json

    return json.dumps(value)


def _cmdline(pid: int) -> list[bytes]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


@pytest.fixture
def spawner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Spawner]:
    monkeypatch.syspath_prepend(str(HERE))  # the fork launcher's import directory
    monkeypatch.delenv(zygote_side.SWITCH, raising=False)
    made = Spawner(tmp_path)
    try:
        yield made
    finally:
        made.clean_up()


def test_a_forked_monitor_runs_the_container_and_records_its_exit(spawner: Spawner) -> None:
    container_id, handle = spawner.spawn(["sh", "-c", "echo hi; exit 3"])
    assert os.fsencode(str(zygote_side.ZYGOTE_MAIN)) in _cmdline(handle.pid)
    assert _parent(handle.pid) not in (os.getpid(), spawner.zygote_pid())
    assert spawner.finish(container_id, handle) == 3
    log = spawner.root / "ctr1-json.log"
    assert [e["log"] for e in log_entries(log)] == ["hi\n"]


def test_one_zygote_serves_every_monitor_and_they_outlive_it(spawner: Spawner) -> None:
    first = spawner.spawn(["sh", "-c", "exit 6"])
    zygote_pid = spawner.zygote_pid()
    second = spawner.spawn(["sh", "-c", "exit 7"])
    assert spawner.zygote_pid() == zygote_pid
    spawner.supervisor.zygote.close()
    assert wait_gone(zygote_pid)
    assert asyncio.run(first[1].ping()) and asyncio.run(second[1].ping())
    assert spawner.finish(*first) == 6
    assert spawner.finish(*second) == 7


def test_kill_monitor_knows_a_forked_monitor_from_other_processes(spawner: Spawner) -> None:
    container_id, handle = spawner.spawn(["sleep", "30"])
    supervisor = spawner.supervisor
    assert not supervisor.kill_monitor(container_id, os.getpid())
    assert not supervisor.kill_monitor(container_id, spawner.zygote_pid())
    assert supervisor.kill_monitor(container_id, handle.pid)
    assert wait_gone(handle.pid)


def test_a_dead_zygote_is_replaced(spawner: Spawner) -> None:
    spawner.spawn(["true"])
    first = spawner.zygote_pid()
    os.kill(first, signal.SIGKILL)
    assert wait_gone(first)
    container_id, handle = spawner.spawn(["sh", "-c", "exit 5"])
    assert spawner.zygote_pid() not in (0, first)
    assert spawner.finish(container_id, handle) == 5


def test_the_switch_starts_monitors_as_new_interpreters(
    spawner: Spawner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(zygote_side.SWITCH, "0")
    container_id, handle = spawner.spawn(["sh", "-c", "exit 4"])
    assert spawner.zygote_pid() == 0
    assert os.fsencode(str(spawner.supervisor.main)) in _cmdline(handle.pid)
    assert spawner.finish(container_id, handle) == 4


def test_an_unknown_launcher_is_one_clear_error(spawner: Spawner) -> None:
    supervisor = spawner.supervisor
    (spawner.root / "bundle").mkdir()
    with pytest.raises(Exception, match="nosuchlauncher"):
        asyncio.run(
            supervisor.spawn(
                "e" * 64, spawner.root / "bundle", "nosuchlauncher", log_path="/dev/null"
            )
        )


def _zygote(channel: socket.socket, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-I", "-S", str(zygote_side.ZYGOTE_MAIN), *extra],
        pass_fds=(channel.fileno(),),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_bad_command_lines_are_refused_in_one_line() -> None:
    for argv in (["--channel-fd"], ["--bogus", "1"], ["--path", "/x"]):
        with pytest.raises(ValueError):
            zygote.parse_args(argv)
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours, theirs:
        process = _zygote(theirs)
        _, errors = process.communicate(timeout=30)
    assert process.returncode == 2
    assert errors.decode().strip() == "berth zygote: --channel-fd is required"


def test_a_request_without_its_descriptors_is_refused_and_the_zygote_goes_on() -> None:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with ours:
        with theirs:
            process = _zygote(theirs, "--channel-fd", str(theirs.fileno()))
        ours.send(b"--id\0x")
        read_fd, write_fd = os.pipe()
        with os.fdopen(read_fd, "rb") as ready:
            try:
                socket.send_fds(ours, [b"--bogus"], [write_fd, 2])
            finally:
                os.close(write_fd)
            answer = ready.read()
    _, errors = process.communicate(timeout=30)
    assert process.returncode == 0  # the channel ended: the zygote is done
    assert b"false" in answer and b"unknown argument" in answer
    assert errors.decode().splitlines() == [
        "berth zygote: a request without its two file descriptors"
    ]
