"""The session's leftover check (tests/conftest.py) sees what tests could leave behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

IS_ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not IS_ROOT, reason="needs root")
REPO = Path(__file__).resolve().parent.parent


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:6]}"


def started(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """Popen, then wait until the child's exec is complete (Popen may return just before the
    new program's argv and name are set)."""
    process = subprocess.Popen(argv, **kwargs)
    argv0 = os.fsencode(argv[0]) + b"\0"
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            if Path(f"/proc/{process.pid}/cmdline").read_bytes().startswith(argv0):
                return process
        time.sleep(0.01)
    process.kill()
    process.wait()
    raise AssertionError(f"{argv!r} did not start within 5 s")


@pytest.fixture
def fake_berthd(tmp_path: Path) -> Iterator[Path]:
    """An executable named berthd (a copy of sleep), so its process is named berthd."""
    exe = tmp_path / "berthd"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", exe)
    yield exe


class TestParsing:
    def test_mountinfo_escapes_are_decoded(self, leftover_probe: Any) -> None:
        assert leftover_probe.unescape_mountinfo(r"/tmp/a\040b") == "/tmp/a b"
        assert leftover_probe.unescape_mountinfo(r"/tmp/tab\011x\134") == "/tmp/tab\tx\\"

    def test_incomplete_or_non_octal_escapes_stay_as_they_are(self, leftover_probe: Any) -> None:
        assert leftover_probe.unescape_mountinfo(r"/tmp/x\04") == r"/tmp/x\04"
        assert leftover_probe.unescape_mountinfo(r"/tmp/x\999") == r"/tmp/x\999"

    def test_mounts_outside_the_watched_roots_are_ignored(
        self, leftover_probe: Any, tmp_path: Path
    ) -> None:
        mountinfo = tmp_path / "mountinfo"
        mountinfo.write_text(
            "27 1 254:0 / / rw - ext4 /dev/vda rw\n"
            "90 27 0:50 / /var/lib/berth/overlay/abc/merged rw - overlay overlay rw\n"
            "91 27 0:51 / /tmp/pytest-of-root/x\\040y rw - tmpfs tmpfs rw\n"
            "92 27 0:52 / /var/lib/berthother rw - tmpfs tmpfs rw\n"
            "93 27 0:53 / /srv/data rw - tmpfs tmpfs rw\n"
            "garbage\n"
        )
        assert leftover_probe.list_mounts(mountinfo) == {
            "/var/lib/berth/overlay/abc/merged",
            "/tmp/pytest-of-root/x y",
        }

    def test_unreadable_sources_give_empty_sets(self, leftover_probe: Any, tmp_path: Path) -> None:
        missing = tmp_path / "missing"
        assert leftover_probe.list_mounts(missing) == frozenset()
        assert leftover_probe.list_links(missing) == frozenset()
        assert leftover_probe.list_cgroups(missing) == frozenset()
        assert leftover_probe.list_daemons(missing) == frozenset()

    def test_only_berth_and_veth_links_count(self, leftover_probe: Any, tmp_path: Path) -> None:
        for name in ("berth0", "veth1a2b", "eth0", "lo", "br-123"):
            (tmp_path / name).mkdir()
        assert leftover_probe.list_links(tmp_path) == {"berth0", "veth1a2b"}

    def test_berth_cgroups_are_found_in_v1_hierarchies_and_at_a_v2_root(
        self, leftover_probe: Any, tmp_path: Path
    ) -> None:
        (tmp_path / "memory" / "berth" / "c1").mkdir(parents=True)
        (tmp_path / "pids" / "other" / "berth-nested-too-deep").mkdir(parents=True)
        (tmp_path / "berth-v2").mkdir()
        (tmp_path / "cpu").mkdir()
        found = leftover_probe.list_cgroups(tmp_path)
        assert found == {
            str(tmp_path / "memory" / "berth"),
            str(tmp_path / "memory" / "berth" / "c1"),
            str(tmp_path / "berth-v2"),
        }

    def test_new_since_names_only_what_is_new(self, leftover_probe: Any) -> None:
        snap = leftover_probe.Snapshot
        empty = frozenset[str]()
        before = snap(frozenset({"/tmp/a"}), empty, empty, empty, frozenset({"1 (t 5)"}))
        after = snap(
            frozenset({"/tmp/a", "/tmp/b"}),
            frozenset({"veth0"}),
            frozenset({"berth-ns"}),
            empty,
            frozenset({"1 (t 5)", "2 (t 9)"}),
        )
        assert after.new_since(before) == [
            "mount: /tmp/b",
            "link: veth0",
            "netns: berth-ns",
            "daemon: 2 (t 9)",
        ]
        assert before.new_since(after) == []


class TestLiveHost:
    def test_a_berthd_process_is_seen_until_it_ends(
        self, leftover_probe: Any, fake_berthd: Path
    ) -> None:
        before = leftover_probe.take_snapshot()
        process = started([str(fake_berthd), "30"])
        try:
            new = leftover_probe.find_leftovers(before, grace=0)
            assert any(line.startswith(f"daemon: {process.pid} ") for line in new), new
        finally:
            process.kill()
            process.wait()
        after = leftover_probe.find_leftovers(before, grace=0)
        assert not any(line.startswith(f"daemon: {process.pid} ") for line in after), after

    def test_python_running_berth_daemon_module_counts_as_a_daemon(
        self, leftover_probe: Any, tmp_path: Path
    ) -> None:
        # A stand-in module of that name, so nothing real starts.
        (tmp_path / "berth" / "daemon").mkdir(parents=True)
        for init in ("berth/__init__.py", "berth/daemon/__init__.py"):
            (tmp_path / init).write_text("")
        (tmp_path / "berth" / "daemon" / "main.py").write_text("import time; time.sleep(30)\n")
        before = leftover_probe.list_daemons()
        process = started(
            [sys.executable, "-m", "berth.daemon.main"], cwd=tmp_path, env={"PYTHONPATH": "."}
        )
        try:
            new = leftover_probe.list_daemons() - before
            assert any(item.startswith(f"{process.pid} ") for item in new), new
        finally:
            process.kill()
            process.wait()

    def test_a_berthd_of_another_test_session_does_not_count(
        self, leftover_probe: Any, fake_berthd: Path
    ) -> None:
        before = leftover_probe.list_daemons(session="ours")
        env = {**os.environ, "BERTH_TEST_SESSION": "theirs"}
        process = started([str(fake_berthd), "30"], env=env)
        try:
            ours = leftover_probe.list_daemons(session="ours") - before
            assert not any(item.startswith(f"{process.pid} ") for item in ours), ours
            theirs = leftover_probe.list_daemons(session="theirs")
            assert any(item.startswith(f"{process.pid} ") for item in theirs)
        finally:
            process.kill()
            process.wait()

    def test_other_processes_mentioning_berthd_do_not_count(self, leftover_probe: Any) -> None:
        before = leftover_probe.list_daemons()
        process = started(["sh", "-c", "sleep 30; : berthd", "berthd"], start_new_session=True)
        try:
            new = leftover_probe.list_daemons() - before
            assert not any(item.startswith(f"{process.pid} ") for item in new), new
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    def test_a_process_that_exits_within_the_grace_period_is_not_a_leftover(
        self, leftover_probe: Any, fake_berthd: Path
    ) -> None:
        before = leftover_probe.take_snapshot()
        process = subprocess.Popen([str(fake_berthd), "0.5"])
        try:
            after = leftover_probe.find_leftovers(before, grace=5)
            assert not any(line.startswith(f"daemon: {process.pid} ") for line in after), after
        finally:
            process.kill()
            process.wait()

    @needs_root
    def test_a_mount_under_tmp_is_seen_until_unmounted(
        self, leftover_probe: Any, tmp_path: Path
    ) -> None:
        point = tmp_path / "with space"
        point.mkdir()
        before = leftover_probe.take_snapshot()
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(point)], check=True)
        try:
            assert f"mount: {point}" in leftover_probe.find_leftovers(before, grace=0)
        finally:
            subprocess.run(["umount", str(point)], check=True)
        assert f"mount: {point}" not in leftover_probe.find_leftovers(before, grace=0)

    @needs_root
    def test_a_berth_cgroup_is_seen_until_removed(self, leftover_probe: Any) -> None:
        root = Path("/sys/fs/cgroup")
        hierarchies = sorted(p for p in root.iterdir() if (p / "cgroup.procs").exists())
        hierarchies.sort(key=lambda p: p.name != "pids")  # the plainest controller first
        if not hierarchies:
            pytest.skip("no writable cgroup hierarchy here")
        cgroup = hierarchies[0] / unique("berth-leftover-test-")
        before = leftover_probe.take_snapshot()
        cgroup.mkdir()
        try:
            assert f"cgroup: {cgroup}" in leftover_probe.find_leftovers(before, grace=0)
        finally:
            cgroup.rmdir()
        assert f"cgroup: {cgroup}" not in leftover_probe.find_leftovers(before, grace=0)

    @needs_root
    def test_a_netns_is_seen_until_deleted(self, leftover_probe: Any) -> None:
        if shutil.which("ip") is None:
            pytest.skip("needs ip (iproute2)")
        name = unique("berth-leftover-test-")
        before = leftover_probe.take_snapshot()
        subprocess.run(["ip", "netns", "add", name], check=True)
        try:
            assert f"netns: {name}" in leftover_probe.find_leftovers(before, grace=0)
        finally:
            subprocess.run(["ip", "netns", "delete", name], check=True)
        assert f"netns: {name}" not in leftover_probe.find_leftovers(before, grace=0)

    @needs_root
    def test_a_veth_pair_is_seen_until_deleted(self, leftover_probe: Any) -> None:
        if shutil.which("ip") is None:
            pytest.skip("needs ip (iproute2)")
        name = unique("berthlt")  # at most 15 characters
        before = leftover_probe.take_snapshot()
        added = subprocess.run(
            ["ip", "link", "add", name, "type", "veth", "peer", "name", "v" + name],
            capture_output=True,
            text=True,
        )
        if added.returncode != 0:
            pytest.skip(f"cannot create a veth pair here: {added.stderr.strip()}")
        try:
            assert f"link: {name}" in leftover_probe.find_leftovers(before, grace=0)
        finally:
            subprocess.run(["ip", "link", "delete", name], check=True)
        assert f"link: {name}" not in leftover_probe.find_leftovers(before, grace=0)


def test_a_session_that_leaves_a_daemon_running_fails(tmp_path: Path) -> None:
    """Run pytest on a test that leaves a 'berthd' behind: the session must fail and say so."""
    suite = tmp_path / "suite"
    suite.mkdir()
    shutil.copy(REPO / "tests" / "conftest.py", suite / "conftest.py")
    exe = tmp_path / "berthd"
    shutil.copy(shutil.which("sleep") or "/bin/sleep", exe)
    pid_file = tmp_path / "pid"
    (suite / "test_leaky.py").write_text(
        "import subprocess\n"
        "def test_leaks():\n"
        f"    p = subprocess.Popen([{str(exe)!r}, '60'], start_new_session=True)\n"
        f"    open({str(pid_file)!r}, 'w').write(str(p.pid))\n"
    )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "BERTH_LEFTOVER_GRACE": "0.5"}
    env.pop("PYTEST_XDIST_WORKER", None)
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:xdist"]
    try:
        done = subprocess.run(
            [*argv, "-o", "addopts=", str(suite)],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            cwd=tmp_path,
        )
    finally:
        leaked = int(pid_file.read_text()) if pid_file.exists() else None
        if leaked is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(leaked, signal.SIGKILL)
    assert leaked is not None, done.stdout + done.stderr
    assert "1 passed" in done.stdout, done.stdout
    assert done.returncode == 1, done.stdout
    assert "LEFTOVERS" in done.stdout
    assert f"daemon: {leaked} " in done.stdout
