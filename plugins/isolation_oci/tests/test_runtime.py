"""The daemon's side (OciRuntime): state, signals, the freezer, stats, delete, options."""

from __future__ import annotations

import errno
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
from berth.monitor import client
from berth.testing.context import make_plugin_context
from berth_isolation_oci.command import RuntimeFailed, error_of, run_command
from berth_isolation_oci.config import RuntimeConfig
from berth_isolation_oci.errors import launch_error
from berth_isolation_oci.runtime import OciRuntime
from berth_isolation_oci.stats import UNLIMITED, docker_stats

from .conftest import RUNC, OciBox, cgroup_dirs, needs_runc, wait_gone


@needs_runc
def test_states_through_a_containers_life(box: OciBox) -> None:
    box.spawn(["sh", "-c", "trap 'exit 3' TERM; while :; do sleep 0.05; done"])
    created = box.runtime.state(box.state)
    assert (created.status, created.pid) == ("created", box.init_pid)
    assert created.bundle == str(box.bundle)
    client.start(box.state)
    assert box.runtime.state(box.state).status == "running"
    box.runtime.pause(box.state)
    assert box.runtime.state(box.state).status == "paused"
    (freezer,) = [d for d in cgroup_dirs(box.id) if d.parent.name == "freezer"]
    assert (freezer / "freezer.state").read_text().strip() == "FROZEN"
    box.runtime.resume(box.state)
    assert box.runtime.state(box.state).status == "running"
    assert (freezer / "freezer.state").read_text().strip() == "THAWED"
    box.runtime.kill(box.state, signal.SIGTERM)
    assert client.wait(box.state).exit_code == 3
    assert box.finished()
    with pytest.raises(FileNotFoundError):  # the monitor deleted it
        box.runtime.state(box.state)
    assert not box.runtime.oom_killed(box.state)
    with pytest.raises(ProcessLookupError):
        box.runtime.kill(box.state, signal.SIGTERM)


@needs_runc
def test_kill_all_reaches_exec_processes(box: OciBox) -> None:
    box.spawn(["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"])
    client.start(box.state)
    pid, stream = client.exec_process(box.state, "e", {"args": ["sleep", "60"]})
    time.sleep(0.2)
    box.runtime.kill(box.state, signal.SIGTERM, all=True)
    assert wait_gone(pid)
    assert box.runtime.state(box.state).status == "running"  # the init ignores TERM
    stream.close()
    box.runtime.kill(box.state, signal.SIGKILL)
    assert client.wait(box.state).exit_code == 137


@needs_runc
def test_stats_have_dockers_shape(box: OciBox) -> None:
    box.config["linux"].setdefault("resources", {})["memory"] = {"limit": 64 << 20}
    box.config["linux"]["resources"]["pids"] = {"limit": 50}
    box.spawn(["sh", "-c", "while :; do :; done"])
    client.start(box.state)
    time.sleep(0.3)
    stats = box.runtime.stats(box.state)
    assert set(stats) == {"cpu_stats", "memory_stats", "pids_stats", "blkio_stats"}
    assert stats["cpu_stats"]["cpu_usage"]["total_usage"] > 10_000_000  # it burned CPU
    assert stats["cpu_stats"]["online_cpus"] == os.cpu_count()
    assert stats["cpu_stats"]["system_cpu_usage"] > 0
    assert stats["memory_stats"]["limit"] == 64 << 20
    assert stats["memory_stats"]["usage"] > 0
    assert "cache" in stats["memory_stats"]["stats"]
    assert stats["pids_stats"] == {"current": 1, "limit": 50}
    json.dumps(stats)  # what the API sends


@needs_runc
def test_delete_refuses_a_running_container_unless_forced(box: OciBox) -> None:
    box.spawn(["sleep", "30"])
    client.start(box.state)
    with pytest.raises(OSError, match=r"not stopped|running"):
        box.runtime.delete(box.state)
    box.runtime.delete(box.state, force=True)
    assert client.wait(box.state).exit_code == 137
    assert box.runc_list() == []
    assert cgroup_dirs(box.id) == []
    box.runtime.delete(box.state)  # twice is fine
    box.runtime.delete(box.state.parent / "never-created")


@needs_runc
def test_the_runtime_path_and_arguments_are_used(box: OciBox, tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    wrapper = tmp_path / "my-runc"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {calls}\nexec {RUNC} "$@"\n')
    wrapper.chmod(0o755)
    ctx = make_plugin_context(
        tmp_path / "custom",
        "isolation",
        "my-runc",
        {"path": str(wrapper), "runtimeArgs": ["--debug"]},
    )
    box.runtime = OciRuntime.from_context(ctx)
    box.ctx = ctx
    box.spawn(["true"])
    client.start(box.state)
    assert client.wait(box.state).exit_code == 0
    lines = calls.read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["--debug"] * len(lines)
    commands = [line.split()[7] for line in lines]  # --debug --root R --log L --log-format json
    assert commands == ["create", "start", "delete"]
    assert all(f"--root {ctx.run_dir}" in line for line in lines)


def test_unknown_options_are_refused(tmp_path: Path) -> None:
    ctx = make_plugin_context(tmp_path, "isolation", "runc", {"runtimeType": "io.containerd.x"})
    with pytest.raises(ValueError, match="unknown option\\(s\\) for runtime 'runc': runtimeType"):
        OciRuntime.from_context(ctx)
    ctx = make_plugin_context(tmp_path, "isolation", "runc", {"runtimeArgs": "--debug"})
    with pytest.raises(ValueError, match="must be a list of strings"):
        OciRuntime.from_context(ctx)
    ctx = make_plugin_context(tmp_path, "isolation", "x", {"path": "/nonexistent/runc"})
    with pytest.raises(FileNotFoundError, match="does not exist or is not executable"):
        OciRuntime.from_context(ctx)


def test_a_state_directory_without_a_container(tmp_path: Path) -> None:
    runtime = OciRuntime("runc", "/bin/true", [], tmp_path / "root")
    with pytest.raises(FileNotFoundError):
        runtime.state(tmp_path)
    (tmp_path / "oci-runtime.json").write_text('{"binary": 1}')
    with pytest.raises(ValueError, match="damaged"):
        runtime.state(tmp_path)


def test_runtime_config_round_trip(tmp_path: Path) -> None:
    config = RuntimeConfig("/usr/sbin/runc", ["--debug"], "/run/x", "abc")
    config.save(str(tmp_path))
    back = RuntimeConfig.load(str(tmp_path))
    assert back.to_json() == config.to_json()
    assert back.argv("kill", "abc", "9") == [
        "/usr/sbin/runc",
        "--debug",
        "--root",
        "/run/x",
        "kill",
        "abc",
        "9",
    ]
    assert [p.name for p in tmp_path.iterdir()] == ["oci-runtime.json"]


def test_a_failing_runtime_command_is_one_line(tmp_path: Path) -> None:
    records = tmp_path / "records"
    records.write_text(
        '{"level":"warning","msg":"meh"}\n'
        '{"level":"error","msg":"container does not exist\\n really"}\n'
    )
    fake = tmp_path / "fake-runtime"
    fake.write_text(
        f'#!/bin/sh\nwhile [ "$1" != "--log" ]; do shift; done\ncat {records} >> "$2"\nexit 1\n'
    )
    fake.chmod(0o755)
    config = RuntimeConfig(str(fake), [], str(tmp_path / "root"), "c1")
    with pytest.raises(RuntimeFailed) as caught:
        run_command(config, ["state", "c1"], str(tmp_path))
    assert caught.value.message == "container does not exist really"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake-runtime", "records"]  # no log
    silent = tmp_path / "silent"
    silent.write_text("#!/bin/sh\nkill -9 $$\n")
    silent.chmod(0o755)
    with pytest.raises(RuntimeFailed, match="silent state was killed by signal 9"):
        run_command(RuntimeConfig(str(silent), [], "/r", "c"), ["state", "c"], str(tmp_path))


@pytest.mark.parametrize(
    ("message", "text", "number"),
    [
        (
            'runc create failed: unable to start container process: exec: "x": executable '
            "file not found in $PATH",
            'exec: "x": executable file not found in $PATH',
            errno.ENOENT,
        ),
        (
            'exec failed: unable to start container process: exec: "/x": stat /x: no such file '
            "or directory",
            'exec: "/x": stat /x: no such file or directory',
            errno.ENOENT,
        ),
        ('exec: "/etc/passwd": permission denied', 'exec: "/etc/passwd": permission denied', 13),
        ('exec: "/etc": is a directory', 'exec: "/etc": is a directory', errno.EISDIR),
        (
            'error mounting "/x" to rootfs at "/data": stat /x: no such file or directory',
            'OCI runtime create failed: error mounting "/x" to rootfs at "/data": stat /x: no '
            "such file or directory",
            errno.EIO,
        ),
    ],
)
def test_runtime_errors_become_dockers_text_and_errno(message: str, text: str, number: int) -> None:
    error = launch_error("create", message)
    assert (error.strerror, error.errno) == (text, number)


def test_an_rlimit_the_host_refuses_is_explained() -> None:
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    error = launch_error(
        "create",
        "runc create failed: unable to start container process: error during container init: "
        "error setting rlimits for ready process: error setting rlimit type 7: operation not "
        "permitted",
        [{"type": "RLIMIT_NOFILE", "soft": 50000, "hard": 50000}],
    )
    assert error.errno == errno.EPERM
    expected = "setrlimit RLIMIT_NOFILE to 50000:50000: operation not permitted"
    if hard != resource.RLIM_INFINITY:
        expected += f"; the hard limit here is {hard} and raising it needs CAP_SYS_RESOURCE"
    assert error.strerror == expected
    odd = launch_error("create", "error setting rlimit type 99: operation not permitted")
    assert odd.strerror == (
        "OCI runtime create failed: error setting rlimit type 99: operation not permitted"
    )


def test_crun_refusing_the_hybrid_cgroup_layout_is_explained() -> None:
    error = launch_error("create", "cgroups in hybrid mode not supported, drop all controllers")
    assert error.errno == errno.ENOTSUP
    assert error.strerror == (
        'crun refuses this host\'s hybrid cgroup layout ("cgroups in hybrid mode not supported"); '
        "use runc or the native linux runtime"
    )


def test_error_of_a_log_that_is_not_json(tmp_path: Path) -> None:
    log = tmp_path / "log"
    log.write_text("plain words\n\n")
    assert error_of(str(log)) == "plain words"
    assert error_of(str(tmp_path / "missing")) == ""


RUNC_EVENT: dict[str, Any] = {
    "cpu": {
        "usage": {
            "total": 300,
            "percpu": [100, 200],
            "kernel": 50,
            "user": 250,
        },
        "throttling": {"periods": 3, "throttled_periods": 1, "throttled_time": 7},
    },
    "memory": {
        "usage": {"limit": UNLIMITED, "usage": 4096, "max": 8192, "failcnt": 2},
        "raw": {"cache": 10, "rss": 20},
    },
    "pids": {"current": 3},
    "blkio": {
        "ioServiceBytesRecursive": [{"major": 8, "minor": 0, "op": "Read", "value": 512}],
    },
}


def test_stats_conversion() -> None:
    stats = docker_stats(RUNC_EVENT, system_usage=123)
    assert stats["cpu_stats"] == {
        "cpu_usage": {
            "total_usage": 300,
            "percpu_usage": [100, 200],
            "usage_in_kernelmode": 50,
            "usage_in_usermode": 250,
        },
        "system_cpu_usage": 123,
        "online_cpus": 2,
        "throttling_data": {"periods": 3, "throttled_periods": 1, "throttled_time": 7},
    }
    memory = stats["memory_stats"]
    assert (memory["usage"], memory["max_usage"], memory["failcnt"]) == (4096, 8192, 2)
    assert memory["stats"] == {"cache": 10, "rss": 20}
    assert memory["limit"] == os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    assert stats["pids_stats"] == {"current": 3}
    blkio = stats["blkio_stats"]
    assert blkio["io_service_bytes_recursive"] == [
        {"major": 8, "minor": 0, "op": "Read", "value": 512}
    ]
    assert blkio["io_serviced_recursive"] is None
    empty = docker_stats({}, system_usage=0)
    assert empty["memory_stats"]["usage"] == 0 and empty["pids_stats"] == {"current": 0}
