"""The launcher under core's monitor, with real runc: what a container's life looks like."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from berth.monitor import client

from .conftest import OciBox, cgroup_dirs, frames_of, needs_runc, output, wait_gone

pytestmark = needs_runc


def test_a_container_runs_isolated_and_leaves_nothing(box: OciBox) -> None:
    status, out, err = box.run(
        ["sh", "-c", "echo hi; echo oops >&2; echo pid=$$ host=$(hostname); exit 3"]
    )
    assert (out, err) == (b"hi\npid=1 host=oci-box\n", b"oops\n")
    assert status.exit_code == 3
    assert box.finished()
    logged = [json.loads(line) for line in box.log.read_text().splitlines()]
    assert [e["log"] for e in logged if e["stream"] == "stdout"] == ["hi\n", "pid=1 host=oci-box\n"]
    assert box.runc_list() == []
    assert cgroup_dirs(box.id) == []
    assert sorted(p.name for p in box.state.iterdir()) == ["exit.json", "monitor.log"]


def test_prepare_names_the_runtime_and_its_root(box: OciBox) -> None:
    box.spawn(["sleep", "10"])
    written = json.loads((box.state / "oci-runtime.json").read_text())
    assert written == {
        "binary": box.runtime.binary,
        "args": [],
        "root": str(box.ctx.run_dir),
        "id": box.id,
    }
    assert box.runc_list() == [box.id]
    assert box.runtime.state(box.state).status == "created"


def test_without_prepare_the_launcher_uses_runc_with_its_state_in_the_state_dir(
    box: OciBox,
) -> None:
    box.spawn(["sleep", "10"], prepare=False)
    written = json.loads((box.state / "oci-runtime.json").read_text())
    assert written["root"] == str(box.state / "runc-root")
    assert written["id"] == box.id  # the state directory's name
    assert box.runtime.state(box.state).status == "created"  # the daemon side follows


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["nope"], 127, 'exec: "nope": executable file not found in $PATH'),
        (["/etc/passwd"], 126, 'exec: "/etc/passwd": permission denied'),
    ],
)
def test_a_command_that_cannot_run_fails_with_dockers_text(
    box: OciBox, args: list[str], code: int, text: str
) -> None:
    with pytest.raises(client.MonitorError) as caught:
        box.spawn(args)
    assert caught.value.message == text
    assert caught.value.exit_code == code
    assert "\n" not in caught.value.message
    assert box.runc_list() == []
    assert cgroup_dirs(box.id) == []


def test_signals(box: OciBox) -> None:
    box.spawn(["sh", "-c", "trap 'exit 9' USR1; echo ready; while :; do sleep 0.05; done"])
    stream = client.attach(box.state)
    client.start(box.state)
    assert client.iter_frames(stream).__next__() == (1, b"ready\n")
    client.kill(box.state, 10)  # SIGUSR1
    assert client.wait(box.state).exit_code == 9
    stream.close()
    assert box.finished()


def test_a_terminal_comes_from_inside_the_container(box: OciBox) -> None:
    box.spawn(["sh"], tty=True, open_stdin=True, stdin_once=True)
    client.resize(box.state, 30, 90)
    stream = client.attach(box.state, stdin=True)
    client.start(box.state)
    stream.sendall(b"stty size; tty; exit 6\n")
    got = frames_of(stream)
    text = output(got)
    assert {s for s, _ in got} == {1}
    assert b"30 90\r\n/dev/pts/0\r\n" in text
    assert client.wait(box.state).exit_code == 6
    assert not (box.state / "console.sock").exists()


def test_a_long_state_directory_path_still_gets_its_terminal(make_box: object) -> None:
    box: OciBox = make_box()  # type: ignore[operator]
    deep = box.base / ("x" * 60) / ("y" * 60) / box.id
    deep.mkdir(parents=True)
    box.state = deep
    box.spawn(["sh", "-c", "tty"], tty=True)
    stream = client.attach(box.state)
    client.start(box.state)
    assert output(frames_of(stream)) == b"/dev/pts/0\r\n"


def test_exec_joins_the_container(box: OciBox) -> None:
    box.spawn(["sleep", "30"], tty=False)
    client.start(box.state)
    pid, stream = client.exec_process(
        box.state, "e1", {"args": ["sh", "-c", "echo $$ $(hostname) $PATH; ps -o pid,comm"]}
    )
    got = frames_of(stream)
    assert got[-1] == (3, b'{"exit_code":0}')
    first, *table = output(got).decode().splitlines()
    exec_pid, hostname, path = first.split()
    assert hostname == "oci-box" and int(exec_pid) > 1
    assert path == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # the container's
    assert any(line.split()[:2] == ["1", "sleep"] for line in table)
    assert wait_gone(pid)
    _pid, tty = client.exec_process(
        box.state,
        "e2",
        {"args": ["sh", "-c", "tty; stty size"], "consoleSize": {"height": 12, "width": 34}},
        tty=True,
    )
    assert output(frames_of(tty)) == b"/dev/pts/0\r\n12 34\r\n"
    _pid, fed = client.exec_process(box.state, "e3", {"args": ["wc", "-c"]}, stdin=True)
    fed.sendall(b"x" * 100000)
    fed.shutdown(socket.SHUT_WR)
    assert frames_of(fed) == [(1, b"100000\n"), (3, b'{"exit_code":0}')]
    with pytest.raises(client.MonitorError) as caught:
        client.exec_process(box.state, "e4", {"args": ["nope"]})
    assert caught.value.message == 'exec: "nope": executable file not found in $PATH'
    assert caught.value.exit_code == 127
    assert not list(box.state.glob("exec-*"))


def test_oom_is_137_and_reported(box: OciBox) -> None:
    box.config["linux"].setdefault("resources", {})["memory"] = {
        "limit": 16 << 20,
        "swap": 16 << 20,
    }
    status, _out, _err = box.run(["dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"])
    assert (status.exit_code, status.oom_killed) == (137, True)


def test_a_sigkill_is_not_an_oom(box: OciBox) -> None:
    box.spawn(["sleep", "30"])
    client.start(box.state)
    client.kill(box.state, 9)
    status = client.wait(box.state)
    assert (status.exit_code, status.oom_killed) == (137, False)


def test_the_monitor_stays_lean_with_this_launcher(box: OciBox) -> None:
    box.spawn(["sleep", "30"])
    client.start(box.state)
    time.sleep(0.2)
    status = Path(f"/proc/{box.monitor_pid}/status").read_text()
    rss = int(next(line for line in status.splitlines() if line.startswith("VmRSS")).split()[1])
    assert rss < 11 * 1024, f"the monitor uses {rss} KiB"
