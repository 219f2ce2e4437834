"""The monitor's life: create, start, exits and signals, failures, exec, berthd's death, the end."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from berth.monitor import client

from .conftest import (
    HERE,
    Box,
    alive,
    children_of,
    log_entries,
    raw_connect,
    read_all,
    stream_bytes,
    wait_gone,
)

#: Modules a monitor must never load: heavy ones (memory per container is a budget) and the
#: daemon's own.
FORBIDDEN = ("json", "typing", "socket", "signal", "dataclasses", "re", "enum", "subprocess")
FORBIDDEN_PREFIXES = ("pluggy", "structlog", "stevedore", "h11", "berth.engine", "berth.daemon")


def test_created_then_running_then_stopped(box: Box) -> None:
    box.spawn(["sh", "-c", "read x; exit 7"], open_stdin=True, stdin_once=True)
    assert client.state(box.state)["status"] == "created"
    assert alive(box.init_pid)
    assert client.monitor_pid(box.state) == box.monitor_pid
    assert Path(box.state, "monitor.pid").read_text() == f"{box.monitor_pid}\n"
    assert client.start(box.state) == box.init_pid
    state = client.state(box.state)
    assert state["status"] == "running"
    assert state["started_at"].endswith("Z")
    attached = client.attach(box.state, stdin=True)
    attached.shutdown(socket.SHUT_WR)
    assert read_all(attached) == []
    status = client.wait(box.state)
    assert (status.exit_code, status.oom_killed, status.pid) == (7, False, box.init_pid)
    assert box.finished()
    recorded = json.loads(Path(box.state, "exit.json").read_text())
    assert recorded["exit_code"] == 7
    assert recorded["finished_at"] == status.finished_at
    assert client.read_exit(box.state) == status
    assert client.monitor_pid(box.state) is None
    leftovers = sorted(p.name for p in box.state.iterdir())
    assert leftovers == ["deleted", "exit.json", "monitor.log"]  # no socket, no pid file
    assert Path(box.state, "monitor.log").read_text() == ""


@pytest.mark.parametrize(
    ("script", "code"),
    [("exit 0", 0), ("exit 42", 42), ("kill -TERM $$", 143), ("kill -KILL $$", 137)],
)
def test_exit_codes_and_signals(box: Box, script: str, code: int) -> None:
    assert box.run(["sh", "-c", script]).exit_code == code
    assert box.finished()


def test_kill_sends_a_signal_to_the_init(box: Box) -> None:
    box.spawn(["sh", "-c", "trap 'echo got-usr1; exit 5' USR1; while :; do sleep 0.05; done"])
    client.start(box.state)
    time.sleep(0.3)
    client.kill(box.state, signal.SIGUSR1)
    status = client.wait(box.state)
    assert status.exit_code == 5
    assert [e["log"] for e in log_entries(box.log)] == ["got-usr1\n"]
    with pytest.raises(client.MonitorGone):
        client.kill(box.state, 9)


def test_bad_kill_requests(box: Box) -> None:
    box.spawn(["sleep", "10"])
    for bad in (0, 65, -1):
        with pytest.raises(client.MonitorError, match="invalid signal"):
            client.kill(box.state, bad)


def test_a_killed_created_container_finishes(box: Box) -> None:
    box.spawn(["echo", "never"])
    client.kill(box.state, 9)
    assert client.wait(box.state).exit_code == 137
    assert box.finished()
    assert log_entries(box.log) == [] if box.log.exists() else True


def test_waiters_all_get_the_exit(box: Box) -> None:
    box.spawn(["sh", "-c", "sleep 0.3; exit 9"])
    waiting = []
    for _ in range(5):
        sock = raw_connect(box.state)
        sock.sendall(b'{"op": "wait"}\n')
        waiting.append(sock)
    client.start(box.state)
    for sock in waiting:
        with sock:
            sock.settimeout(10)
            assert json.loads(sock.makefile("rb").readline())["exit_code"] == 9
    assert client.wait(box.state).exit_code == 9  # after the monitor is gone: exit.json


def test_launcher_failure_at_create_is_reported_and_nothing_is_left(box: Box) -> None:
    with pytest.raises(client.MonitorError) as caught:
        box.spawn(["true"], annotations={"test.fail-create": "no cgroup for you"})
    assert caught.value.message == "no cgroup for you"
    assert sorted(p.name for p in box.state.iterdir()) == ["monitor.log"]
    assert client.monitor_pid(box.state) is None


@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (["nope"], 'exec: "nope": executable file not found in $PATH', 127),
        (["/nope"], 'exec: "/nope": stat /nope: no such file or directory', 127),
        (["/etc/passwd"], 'exec: "/etc/passwd": permission denied', 126),
    ],
)
def test_start_failures_have_dockers_text_and_exit_code(
    box: Box, args: list[str], message: str, code: int
) -> None:
    box.spawn(args)
    with pytest.raises(client.MonitorError) as caught:
        client.start(box.state)
    assert (caught.value.message, caught.value.exit_code) == (message, code)
    status = client.wait(box.state)
    assert (status.exit_code, status.error) == (code, message)
    assert box.finished()


def test_a_launcher_that_cannot_be_imported(box: Box) -> None:
    box.launcher = "no_such_launcher_module"
    with pytest.raises(client.MonitorError, match="cannot import the launcher"):
        box.spawn(["true"])


def test_a_monitor_that_dies_before_it_is_ready(box: Box) -> None:
    box.launcher = "crashlauncher"
    with pytest.raises(client.MonitorError) as caught:
        box.spawn(["true"])
    assert caught.value.message == "the monitor failed to start: crashlauncher: giving up"


def test_bad_requests_get_one_line_answers(box: Box) -> None:
    box.spawn(["sleep", "10"])
    sock, reply = client.request(box.state, {"op": "dance"})
    sock.close()
    assert reply == {"ok": False, "error": "unknown op 'dance'"}
    for line, error in ((b"{not json\n", "bad request"), (b"[1]\n", "not a JSON object")):
        with raw_connect(box.state) as raw:
            raw.sendall(line)
            answer = json.loads(raw.makefile("rb").readline())
        assert answer["ok"] is False and error in answer["error"]
    client.start(box.state)
    with pytest.raises(client.MonitorError, match="already started"):
        client.start(box.state)


def test_exec_runs_beside_the_init_with_its_own_streams(box: Box) -> None:
    box.spawn(["sleep", "30"])
    with pytest.raises(client.MonitorError, match="is not running"):
        client.exec_process(box.state, "e0", {"args": ["true"]})
    client.start(box.state)
    process = {"args": ["sh", "-c", "echo out; echo err >&2; exit 3"], "env": ["PATH=/bin"]}
    pid, stream = client.exec_process(box.state, "e1", process)
    got = read_all(stream)
    assert got[-1] == (3, b'{"exit_code":3}')
    assert stream_bytes(got, 1) == b"out\n" and stream_bytes(got, 2) == b"err\n"
    assert client.wait_exec(box.state, "e1") == 3
    assert wait_gone(pid)
    assert not log_entries(box.log) if box.log.exists() else True  # exec output is not logged
    with pytest.raises(client.MonitorError, match="exists already"):
        client.exec_process(box.state, "e1", process)


def test_exec_with_stdin_and_with_a_terminal(box: Box) -> None:
    box.spawn(["sleep", "30"])
    client.start(box.state)
    _pid, stream = client.exec_process(box.state, "in", {"args": ["wc", "-l"]}, stdin=True)
    stream.sendall(b"a\nb\nc\n")
    stream.shutdown(socket.SHUT_WR)
    assert read_all(stream) == [(1, b"3\n"), (3, b'{"exit_code":0}')]
    script = {"args": ["sh", "-c", "stty size; read x; echo [$x]"]}
    _pid, tty = client.exec_process(box.state, "tty", script, tty=True, stdin=True)
    client.resize(box.state, 20, 70, exec_id="tty")
    time.sleep(0.1)
    tty.sendall(b"hey\n")
    got = read_all(tty)
    text = stream_bytes(got, 1)
    assert b"[hey]\r\n" in text
    assert got[-1] == (3, b'{"exit_code":0}')


def test_exec_failures_and_bad_exec_requests(box: Box) -> None:
    box.spawn(["sleep", "30"])
    client.start(box.state)
    with pytest.raises(client.MonitorError) as caught:
        client.exec_process(box.state, "bad", {"args": ["nope"]})
    assert caught.value.message == 'exec: "nope": executable file not found in $PATH'
    assert caught.value.exit_code == 127
    with pytest.raises(client.MonitorError, match=r"exec needs process\.args"):
        client.exec_process(box.state, "x", {"args": []})
    with pytest.raises(client.MonitorError, match="no exec 'ghost'"):
        client.wait_exec(box.state, "ghost")


def test_detached_exec_keeps_running_and_is_reaped(box: Box) -> None:
    box.spawn(["sleep", "30"])
    client.start(box.state)
    for n in range(5):
        pid, stream = client.exec_process(box.state, f"d{n}", {"args": ["sh", "-c", "seq 1 50000"]})
        stream.close()  # `docker exec -d`: nobody reads the output
        assert client.wait_exec(box.state, f"d{n}", timeout=20) == 0
        assert wait_gone(pid)
    assert children_of(box.monitor_pid) == [(box.init_pid, "S")]  # no zombie


def test_execs_die_with_the_container(box: Box) -> None:
    box.spawn(["sleep", "30"])
    client.start(box.state)
    pid, stream = client.exec_process(box.state, "long", {"args": ["sleep", "60"]})
    client.kill(box.state, 9)
    assert read_all(stream)[-1] == (3, b'{"exit_code":137}')
    assert box.finished()
    assert wait_gone(pid)


def test_the_monitor_stops_waiting_for_output_held_by_a_leftover_process(box: Box) -> None:
    box.spawn(["sh", "-c", "(sleep 3; echo late) & echo early"], grace=0.3)
    attached = client.attach(box.state)
    started = time.monotonic()
    client.start(box.state)
    assert read_all(attached) == [(1, b"early\n")]
    assert time.monotonic() - started < 2.5
    assert client.wait(box.state).exit_code == 0
    assert wait_gone(box.monitor_pid)


def test_oom_kills_are_reported(box: Box) -> None:
    box.spawn(["sh", "-c", "kill -KILL $$"])
    Path(box.state, "oom").touch()  # the test launcher's stand-in for the cgroup's OOM count
    client.start(box.state)
    status = client.wait(box.state)
    assert (status.exit_code, status.oom_killed) == (137, True)


def test_the_monitor_outlives_the_daemon_that_started_it(tmp_path: Path, box: Box) -> None:
    go = tmp_path / "go"  # the command's second half waits for this, not for a guessed time
    box.configure(
        ["sh", "-c", f"echo before; while [ ! -e {go} ]; do sleep 0.02; done; echo after; exit 3"]
    )
    daemon = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import sys, time
                from berth.monitor import client
                pid = client.spawn({str(box.state)!r}, {str(box.bundle)!r}, "ctr",
                                   "forklauncher", paths=[{str(HERE)!r}],
                                   log_path={str(box.log)!r})
                client.attach({str(box.state)!r})  # a stream the daemon never reads
                client.start({str(box.state)!r})
                print(pid, flush=True)
                time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert daemon.stdout is not None
        box.monitor_pid = int(daemon.stdout.readline())
        box.init_pid = int(client.state(box.state)["pid"])
    finally:
        daemon.kill()  # berthd's kill -9
        daemon.wait()
    assert alive(box.monitor_pid)
    deadline = time.monotonic() + 30  # "before" is in the log: the new attach comes after it
    while not box.log.exists() or not log_entries(box.log):
        assert time.monotonic() < deadline, "the command never wrote its first line"
        time.sleep(0.02)
    again = client.attach(box.state)  # a new daemon attaches
    go.touch()
    assert read_all(again) == [(1, b"after\n")]
    assert client.wait(box.state).exit_code == 3
    assert [e["log"] for e in log_entries(box.log)] == ["before\n", "after\n"]
    assert box.finished()


def test_an_exit_while_no_daemon_runs_is_in_exit_json(box: Box) -> None:
    box.spawn(["sh", "-c", "exit 12"])
    client.start(box.state)
    assert box.finished()
    # The restarted daemon finds no monitor, and the exit recorded.
    assert client.monitor_pid(box.state) is None
    with pytest.raises(client.MonitorGone):
        client.state(box.state)
    assert client.wait(box.state).exit_code == 12
    assert client.read_exit(box.state).exit_code == 12  # type: ignore[union-attr]


def test_a_killed_monitor_is_reported_as_gone(box: Box) -> None:
    box.spawn(["sleep", "30"])
    os.kill(box.monitor_pid, signal.SIGKILL)
    assert wait_gone(box.monitor_pid)
    with pytest.raises(client.MonitorGone):
        client.wait(box.state)


def test_spawn_clears_the_exit_of_the_previous_run(box: Box) -> None:
    assert box.run(["sh", "-c", "exit 1"]).exit_code == 1
    assert box.finished()
    box.spawn(["sleep", "10"])
    assert client.read_exit(box.state) is None
    client.kill(box.state, 9)
    assert client.wait(box.state).exit_code == 137


def test_the_monitor_stays_lean(box: Box) -> None:
    box.launcher = "modlauncher"
    box.spawn(["sleep", "30"])
    client.start(box.state)
    attached = [client.attach(box.state) for _ in range(3)]
    time.sleep(0.2)
    status = Path(f"/proc/{box.monitor_pid}/status").read_text()
    rss_kib = int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])
    client.kill(box.state, 9)
    client.wait(box.state)
    for sock in attached:
        sock.close()
    modules = Path(box.state, "modules.txt").read_text().split()
    assert "berth.monitor.server" in modules
    assert not [m for m in modules if m in FORBIDDEN or m.startswith(FORBIDDEN_PREFIXES)]
    # The budget is about 10 MiB; most of it is the interpreter itself (python -I -S: ~8.5).
    assert rss_kib < 11 * 1024, f"the monitor uses {rss_kib} KiB"
