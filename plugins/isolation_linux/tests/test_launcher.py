"""What the linux launcher does beyond the shared conformance suite (root only)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from berth.testing.busybox import busybox_unavailable, make_busybox_rootfs
from berth.testing.conformance.isolation import Box, cgroup_dirs, remove_empty_parent
from berth.testing.launcher_harness import LaunchFailed
from berth_isolation_linux import launcher
from berth_isolation_linux.runtime import LinuxRuntime

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, mounts)")

LAUNCHER = "berth_isolation_linux.launcher"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    reason = busybox_unavailable()
    if reason:
        pytest.skip(reason)
    return make_busybox_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")


@pytest.fixture
def box(template: Path, tmp_path: Path) -> Iterator[Callable[[list[str]], Box]]:
    made: list[Box] = []

    def make(args: list[str]) -> Box:
        name = f"linux-unit-{uuid.uuid4().hex[:10]}"
        made.append(Box(LAUNCHER, tmp_path / name, template, args, name))
        return made[-1]

    yield make
    for each in made:
        each.close()
        LinuxRuntime().delete(each.state_dir, force=True)
        assert not cgroup_dirs(each.cgroups_path)
    remove_empty_parent()


def test_new_network_namespace_has_loopback_up(box: Callable[[list[str]], Box]) -> None:
    b = box(["sh", "-c", "cat /sys/class/net/lo/operstate /sys/class/net/lo/flags"])
    assert b.run() == 0, b.stderr
    state, flags = b.stdout.split()
    assert state in ("unknown", "up")
    assert int(flags, 16) & 1  # IFF_UP


def test_joins_a_network_namespace_by_path(box: Callable[[list[str]], Box]) -> None:
    holder = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    try:
        path = f"/proc/{holder.pid}/ns/net"
        for _ in range(100):  # until unshare has run
            if os.readlink(path) != os.readlink("/proc/self/ns/net"):
                break
            subprocess.run(["sleep", "0.02"], check=True)
        b = box(["readlink", "/proc/self/ns/net"])
        b.linux["namespaces"] = [
            ns if ns["type"] != "network" else {"type": "network", "path": path}
            for ns in b.linux["namespaces"]
        ]
        assert b.run() == 0, b.stderr
        assert b.stdout.strip() == os.readlink(path)
    finally:
        holder.kill()
        holder.wait()


def test_host_network(box: Callable[[list[str]], Box]) -> None:
    b = box(["readlink", "/proc/self/ns/net"])
    b.linux["namespaces"] = [ns for ns in b.linux["namespaces"] if ns["type"] != "network"]
    assert b.run() == 0, b.stderr
    assert b.stdout.strip() == os.readlink("/proc/self/ns/net")


def test_cgroup_namespace(box: Callable[[list[str]], Box]) -> None:
    b = box(["cat", "/proc/self/cgroup"])
    b.linux["namespaces"].append({"type": "cgroup"})
    assert b.run() == 0, b.stderr
    for line in b.stdout.splitlines():
        _, controllers, path = line.split(":", 2)
        if controllers in ("memory", "pids", ""):
            assert path == "/", line


def test_working_directory_is_created_and_home_is_set(box: Callable[[list[str]], Box]) -> None:
    b = box(["sh", "-c", 'pwd; echo "$HOME"'])
    b.process["cwd"] = "/srv/work/dir"
    b.process["user"] = {"uid": 1000, "gid": 1000}
    assert b.run() == 0, b.stderr
    assert b.stdout.splitlines() == ["/srv/work/dir", "/home/berth"]


def test_sysctl_and_devices_and_tmpfs_options(box: Callable[[list[str]], Box]) -> None:
    b = box(
        [
            "sh",
            "-c",
            "cat /proc/sys/net/ipv4/ip_forward; ls -ln /dev/mynull; stat -c %a /scratch; "
            "cat /proc/self/oom_score_adj",
        ]
    )
    b.linux["sysctl"] = {"net.ipv4.ip_forward": "1"}
    b.linux["devices"] = [
        {
            "path": "/dev/mynull",
            "type": "c",
            "major": 1,
            "minor": 3,
            "fileMode": 0o620,
            "uid": 1000,
            "gid": 5,
        }
    ]
    b.config["mounts"].append(
        {
            "destination": "/scratch",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "mode=1750", "size=1m"],
        }
    )
    b.process["oomScoreAdj"] = 500
    assert b.run() == 0, b.stderr
    lines = b.stdout.splitlines()
    assert lines[0] == "1"
    assert lines[1].startswith("crw--w----") and " 1000 " in lines[1] and "1,   3" in lines[1]
    assert lines[2] == "1750"
    assert lines[3] == "500"


def test_terminal_is_the_console(box: Callable[[list[str]], Box]) -> None:
    b = box(["sh", "-c", "ls -l /dev/console | cut -c1; readlink /proc/self/fd/0"])
    b.process["terminal"] = True
    b.create(tty=True)
    b.start()
    assert b.wait() == 0
    assert b.stdout.replace("\r\n", "\n").splitlines() == ["c", "/dev/pts/0"]


def test_exec_with_a_terminal(box: Callable[[list[str]], Box]) -> None:
    b = box(["sleep", "60"])
    b.create()
    b.start()
    pid, out, _ = b.harness.exec(
        {
            "args": ["tty"],
            "env": ["PATH=/bin"],
            "cwd": "/",
            "terminal": True,
            "user": {"uid": 0, "gid": 0},
        },
        tty=True,
    )
    assert b.wait(pid) == 0
    assert out.read_text().strip() == "/dev/pts/0"


def test_a_terminal_without_a_console_socket_is_refused(box: Callable[[list[str]], Box]) -> None:
    b = box(["tty"])
    b.process["terminal"] = True
    with pytest.raises(ValueError, match="console"):
        b.create()


def test_private_root_propagation(box: Callable[[list[str]], Box]) -> None:
    b = box(["true"])
    b.linux["rootfsPropagation"] = "private"
    assert b.run() == 0, b.stderr


def test_an_unstarted_container_goes_away_on_delete(box: Callable[[list[str]], Box]) -> None:
    b = box(["true"])
    init = b.create()
    b.harness.delete()
    assert b.wait(init) == 128 + signal.SIGKILL
    assert not cgroup_dirs(b.cgroups_path)


def test_exec_into_a_stopped_container(box: Callable[[list[str]], Box]) -> None:
    b = box(["true"])
    assert b.run() == 0
    with pytest.raises(LaunchFailed, match="not running"):
        b.exec(["true"])


def test_start_needs_a_create_in_the_same_process(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no container was created"):
        launcher.start(str(tmp_path))


def test_an_existing_cgroup_is_refused(box: Callable[[list[str]], Box]) -> None:
    first = box(["sleep", "60"])
    first.create()
    second = box(["true"])
    second.linux["cgroupsPath"] = first.cgroups_path
    with pytest.raises(LaunchFailed, match="already exists"):
        second.create()
    assert cgroup_dirs(first.cgroups_path), "the refused create removed the other's cgroup"


def test_runtime_on_a_missing_container(tmp_path: Path) -> None:
    runtime = LinuxRuntime()
    with pytest.raises(FileNotFoundError):
        runtime.state(tmp_path)
    with pytest.raises(ProcessLookupError):
        runtime.kill(tmp_path, signal.SIGTERM)
    assert runtime.oom_killed(tmp_path) is False
    runtime.delete(tmp_path)  # nothing to do, no error
    launcher.delete(str(tmp_path))
    assert launcher.oom_killed(str(tmp_path)) is False


def test_kill_all_signals_every_process(box: Callable[[list[str]], Box]) -> None:
    b = box(["sh", "-c", "trap 'echo TERM; exit 0' TERM; sleep 60 & wait"])
    b.create()
    b.start()
    runtime = LinuxRuntime()
    with contextlib.suppress(Exception):
        for _ in range(200):
            if runtime.stats(b.state_dir)["pids_stats"]["current"] == 2:
                break
            subprocess.run(["sleep", "0.01"], check=True)
    runtime.kill(b.state_dir, signal.SIGTERM, all=True)
    assert b.wait() == 0
    assert "TERM" in b.stdout


SLOW_HELPER = r"""
import json, os, sys, time
sys.path[:0] = json.loads(sys.argv[1])
from berth_isolation_linux import channel, launcher
send = channel.send
def slow_send(fd, message):
    if "pid" in message:
        time.sleep(0.3)  # the helper is descheduled: the init runs its whole set-up first
    send(fd, message)
channel.send = slow_send
null = os.open(os.devnull, os.O_RDWR)
pid = launcher.create(sys.argv[2], sys.argv[3], (null, null, null), None)
launcher.start(sys.argv[3])
_, status = os.waitpid(pid, 0)
launcher.delete(sys.argv[3])
print(os.waitstatus_to_exitcode(status))
"""


def test_a_slow_helper_does_not_deadlock_create(template: Path, tmp_path: Path) -> None:
    from berth.testing.busybox import clone_rootfs
    from berth.testing.launcher_harness import import_paths
    from berth.testing.ocispec import docker_like_config, write_bundle

    bundle = tmp_path / "bundle"
    bundle.mkdir()
    clone_rootfs(template, bundle / "rootfs")
    name = f"linux-unit-{uuid.uuid4().hex[:10]}"
    write_bundle(bundle, docker_like_config(["true"], cgroups_path=f"/berth-conformance/{name}"))
    (tmp_path / "state").mkdir()
    paths = json.dumps(import_paths(LAUNCHER))
    done = subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            SLOW_HELPER,
            paths,
            str(bundle),
            str(tmp_path / "state"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0"
    assert not cgroup_dirs(f"/berth-conformance/{name}")
    remove_empty_parent()
