"""The berth CLI runs real containers on a real berthd (overlay, the native isolation): `run`
with output, exit statuses (the container's, 125, 126, 127), stdin, `-it` in a real terminal
(typed input, resize, exit status, detach keys), signals forwarded, the detached lifecycle
(ps, logs, exec, top, stats, pause, stop, wait, inspect, rm), and the bad inputs of issue #4.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import CLIENT, berth, berth_ok, needs_busybox
from tests.e2e.containers import container_daemon, pty_session
from tests.integration.daemon import Daemon

pytestmark = needs_busybox

TICKER = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with container_daemon(tmp_path_factory.mktemp("containers")) as started:
        yield started


def run(daemon: Daemon, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    done = berth(daemon, *args, stdin=stdin)
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def client_env(daemon: Daemon) -> dict[str, str]:
    return {**daemon.env, "BERTH_HOST": daemon.host}


def names(daemon: Daemon) -> list[str]:
    """The names of every container of the daemon."""
    return berth_ok(daemon, "ps", "-a", "--format", "{{.Names}}").split()


# --- run -----------------------------------------------------------------------------------------


def test_run_rm_echo(daemon: Daemon) -> None:
    done = run(daemon, "run", "--rm", "--name", "rm-echo", "busybox", "echo", "hello from berth")
    assert (done.returncode, done.stdout, done.stderr) == (0, "hello from berth\n", "")
    assert "rm-echo" not in names(daemon)  # --rm: gone when the command returns


def test_stdout_and_stderr_stay_apart(daemon: Daemon) -> None:
    done = run(daemon, "run", "--rm", "busybox", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")


def test_stdin_is_piped_and_closed(daemon: Daemon) -> None:
    done = run(daemon, "run", "-i", "--rm", "busybox", "sh", "-c", "cat; echo end",
               stdin=b"line 1\nline 2\n")  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "line 1\nline 2\nend\n")


@pytest.mark.parametrize(
    ("command", "status", "message"),
    [
        (["sh", "-c", "exit 3"], 3, ""),
        (["nope"], 127, 'exec: "nope": executable file not found in $PATH'),
        (["/etc/passwd"], 126, "permission denied"),
        (["--init", "busybox", "sh", "-c", "kill -9 $$"], 137, ""),  # 128 + SIGKILL
    ],
)
def test_exit_statuses(daemon: Daemon, command: list[str], status: int, message: str) -> None:
    if command[0] != "--init":
        command = ["busybox", *command]
    done = run(daemon, "run", "--rm", *command)
    assert done.returncode == status, done.stderr
    if message:
        assert message in done.stderr
        assert done.stderr.startswith("berth: Error response from daemon: ")
        assert done.stderr.endswith("\n\nRun 'berth run --help' for more information\n")
    else:
        assert done.stderr == ""


def test_signals_are_forwarded(daemon: Daemon) -> None:
    script = 'trap "echo got TERM; exit 9" TERM; echo ready; while true; do sleep 0.1; done'
    proc = subprocess.Popen(
        [*CLIENT, "run", "--rm", "--init", "busybox", "sh", "-c", script],
        env=client_env(daemon),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert (proc.returncode, out, err) == (9, "got TERM\n", "")


# --- a real terminal -----------------------------------------------------------------------------


def test_run_it_in_a_terminal(daemon: Daemon) -> None:
    argv = [*CLIENT, "run", "-it", "--rm", "busybox", "sh"]
    with pty_session(argv, client_env(daemon), rows=24, columns=80) as term:
        term.expect(r"/ # ")
        term.type("stty size\r")
        term.expect(r"\r\n24 80\r\n")
        term.type("echo $((6*7))\r")
        term.expect(r"\r\n42\r\n")
        term.resize(30, 100)
        time.sleep(0.5)  # the resize travels: SIGWINCH -> berth -> berthd -> the monitor
        term.type("stty size\r")
        term.expect(r"\r\n30 100\r\n")
        term.type("exit 5\r")
        assert term.wait() == 5


def test_detach_keys_leave_the_container_running_and_attach_returns(daemon: Daemon) -> None:
    argv = [*CLIENT, "run", "-it", "--name", "detachable", "busybox", "sh"]
    try:
        with pty_session(argv, client_env(daemon)) as term:
            term.expect(r"/ # ")
            term.type("\x10\x11")  # ctrl-p ctrl-q
            assert term.wait() == 0
        assert berth_ok(daemon, "inspect", "-f", "{{.State.Running}}", "detachable") == "true\n"
        argv = [*CLIENT, "attach", "detachable"]
        with pty_session(argv, client_env(daemon)) as term:
            term.type("echo again\r")
            term.expect(r"\r\nagain\r\n")
            term.type("exit 7\r")
            assert term.wait() == 7
        assert berth_ok(daemon, "inspect", "-f", "{{.State.ExitCode}}", "detachable") == "7\n"
    finally:
        berth(daemon, "rm", "-f", "detachable")


def test_exec_it_in_a_terminal(daemon: Daemon) -> None:
    berth_ok(daemon, "run", "-d", "--name", "exec-it", "busybox", "sleep", "60")
    try:
        argv = [*CLIENT, "exec", "-it", "exec-it", "sh"]
        with pty_session(argv, client_env(daemon), rows=40, columns=120) as term:
            term.expect(r"/ # ")
            term.type("stty size; ps -o args | grep -c '^sleep 60$'\r")
            term.expect(r"\r\n40 120\r\n1\r\n")
            term.type("exit 4\r")
            assert term.wait() == 4
    finally:
        berth(daemon, "rm", "-f", "exec-it")


def test_run_it_needs_a_terminal(daemon: Daemon) -> None:
    before = names(daemon)
    done = run(daemon, "run", "-it", "--rm", "busybox", "sh")
    assert (done.returncode, done.stderr) == (1, "the input device is not a TTY\n")
    assert names(daemon) == before  # nothing was created


# --- the detached lifecycle ----------------------------------------------------------------------


def test_detached_lifecycle(daemon: Daemon) -> None:
    ident = berth_ok(daemon, "run", "-d", "--name", "ticker", "-l", "role=test", "busybox",
                     "sh", "-c", TICKER).strip()  # fmt: skip
    assert len(ident) == 64
    try:
        listing = berth_ok(daemon, "ps", "--filter", "name=ticker", "--format",
                           "{{.Names}} {{.Status}} {{.Labels}}")  # fmt: skip
        assert listing.startswith("ticker Up ") and listing.endswith(" role=test\n")
        time.sleep(0.7)
        logs = berth_ok(daemon, "logs", "--tail", "2", "ticker").splitlines()
        assert len(logs) == 2 and all(line.startswith("tick ") for line in logs)
        stamped = berth_ok(daemon, "logs", "-t", "ticker").splitlines()[0]
        assert stamped.endswith(" tick 0") and stamped[:4].isdigit() and "T" in stamped[:20]
        assert berth_ok(daemon, "exec", "ticker", "cat", "/etc/hostname") == ident[:12] + "\n"
        top = berth_ok(daemon, "top", "ticker").splitlines()
        assert top[0].split()[:2] == ["UID", "PID"] and any("sh -c" in line for line in top)
        stats = berth_ok(daemon, "stats", "--no-stream", "--format",
                         "{{.Name}} {{.PIDs}} {{.MemUsage}}", "ticker")  # fmt: skip
        name, pids, usage = stats.split(" ", 2)
        assert name == "ticker" and int(pids) >= 1 and " / " in usage
        assert berth_ok(daemon, "pause", "ticker") == "ticker\n"
        assert berth_ok(daemon, "inspect", "-f", "{{.State.Status}}", "ticker") == "paused\n"
        assert berth_ok(daemon, "unpause", "ticker") == "ticker\n"
        assert berth_ok(daemon, "stop", "-t", "1", "ticker") == "ticker\n"
        assert berth_ok(daemon, "wait", "ticker") == "137\n"  # sh as PID 1 ignores SIGTERM
        state = json.loads(berth_ok(daemon, "inspect", "ticker"))[0]["State"]
        assert (state["Status"], state["ExitCode"], state["Running"]) == ("exited", 137, False)
        assert "Exited (137)" in berth_ok(daemon, "ps", "-a", "--format", "{{.Status}}")
        assert berth_ok(daemon, "start", "ticker") == "ticker\n"
        assert berth_ok(daemon, "kill", "-s", "KILL", "ticker") == "ticker\n"
        assert berth_ok(daemon, "wait", "ticker") == "137\n"
        assert berth_ok(daemon, "rename", "ticker", "tocker") == ""
    finally:
        berth(daemon, "rm", "-f", "ticker", "tocker")
    assert not {"ticker", "tocker"} & set(names(daemon))


def test_stats_stream_redraws_until_interrupted(daemon: Daemon) -> None:
    ident = berth_ok(daemon, "run", "-d", "--name", "watched", "busybox", "sleep", "60").strip()
    try:
        proc = subprocess.Popen(
            [*CLIENT, "stats", "--no-trunc"],
            env=client_env(daemon),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(2.5)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 130
        frames = out.split(b"\x1b[H")[1:]
        assert len(frames) >= 2  # redrawn every half second
        assert frames[0].startswith(b"CONTAINER ID ") and ident.encode() in frames[0]
        assert b" watched " in frames[0] and frames[0].endswith(b"\x1b[J")
    finally:
        berth(daemon, "rm", "-f", "watched")


def test_logs_follow_streams_until_the_exit(daemon: Daemon) -> None:
    berth_ok(daemon, "run", "-d", "--name", "counter", "busybox", "sh", "-c",
             "for i in 1 2 3; do echo line $i; sleep 0.3; done")  # fmt: skip
    try:
        done = run(daemon, "logs", "-f", "counter")
        assert (done.returncode, done.stdout) == (0, "line 1\nline 2\nline 3\n")
    finally:
        berth(daemon, "rm", "-f", "counter")


def test_container_prune(daemon: Daemon) -> None:
    ident = berth_ok(daemon, "create", "busybox", "true").strip()
    done = run(daemon, "container", "prune", "-f")
    assert done.returncode == 0
    assert f"\n{ident}\n" in done.stdout and done.stdout.startswith("Deleted Containers:\n")
    assert ident[:12] not in berth_ok(daemon, "ps", "-aq")


# --- bad inputs ----------------------------------------------------------------------------------


def test_unknown_image(daemon: Daemon) -> None:
    done = run(daemon, "run", "--rm", "nope:1")
    assert done.returncode == 125
    assert done.stderr.startswith("Unable to find image 'nope:1' locally\nberth: ")
    assert len(done.stderr.strip().splitlines()) == 4  # the pull's error, and the help hint


def test_conflicting_names(daemon: Daemon) -> None:
    berth_ok(daemon, "create", "--name", "taken", "busybox")
    try:
        done = run(daemon, "run", "--name", "taken", "busybox", "true")
        assert done.returncode == 125
        assert 'Conflict. The container name "/taken" is already in use' in done.stderr
        created = run(daemon, "create", "--name", "taken", "busybox")
        assert created.returncode == 1 and created.stderr.startswith(
            "Error response from daemon: Conflict."
        )
    finally:
        berth(daemon, "rm", "taken")


def test_removing_a_running_container_needs_force(daemon: Daemon) -> None:
    berth_ok(daemon, "run", "-d", "--name", "busy", "busybox", "sleep", "60")
    try:
        done = run(daemon, "rm", "busy")
        assert done.returncode == 1
        assert done.stderr.startswith("Error response from daemon: ")
        assert "stop the container before removing or force remove" in done.stderr
        assert len(done.stderr.splitlines()) == 1
    finally:
        assert run(daemon, "rm", "-f", "busy").stdout == "busy\n"


@pytest.mark.parametrize(
    ("args", "status", "first_line"),
    [
        (["run", "--memory", "lots", "busybox"], 125,
         'invalid argument "lots" for "-m, --memory" flag: invalid size: \'lots\''),
        (["run", "--bogus", "busybox"], 125, "unknown flag: --bogus"),
        (["run"], 1, "berth: 'berth run' requires at least 1 argument"),
        (["run", "--rm", "--restart", "always", "busybox"], 125,
         "berth: conflicting options: cannot specify both --restart and --rm"),
        (["stop", "nope"], 1, "Error response from daemon: No such container: nope"),
        (["exec", "nope", "true"], 1, "Error response from daemon: No such container: nope"),
        (["logs", "nope"], 1, "Error response from daemon: No such container: nope"),
        (["inspect", "nope"], 1, "Error: No such object: nope"),
    ],
)  # fmt: skip
def test_bad_inputs(daemon: Daemon, args: list[str], status: int, first_line: str) -> None:
    before = names(daemon)
    done = run(daemon, *args)
    assert done.returncode == status
    assert done.stderr.splitlines()[0] == first_line
    assert names(daemon) == before


def test_exec_in_a_stopped_container(daemon: Daemon) -> None:
    berth_ok(daemon, "create", "--name", "idle", "busybox", "true")
    try:
        done = run(daemon, "exec", "idle", "true")
        assert done.returncode == 1
        assert done.stderr.startswith("Error response from daemon: ")
        assert "is not running" in done.stderr
    finally:
        berth(daemon, "rm", "idle")


def test_install_main_job_line(daemon: Daemon, tmp_path: Path) -> None:
    """install.sh's main job, as it runs it (see its main_job function)."""
    import re

    from tests.e2e.test_install_seed import INSTALL

    body = re.search(r"^main_job\(\) \{\n(.*?)^\}", INSTALL.read_text(), re.M | re.S)
    assert body is not None
    assert "berth run --rm busybox echo hello from berth" in body.group(1)
    done = run(daemon, "run", "--rm", "busybox", "echo", "hello from berth")
    assert done.stdout == "hello from berth\n"
