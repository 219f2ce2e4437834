"""Starting berthd on demand: only as root, only for the default socket, with a clear failure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from berth.cli.context import CliState
from berth.client.api import APIClient
from berth.client.autostart import Autostarter, daemon_command, spawn_daemon
from berth.client.errors import CannotConnect
from berth.client.hosts import parse_host

FAKE_DAEMON = str(Path(__file__).with_name("fake_daemon.py"))

pytestmark = pytest.mark.usefixtures("allow_autostart")


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Every process the tests' autostarter spawns; all are stopped at the end."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def starter(spawned: list[subprocess.Popen[bytes]], argv: Sequence[str], log: Path, **kw: Any):  # type: ignore[no-untyped-def]
    def spawn(argv: Sequence[str], log_path: Path) -> subprocess.Popen[bytes]:
        process = spawn_daemon(argv, log_path)
        spawned.append(process)
        return process

    return Autostarter(argv=argv, log_path=log, spawn=spawn, is_root=lambda: True, **kw)


def test_starts_the_daemon_detached_and_waits_for_ping(
    short_tmp: Path, spawned: list[subprocess.Popen[bytes]]
) -> None:
    sock = short_tmp / "berth.sock"
    log = short_tmp / "log" / "berth" / "berthd.log"  # its directory is created
    autostart = starter(spawned, [sys.executable, FAKE_DAEMON, str(sock)], log)
    api = APIClient(parse_host(f"unix://{sock}", is_default=True), autostart=autostart)
    assert api.ping() == "OK"
    assert len(spawned) == 1
    process = spawned[0]
    assert os.getsid(process.pid) == process.pid  # its own session: Ctrl-C does not reach it
    assert "fake berthd listening" in log.read_text()


def test_a_daemon_that_exits_shows_its_log(
    short_tmp: Path, spawned: list[subprocess.Popen[bytes]]
) -> None:
    log = short_tmp / "berthd.log"
    log.write_text("an older line\n")
    code = "import sys; print('bad config: boom', file=sys.stderr); sys.exit(3)"
    autostart = starter(spawned, [sys.executable, "-c", code], log)
    host = parse_host(f"unix://{short_tmp}/berth.sock", is_default=True)
    with pytest.raises(CannotConnect) as err:
        APIClient(host, autostart=autostart).ping()
    lines = str(err.value).splitlines()
    assert lines[0] == f"Cannot connect to the berth daemon at {host.url}. Is berthd running?"
    assert f"berthd exited with status 3; last lines of {log}:" in lines[1]
    assert lines[-1] == "  bad config: boom"
    assert "  an older line" in lines


def test_a_daemon_that_never_answers_times_out(
    short_tmp: Path, spawned: list[subprocess.Popen[bytes]]
) -> None:
    log = short_tmp / "berthd.log"
    autostart = starter(
        spawned, [sys.executable, "-c", "import time; time.sleep(60)"], log, timeout=0.5
    )
    host = parse_host(f"unix://{short_tmp}/berth.sock", is_default=True)
    with pytest.raises(CannotConnect) as err:
        autostart(host)
    assert "berthd did not answer within 0.5 s; its log" in str(err.value)
    assert spawned[0].poll() is None  # left running: it may still come up


def test_a_missing_daemon_binary(short_tmp: Path, spawned: list[subprocess.Popen[bytes]]) -> None:
    autostart = starter(spawned, [str(short_tmp / "no-berthd")], short_tmp / "berthd.log")
    with pytest.raises(CannotConnect, match="could not start berthd"):
        autostart(parse_host(f"unix://{short_tmp}/berth.sock", is_default=True))


def test_not_root_never_spawns(short_tmp: Path) -> None:
    calls: list[object] = []
    autostart = Autostarter(
        argv=["unused"],
        log_path=short_tmp / "berthd.log",
        is_root=lambda: False,
        spawn=lambda argv, log: calls.append(argv),  # type: ignore[arg-type,func-returns-value]
    )
    with pytest.raises(CannotConnect):
        autostart(parse_host(f"unix://{short_tmp}/berth.sock", is_default=True))
    assert calls == []
    assert not (short_tmp / "berthd.log").exists()


def test_a_daemon_started_meanwhile_is_not_started_again(short_tmp: Path) -> None:
    calls: list[object] = []
    autostart = Autostarter(
        argv=["unused"],
        log_path=short_tmp / "berthd.log",
        is_root=lambda: True,
        spawn=lambda argv, log: calls.append(argv),  # type: ignore[arg-type,func-returns-value]
        ping=lambda host: True,
    )
    autostart(parse_host(f"unix://{short_tmp}/berth.sock", is_default=True))
    assert calls == []


def test_daemon_command_is_this_installations_berthd(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setattr(sys, "executable", str(bindir / "python3"))
    assert daemon_command() == [str(bindir / "python3"), "-m", "berth.daemon.main"]
    script = bindir / "berthd"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    assert daemon_command() == [str(script)]


def test_the_cli_offers_autostart_only_without_an_explicit_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BERTH_HOST")
    started: list[object] = []
    monkeypatch.setattr(Autostarter, "__call__", lambda self, host: started.append(host))
    hook = CliState().api()._autostart
    assert hook is not None
    hook(parse_host("unix:///run/berth/berth.sock", is_default=True))
    assert len(started) == 1
    assert CliState(host="unix:///run/berth/berth.sock").api()._autostart is None
    monkeypatch.setenv("DOCKER_HOST", "unix:///run/berth/berth.sock")
    assert CliState().api()._autostart is None
