"""The monitor's small parts: its command line, its JSON, frames, exit codes, timestamps."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from berth.monitor import frames, jsonlite
from berth.monitor.options import Options, parse
from berth.monitor.server import docker_exit_code
from berth.monitor.system import exit_code_of, socket_address, timestamp, write_atomic


def test_options_round_trip() -> None:
    opts = Options(
        "c1",
        "/run/berth/containers/c1",
        "/b",
        "pkg.launcher",
        paths=["/a", "/b"],
        log_path="/l/c1-json.log",
        log_max_size=1024,
        log_max_file=3,
        tty=True,
        open_stdin=True,
        stdin_once=True,
        ready_fd=7,
        grace=0.5,
    )
    back = parse(opts.to_argv())
    assert vars(back) == vars(opts)
    plain = parse(Options("c", "/s", "/b", "m").to_argv())
    assert (plain.tty, plain.open_stdin, plain.log_path, plain.log_max_size) == (
        False,
        False,
        "",
        -1,
    )


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "missing --id, --state-dir, --bundle, --launcher"),
        (["--id", "c", "--state-dir", "/s", "--bundle", "/b"], "missing --launcher"),
        (["--id"], "--id needs a value"),
        (["--frobnicate"], "unknown argument '--frobnicate'"),
        (["--ready-fd", "x"], "--ready-fd needs a number, not 'x'"),
    ],
)
def test_bad_command_lines(argv: list[str], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse(argv)
    assert str(caught.value) == message


def test_the_program_refuses_a_bad_command_line_in_one_line() -> None:
    main = Path(__file__).resolve().parents[2] / "src" / "berth" / "monitor" / "main.py"
    done = subprocess.run(
        [sys.executable, "-I", "-S", str(main), "--bogus"], capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr == "berth monitor: unknown argument '--bogus'\n"


def test_json_both_ways() -> None:
    value = {"op": "exec", "process": {"args": ["sh", "-c", "é\n\0"], "n": [1, 2.5, True, None]}}
    assert jsonlite.loads(jsonlite.dumps(value)) == value
    assert json.loads(jsonlite.dumps(value)) == value
    assert jsonlite.loads(b' {"a": 1}\n') == {"a": 1}


@pytest.mark.parametrize("text", ["", "{", '{"a": 1} x', "NaN", "[1,]", "'x'"])
def test_bad_json_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        jsonlite.loads(text)


def test_json_refuses_what_it_cannot_write() -> None:
    with pytest.raises(TypeError):
        jsonlite.dumps({"a": object()})
    with pytest.raises(ValueError):
        jsonlite.dumps({"a": float("nan")})


def test_frames() -> None:
    assert frames.frame(2, b"abc") == b"\x02\x00\x00\x00\x00\x00\x00\x03abc"
    assert frames.parse_header(b"\x01\x00\x00\x00\x00\x01\x00\x00") == (1, 65536)
    big = b"x" * (frames.MAX_PAYLOAD + 5)
    data = frames.frame(1, big)
    assert frames.parse_header(data[:8]) == (1, frames.MAX_PAYLOAD)
    rest = data[8 + frames.MAX_PAYLOAD :]
    assert frames.parse_header(rest[:8]) == (1, 5)
    for bad in (b"\x04\0\0\0\0\0\0\1", b"\x01\0\1\0\0\0\0\1", b"\x01\0\0"):
        with pytest.raises(ValueError):
            frames.parse_header(bad)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ('exec: "nope": executable file not found in $PATH', 127),
        ('exec: "/nope": stat /nope: no such file or directory', 127),
        ('exec: "/etc/passwd": permission denied', 126),
        ("exec format error", 126),
        ("cgroup setup failed", 128),
    ],
)
def test_docker_exit_codes_of_start_failures(message: str, code: int) -> None:
    assert docker_exit_code(message) == code


def test_exit_codes_of_wait_statuses() -> None:
    for command, code in (
        ("exit 0", 0),
        ("exit 3", 3),
        ("kill -TERM $$", 143),
        ("kill -9 $$", 137),
    ):
        pid = os.spawnv(os.P_NOWAIT, "/bin/sh", ["sh", "-c", command])
        _, status = os.waitpid(pid, 0)
        assert exit_code_of(status) == code, command


def test_timestamps_are_rfc3339_with_nanoseconds() -> None:
    assert timestamp(1_700_000_000_000_000_007) == "2023-11-14T22:13:20.000000007Z"
    assert timestamp(0) == "1970-01-01T00:00:00.000000000Z"


def test_write_atomic_replaces_whole_files(tmp_path: Path) -> None:
    target = tmp_path / "exit.json"
    write_atomic(str(target), b"one")
    write_atomic(str(target), b"two")
    assert target.read_bytes() == b"two"
    assert [p.name for p in tmp_path.iterdir()] == ["exit.json"]
    assert target.stat().st_mode & 0o777 == 0o600


def test_long_socket_paths_go_through_proc(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    short, fd = socket_address(str(tmp_path / "s.sock"))
    assert (short, fd) == (str(tmp_path / "s.sock"), -1)
    address, fd = socket_address(str(deep / "monitor.sock"))
    try:
        assert address == f"/proc/self/fd/{fd}/monitor.sock"
        assert os.path.samefile(f"/proc/self/fd/{fd}", deep)
    finally:
        os.close(fd)


def test_finished_execs_are_forgotten_beyond_a_bound(tmp_path: Path) -> None:
    """A healthcheck adds an exec every interval: the monitor keeps only the newest finished."""
    from types import ModuleType

    from berth.monitor.server import KEPT_EXECS, Monitor, Session

    class Quiet:
        outputs: dict[int, int] = {}

    monitor = Monitor(Options("c", str(tmp_path), str(tmp_path), "x"), ModuleType("launcher"))
    running = Session(Quiet(), stdin_once=True, exec_id="running")  # type: ignore[arg-type]
    monitor.execs["running"] = running
    for n in range(KEPT_EXECS + 10):
        done = Session(Quiet(), stdin_once=True, exec_id=f"e{n}")  # type: ignore[arg-type]
        done.done = True
        monitor.execs[done.exec_id] = done
        monitor.exec_exits[done.exec_id] = 0
    monitor._forget_old_execs()
    finished = [k for k, s in monitor.execs.items() if s.done]
    assert finished == [f"e{n}" for n in range(10, KEPT_EXECS + 10)]
    assert "running" in monitor.execs  # one still running is never forgotten
    assert list(monitor.exec_exits) == finished
