"""Cgroups: the layout found from the mount table, limits written as files, stats read back —
on fake hierarchies (plain directories) and, as root, on the host's."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from berth_isolation_linux import cgroups
from berth_isolation_linux.cgroups import Cgroup, Hierarchy, Layout

MOUNTINFO_V1 = """\
24 1 254:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:27 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
32 31 0:28 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
33 31 0:29 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
34 31 0:30 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd
35 31 0:31 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
36 31 0:32 /sub /sys/fs/cgroup/bindmounted rw - cgroup cgroup rw,pids
"""
MOUNTINFO_V2 = """\
24 1 254:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate
"""


def test_detect_v1_hybrid(tmp_path: Path) -> None:
    (tmp_path / "mountinfo").write_text(MOUNTINFO_V1)
    layout = cgroups.detect(str(tmp_path / "mountinfo"))
    assert layout.version == 1
    assert {h.mount_point: h.controllers for h in layout.hierarchies} == {
        "/sys/fs/cgroup/cpu,cpuacct": frozenset({"cpu", "cpuacct"}),
        "/sys/fs/cgroup/memory": frozenset({"memory"}),
    }


def test_detect_v2(tmp_path: Path) -> None:
    (tmp_path / "mountinfo").write_text(MOUNTINFO_V2)
    layout = cgroups.detect(str(tmp_path / "mountinfo"))
    assert (layout.version, layout.unified) == (2, "/sys/fs/cgroup")


def test_detect_nothing(tmp_path: Path) -> None:
    (tmp_path / "mountinfo").write_text("24 1 254:0 / / rw - ext4 /dev/vda rw\n")
    with pytest.raises(cgroups.CgroupError, match="no cgroup"):
        cgroups.detect(str(tmp_path / "mountinfo"))


def test_plan_v1_paths() -> None:
    layout = Layout(
        1,
        hierarchies=(
            Hierarchy("/cg/cpu,cpuacct", frozenset({"cpu", "cpuacct"})),
            Hierarchy("/cg/memory", frozenset({"memory"})),
        ),
    )
    cgroup = Cgroup.plan(layout, "/berth/abc")
    assert cgroup.paths == {
        "/cg/cpu,cpuacct": "/cg/cpu,cpuacct/berth/abc",
        "/cg/memory": "/cg/memory/berth/abc",
    }
    assert cgroup.dir("cpuacct") == "/cg/cpu,cpuacct/berth/abc"
    assert cgroup.dir("pids") is None
    assert Cgroup.from_json(cgroup.to_json()) == cgroup


@pytest.mark.parametrize(
    ("path", "message"),
    [("system.slice:berth:abc", "systemd"), ("/", "below the root"), ("/a/../b", "below")],
)
def test_plan_refuses_bad_paths(path: str, message: str) -> None:
    layout = Layout(2, unified="/cg")
    with pytest.raises(ValueError, match=message):
        Cgroup.plan(layout, path)


V1_FILES = (
    "memory.limit_in_bytes",
    "memory.memsw.limit_in_bytes",
    "memory.soft_limit_in_bytes",
    "memory.swappiness",
    "cpu.shares",
    "cpu.cfs_quota_us",
    "cpu.cfs_period_us",
    "cpuset.cpus",
    "cpuset.mems",
    "pids.max",
    "blkio.weight",
    "blkio.throttle.read_bps_device",
    "devices.allow",
    "devices.deny",
)
V2_FILES = (
    "memory.max",
    "memory.swap.max",
    "memory.low",
    "memory.high",
    "cpu.weight",
    "cpu.max",
    "cpuset.cpus",
    "pids.max",
    "io.weight",
)


@pytest.fixture
def fake_v1(tmp_path: Path) -> Cgroup:
    """A v1 cgroup whose 'hierarchies' are plain directories with the files limits go to."""
    paths, controllers = {}, {}
    for name in ("memory", "cpu", "cpuset", "pids", "devices", "blkio", "cpuacct"):
        mount_point = tmp_path / name
        path = mount_point / "berth" / "c1"
        path.mkdir(parents=True)
        paths[str(mount_point)] = str(path)
        controllers[name] = str(path)
    for name in V1_FILES:
        (Path(controllers[name.split(".")[0]]) / name).write_text("")
    return Cgroup(1, paths, controllers)


def test_v1_limits(fake_v1: Cgroup) -> None:
    fake_v1.limit(
        {
            "memory": {
                "limit": 32 << 20,
                "swap": 64 << 20,
                "reservation": 16 << 20,
                "swappiness": 0,
            },
            "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
            "pids": {"limit": 100},
            "blockIO": {
                "weight": 300,
                "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1048576}],
            },
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"},
                {"allow": True, "type": "c", "major": 136, "access": "rwm"},
            ],
        }
    )

    def read(controller: str, name: str) -> str:
        return (Path(fake_v1.controllers[controller]) / name).read_text()

    assert read("memory", "memory.limit_in_bytes") == str(32 << 20)
    assert read("memory", "memory.memsw.limit_in_bytes") == str(64 << 20)
    assert read("memory", "memory.soft_limit_in_bytes") == str(16 << 20)
    assert read("memory", "memory.swappiness") == "0"
    assert read("cpu", "cpu.shares") == "512"
    assert read("cpu", "cpu.cfs_quota_us") == "50000"
    assert read("cpu", "cpu.cfs_period_us") == "100000"
    assert read("cpuset", "cpuset.cpus") == "0"
    assert read("pids", "pids.max") == "100"
    assert read("blkio", "blkio.weight") == "300"
    assert read("blkio", "blkio.throttle.read_bps_device") == "8:0 1048576"
    # files are overwritten by each write: the last rule of each kind is what a real
    # cgroup would have appended
    assert read("devices", "devices.deny") == "a"
    assert read("devices", "devices.allow") == "c 136:* rwm"


def test_v1_swap_without_accounting_is_refused(fake_v1: Cgroup) -> None:
    os.unlink(Path(fake_v1.controllers["memory"]) / "memory.memsw.limit_in_bytes")
    with pytest.raises(cgroups.CgroupError, match="swap accounting"):
        fake_v1.limit({"memory": {"limit": 1 << 20, "swap": 2 << 20}})


def test_v1_missing_controller_is_named(tmp_path: Path) -> None:
    path = tmp_path / "memory" / "c"
    path.mkdir(parents=True)
    cgroup = Cgroup(1, {str(tmp_path / "memory"): str(path)}, {"memory": str(path)})
    with pytest.raises(cgroups.CgroupError, match="pids cgroup controller is not mounted"):
        cgroup.limit({"pids": {"limit": 5}})


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"memory": {"limit": "1g"}}, "integer"),
        ({"devices": [{"allow": True, "type": "x"}]}, "device rule type"),
        ({"devices": [{"allow": True, "type": "c", "access": "rwx"}]}, "access"),
    ],
)
def test_bad_resources(fake_v1: Cgroup, resources: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fake_v1.limit(resources)


def test_v2_limits(tmp_path: Path) -> None:
    path = tmp_path / "berth" / "c1"
    path.mkdir(parents=True)
    for name in V2_FILES:
        (path / name).write_text("")
    cgroup = Cgroup(2, {str(tmp_path): str(path)})
    cgroup.limit(
        {
            "memory": {"limit": 100, "swap": 300, "reservation": 50},
            "cpu": {"shares": 1024, "quota": 20000, "period": 100000, "cpus": "0-1"},
            "pids": {"limit": 0},
            "blockIO": {"weight": 500},
            "unified": {"memory.high": "90"},
        }
    )

    def read(name: str) -> str:
        return (path / name).read_text()

    assert read("memory.max") == "100"
    assert read("memory.swap.max") == "200"
    assert read("memory.low") == "50"
    assert read("cpu.weight") == "39"  # runc's conversion of 1024 shares
    assert read("cpu.max") == "20000 100000"
    assert read("cpuset.cpus") == "0-1"
    assert read("pids.max") == "max"
    assert read("io.weight") == str(1 + (500 - 10) * 9999 // 990)
    assert read("memory.high") == "90"


def test_v1_stats_shape(fake_v1: Cgroup) -> None:
    def put(controller: str, name: str, text: str) -> None:
        (Path(fake_v1.controllers[controller]) / name).write_text(text)

    put("cpuacct", "cpuacct.usage", "123456789\n")
    put("cpuacct", "cpuacct.usage_percpu", "100000000 23456789 \n")
    put("cpuacct", "cpuacct.stat", "user 7\nsystem 3\n")
    put("cpu", "cpu.stat", "nr_periods 4\nnr_throttled 1\nthrottled_time 99\n")
    put("memory", "memory.usage_in_bytes", "4096\n")
    put("memory", "memory.max_usage_in_bytes", "8192\n")
    put("memory", "memory.failcnt", "2\n")
    put("memory", "memory.limit_in_bytes", "9223372036854771712\n")
    put("memory", "memory.stat", "cache 10\nrss 20\n")
    put("pids", "pids.current", "3\n")
    put("pids", "pids.max", "max\n")
    put(
        "blkio",
        "blkio.throttle.io_service_bytes_recursive",
        "8:0 Read 512\n8:0 Write 0\nTotal 512\n",
    )
    stats = fake_v1.stats()
    usage = stats["cpu_stats"]["cpu_usage"]
    assert usage["total_usage"] == 123456789
    assert usage["percpu_usage"] == [100000000, 23456789]
    ticks = 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    assert (usage["usage_in_usermode"], usage["usage_in_kernelmode"]) == (7 * ticks, 3 * ticks)
    assert stats["cpu_stats"]["online_cpus"] == 2
    assert stats["cpu_stats"]["throttling_data"] == {
        "periods": 4,
        "throttled_periods": 1,
        "throttled_time": 99,
    }
    memory = stats["memory_stats"]
    assert (memory["usage"], memory["max_usage"], memory["failcnt"]) == (4096, 8192, 2)
    assert memory["limit"] == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert memory["stats"] == {"cache": 10, "rss": 20}
    assert stats["pids_stats"] == {"current": 3}
    assert stats["blkio_stats"]["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "Read", "value": 512},
        {"major": 8, "minor": 0, "op": "Write", "value": 0},
    ]


def test_v2_stats_shape(tmp_path: Path) -> None:
    path = tmp_path / "c"
    path.mkdir()
    (path / "cpu.stat").write_text("usage_usec 10\nuser_usec 6\nsystem_usec 4\n")
    (path / "memory.current").write_text("2048\n")
    (path / "memory.max").write_text("4096\n")
    (path / "pids.current").write_text("1\n")
    (path / "pids.max").write_text("10\n")
    (path / "io.stat").write_text("8:0 rbytes=100 wbytes=200 rios=1 wios=2 dbytes=0 dios=0\n")
    stats = Cgroup(2, {str(tmp_path): str(path)}).stats()
    assert stats["cpu_stats"]["cpu_usage"]["total_usage"] == 10_000
    assert stats["memory_stats"]["limit"] == 4096
    assert stats["pids_stats"] == {"current": 1, "limit": 10}
    assert {"major": 8, "minor": 0, "op": "write", "value": 200} in stats["blkio_stats"][
        "io_service_bytes_recursive"
    ]


# --- on the host ------------------------------------------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (host cgroups)")


@pytest.fixture
def host_cgroup() -> Iterator[Cgroup]:
    layout = cgroups.detect()
    cgroup = Cgroup.plan(layout, f"/berth-unit-{uuid.uuid4().hex[:8]}/c1")
    yield cgroup
    cgroup.destroy()
    assert not cgroup.exists()
    for path in cgroup.paths.values():
        assert not os.path.exists(os.path.dirname(path)), "an empty parent was left behind"


@needs_root
def test_host_cgroup_lifecycle(host_cgroup: Cgroup) -> None:
    host_cgroup.create({"memory": {"limit": 64 << 20}, "pids": {"limit": 20}})
    assert host_cgroup.exists()
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        host_cgroup.join(sleeper.pid)
        assert host_cgroup.pids() == [sleeper.pid]
        assert host_cgroup.stats()["pids_stats"] == {"current": 1, "limit": 20}
        if host_cgroup.dir("freezer") or host_cgroup.version == 2:
            host_cgroup.freeze()
            assert host_cgroup.frozen()
            host_cgroup.thaw()
            assert not host_cgroup.frozen()
        host_cgroup.kill_all(signal.SIGKILL)
        assert sleeper.wait(5) == -signal.SIGKILL
        assert host_cgroup.pids() == []
        assert host_cgroup.oom_kills() == 0
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()


@needs_root
def test_destroy_kills_what_is_left(host_cgroup: Cgroup) -> None:
    host_cgroup.create({})
    sleeper = subprocess.Popen(["sleep", "60"])
    host_cgroup.join(sleeper.pid)
    started = time.monotonic()
    host_cgroup.destroy()
    assert sleeper.wait(5) == -signal.SIGKILL
    assert time.monotonic() - started < 5
    assert not host_cgroup.exists()


@needs_root
def test_a_new_cpuset_parent_made_by_another_start_is_initialised_too() -> None:
    """Two starts at once: one made the parent and has not copied the CPUs into it yet; the
    other's cgroup must still get CPUs and memory nodes (else joining it fails, ENOSPC)."""
    layout = cgroups.detect()
    if layout.version != 1 or not any("cpuset" in h.controllers for h in layout.hierarchies):
        pytest.skip("needs a cgroup v1 cpuset hierarchy")
    cgroup = Cgroup.plan(layout, f"/berth-unit-{uuid.uuid4().hex[:8]}/c1")
    cpuset = cgroup.dir("cpuset")
    assert cpuset is not None
    parent = os.path.dirname(cpuset)
    os.mkdir(parent)  # as the other start did, stopped before its own _init_new
    try:
        assert Path(parent, "cpuset.cpus").read_text().strip() == ""
        cgroup.create({})
        sleeper = subprocess.Popen(["sleep", "60"])
        try:
            cgroup.join(sleeper.pid)
            assert cgroup.pids() == [sleeper.pid]
        finally:
            sleeper.kill()
            sleeper.wait()
        for name in ("cpuset.cpus", "cpuset.mems"):
            assert Path(cpuset, name).read_text().strip()
            assert Path(parent, name).read_text().strip()
    finally:
        cgroup.destroy()
        if os.path.isdir(parent):
            os.rmdir(parent)
    assert not cgroup.exists()
