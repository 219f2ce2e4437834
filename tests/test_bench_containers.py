"""bench/'s container workloads and tools: run-true, run-true-x20 (bench/concurrently.py),
exec-true, the busybox preparation and bench/container_memory.py — the machinery only (no
numbers asserted), bad inputs included."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"


def load(name: str) -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))
    spec = importlib.util.spec_from_file_location(f"berth_bench_c_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def workloads() -> ModuleType:
    return load("workloads")


@pytest.fixture(scope="module")
def harness() -> ModuleType:
    return load("harness")


@pytest.fixture(scope="module")
def memory() -> ModuleType:
    return load("container_memory")


def concurrently(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH / "concurrently.py"), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_concurrently_runs_all_at_once(tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    done = concurrently("5", "sh", "-c", f"mktemp -p {marks} >/dev/null; sleep 0.3")
    assert done.returncode == 0, done.stderr
    assert len(list(marks.iterdir())) == 5


def test_concurrently_reports_failures_and_bad_usage() -> None:
    failed = concurrently("3", "sh", "-c", "echo broken >&2; exit 4")
    assert failed.returncode == 1
    assert failed.stderr == "concurrently.py: 3 of 3 failed; run 1: exit 4: broken\n"
    for args in ([], ["x", "true"], ["0", "true"]):
        assert concurrently(*args).returncode == 2
    missing = concurrently("2", "/nonexistent/command")
    assert missing.returncode == 1 and "cannot run /nonexistent/command" in missing.stderr


def test_container_workloads(workloads: ModuleType, harness: ModuleType) -> None:
    run_true = workloads.WORKLOADS["run-true"]
    assert run_true.commands["docker"] == ("docker", *workloads.RUN_TRUE)
    assert run_true.setup == "busybox" and run_true.budget.reference == "docker"
    x20 = workloads.WORKLOADS["run-true-x20"]
    argv = harness.resolve(x20.commands["berth"])
    assert argv[1] == str(BENCH / "concurrently.py") and argv[2] == "20"
    assert Path(argv[1]).is_file() and argv[4:] == list(workloads.RUN_TRUE)
    exec_true = workloads.WORKLOADS["exec-true"]
    assert exec_true.setup == "busybox-exec"
    assert exec_true.commands["berth"][1:] == ("exec", workloads.EXEC_TARGET, "true")
    setups = load("setups")
    for workload in workloads.WORKLOADS.values():
        assert not workload.setup or workload.setup in setups.PREPARATIONS


@pytest.mark.skipif(not Path("/bin/busybox").is_file(), reason="/bin/busybox is missing")
def test_busybox_rootfs(tmp_path: Path) -> None:
    archives = load("archives")
    path = archives.busybox_rootfs(tmp_path / "rootfs.tar")
    with tarfile.open(path) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["bin/busybox"].isfile() and members["bin/busybox"].mode == 0o755
    assert members["bin/sh"].issym() and members["bin/sh"].linkname == "busybox"
    assert members["tmp"].mode == 0o1777 and "etc/passwd" in members
    again = archives.busybox_rootfs(tmp_path / "again.tar")
    assert again.read_bytes() == path.read_bytes()  # the same image every time


def test_memory_readings_of_this_process(memory: ModuleType) -> None:
    assert memory.kib(os.getpid()) > 1000
    assert memory.kib(os.getpid(), "Pss") > 0
    assert memory.kib(2**22 + 7) == 0  # no such process
    mine = [argv for pid, _ppid, argv in memory.processes() if pid == os.getpid()]
    assert mine and "python" in os.path.basename(mine[0][0])


def test_memory_table(memory: ModuleType) -> None:
    row = {
        "engine": "berth",
        "containers": 50,
        "processes_per_container": [1],
        "per_container_rss": {"median_mib": 14.0, "min_mib": 13.5, "max_mib": 14.2},
        "per_container_pss": {"median_mib": 9.0, "min_mib": 8.5, "max_mib": 9.2},
        "daemon_idle_mib": 40.0,
        "daemon_with_containers_mib": 60.0,
        "daemon_processes": ["berthd"],
    }
    table = memory.format_table([row], {"docker": "docker is not installed"}, 50)
    assert "idle containers: 50" in table
    assert "docker   skipped: docker is not installed" in table
    assert "per container 14.0 MiB RSS" in table and "OVER BUDGET" in table
    assert "daemon with 50 containers 60.0 MiB" in table and ": OK" in table


def test_memory_bad_arguments(memory: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert memory.main(["-n", "0"]) == 2
    assert memory.main(["--engines", "lxc"]) == 2
    err = capsys.readouterr().err
    assert "-n must be at least 1" in err and "unknown engine 'lxc'" in err


def test_a_wrapped_command_is_probed_by_its_engine_program(
    workloads: ModuleType, harness: ModuleType
) -> None:
    x20 = workloads.WORKLOADS["run-true-x20"]
    assert x20.wrapper == 3
    argv = harness.resolve(x20.commands["berth"])
    assert harness.availability(x20, "berth", argv) is None  # berth has `run`
    missing = [*argv[:3], "/nonexistent/engine", *argv[4:]]
    assert harness.availability(x20, "docker", missing) == "/nonexistent/engine is not installed"
