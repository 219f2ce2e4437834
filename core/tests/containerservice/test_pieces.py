"""The service's pure pieces: restart policies and back-off, signals, detach keys, json-file
reading with rotation, exit codes of start errors, init-path filtering of changes."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from berth.engine.containers import logs, restart
from berth.engine.containers.attach import EscapeScanner, parse_detach_keys
from berth.engine.containers.service import filter_init_changes
from berth.engine.containers.signals import parse_signal
from berth.engine.containers.supervisor import exit_code_for
from berth.engine.errors import BadParameter

# --- restart policies ----------------------------------------------------------------------


def test_policies_parse_with_dockers_rules() -> None:
    assert restart.parse_policy(None).name == "no"
    assert restart.parse_policy({"Name": ""}).is_none
    assert restart.parse_policy({"Name": "on-failure", "MaximumRetryCount": 3}) == (
        restart.RestartPolicy("on-failure", 3)
    )
    with pytest.raises(BadParameter, match="can only be used with 'on-failure'"):
        restart.parse_policy({"Name": "always", "MaximumRetryCount": 2})
    with pytest.raises(BadParameter, match="cannot be negative"):
        restart.parse_policy({"Name": "on-failure", "MaximumRetryCount": -1})
    with pytest.raises(BadParameter, match="unknown policy 'never'"):
        restart.parse_policy({"Name": "never"})


def test_back_off_doubles_caps_at_a_minute_and_resets_after_a_long_run() -> None:
    manager = restart.RestartManager(restart.RestartPolicy("always"))
    delays = []
    for _ in range(12):
        assert manager.should_restart(1, False, 0.5)
        delays.append(manager.delay)
    assert delays[:4] == [0.1, 0.2, 0.4, 0.8]
    assert delays[-1] == 60.0 and max(delays) == 60.0
    assert manager.should_restart(0, False, 15.0) and manager.delay == 0.1
    manager.cancel()
    assert not manager.should_restart(1, False, 0.1)


def test_on_failure_counts_and_unless_stopped_respects_a_manual_stop() -> None:
    manager = restart.RestartManager(restart.RestartPolicy("on-failure", 2))
    assert [manager.should_restart(1, False, 0) for _ in range(3)] == [True, True, False]
    assert not restart.RestartManager(restart.RestartPolicy("on-failure")).should_restart(
        0, False, 0
    )
    unless = restart.RestartManager(restart.RestartPolicy("unless-stopped"))
    assert unless.should_restart(0, False, 0) and not unless.should_restart(0, True, 0)
    at_start = restart.restart_at_daemon_start
    assert at_start(restart.RestartPolicy("always"), True, 0, 0)
    assert not at_start(restart.RestartPolicy("unless-stopped"), True, 0, 0)
    assert at_start(restart.RestartPolicy("on-failure", 2), False, 1, 1)
    assert not at_start(restart.RestartPolicy("on-failure", 2), False, 1, 2)
    assert not at_start(restart.RestartPolicy("no"), False, 1, 0)


# --- signals, detach keys, exit codes --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [("9", 9), ("KILL", 9), ("sigterm", 15), ("SIGHUP", 1), ("RTMIN+1", 35), ("SIGRTMAX", 64)],
)
def test_signals_parse_like_docker(text: str, number: int) -> None:
    assert parse_signal(text) == number


@pytest.mark.parametrize("text", ["0", "65", "NOPE", "SIGKILLX", "-1", ""])
def test_bad_signals_are_refused(text: str) -> None:
    with pytest.raises(BadParameter, match=r"^Invalid signal: "):
        parse_signal(text)


def test_detach_keys() -> None:
    assert parse_detach_keys("ctrl-p,ctrl-q") == b"\x10\x11"
    assert parse_detach_keys("a,ctrl-@,ctrl-\\") == b"a\x00\x1c"
    with pytest.raises(BadParameter, match="Invalid detach keys"):
        parse_detach_keys("ctrl-1")
    scanner = EscapeScanner(b"\x10\x11")
    assert scanner.feed(b"ab\x10") == (b"ab", False)  # a partial match is held back
    assert scanner.feed(b"c") == (b"\x10c", False)  # and released when it is not the sequence
    assert scanner.feed(b"x\x10\x11rest") == (b"x", True)
    other = EscapeScanner(b"\x10\x11")
    assert other.feed(b"\x10") == (b"", False) and other.flush() == b"\x10"


def test_start_error_texts_give_dockers_exit_codes() -> None:
    assert exit_code_for('exec: "x": executable file not found in $PATH') == 127
    assert exit_code_for('exec: "/x": stat /x: no such file or directory') == 127
    assert exit_code_for('exec: "/etc": permission denied') == 126
    assert exit_code_for("cgroup setup failed") == 128


def test_init_mount_points_are_not_changes() -> None:
    found = [
        {"Path": "/dev", "Kind": 1},
        {"Path": "/dev/pts", "Kind": 1},
        {"Path": "/etc", "Kind": 0},
        {"Path": "/etc/hosts", "Kind": 1},
        {"Path": "/proc", "Kind": 1},
        {"Path": "/root", "Kind": 0},
        {"Path": "/root/.ash_history", "Kind": 1},
    ]
    assert filter_init_changes(found) == [
        {"Path": "/root", "Kind": 0},
        {"Path": "/root/.ash_history", "Kind": 1},
    ]
    mine = [{"Path": "/etc", "Kind": 0}, {"Path": "/etc/hosts", "Kind": 1},
            {"Path": "/etc/motd", "Kind": 1}]  # fmt: skip
    assert filter_init_changes(mine) == [mine[0], mine[2]]


# --- json-file logs --------------------------------------------------------------------------


def _line(text: str, stream: str, stamp: str) -> bytes:
    return json.dumps({"log": text, "stream": stream, "time": stamp}).encode() + b"\n"


def _t(second: int) -> str:
    return f"2026-01-01T00:00:{second:02d}.000000001Z"


def test_times_parse_to_nanoseconds() -> None:
    assert logs.parse_time_ns("1970-01-01T00:00:01.5Z") == 1_500_000_000
    assert logs.parse_time_ns("1970-01-01T01:00:00+01:00") == 0
    assert logs.format_time_ns(1_500_000_000) == "1970-01-01T00:00:01.500000000Z"
    assert logs.parse_api_time("1.000000002", "since") == 1_000_000_002
    assert logs.parse_api_time("", "since") == 0
    with pytest.raises(BadParameter):
        logs.parse_api_time("yesterday", "since")
    assert logs.parse_tail("all") is None and logs.parse_tail("3") == 3
    with pytest.raises(BadParameter):
        logs.parse_tail("x")


def test_reading_across_rotated_files_with_tail_since_until(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    (tmp_path / "c-json.log.2").write_bytes(_line("a\n", "stdout", _t(1)))
    (tmp_path / "c-json.log.1").write_bytes(_line("b\n", "stderr", _t(2)) + b"garbage\n")
    path.write_bytes(_line("c\n", "stdout", _t(3)) + _line("d\n", "stdout", _t(4)))

    def texts(query: logs.LogQuery) -> list[bytes]:
        return [e.data for e in logs.read_log(path, query)]

    assert texts(logs.LogQuery()) == [b"a\n", b"b\n", b"c\n", b"d\n"]
    assert texts(logs.LogQuery(tail=3)) == [b"b\n", b"c\n", b"d\n"]
    assert texts(logs.LogQuery(stderr=False)) == [b"a\n", b"c\n", b"d\n"]
    since = logs.parse_time_ns(_t(2))
    until = logs.parse_time_ns(_t(3))
    assert texts(logs.LogQuery(since_ns=since, until_ns=until)) == [b"b\n", b"c\n"]
    rendered = logs.render(logs.LogEntry(2, 0, b"x"), True, False)
    assert rendered == b"\x02\x00\x00\x00\x00\x00\x00\x201970-01-01T00:00:00.000000000Z x"


def test_follow_sees_appends_and_rotation_then_ends_at_the_stop(tmp_path: Path) -> None:
    path = tmp_path / "c-json.log"
    path.write_bytes(_line("one\n", "stdout", _t(1)))
    state = {"stopped": False}

    async def scenario() -> list[bytes]:
        got: list[bytes] = []

        async def writer() -> None:
            await asyncio.sleep(0.1)
            with path.open("ab") as f:
                f.write(_line("two\n", "stdout", _t(2)))
            await asyncio.sleep(0.1)
            os.rename(path, str(path) + ".1")  # rotation: the old file keeps its tail
            with (tmp_path / "c-json.log.1").open("ab") as f:
                f.write(_line("three\n", "stdout", _t(3)))
            path.write_bytes(_line("four\n", "stdout", _t(4)))
            await asyncio.sleep(0.1)
            state["stopped"] = True

        task = asyncio.ensure_future(writer())
        query = logs.LogQuery(follow=True)
        async for entry in logs.follow_log(path, query, lambda: state["stopped"], poll=0.01):
            got.append(entry.data)
        await task
        return got

    assert asyncio.run(scenario()) == [b"one\n", b"two\n", b"three\n", b"four\n"]
