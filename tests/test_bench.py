"""bench/: the workloads are well-formed and the harness measures, reports and refuses bad input.

Only the machinery is tested here; benchmark numbers are never asserted.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"berth_bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def harness() -> ModuleType:
    return load("harness")


@pytest.fixture(scope="module")
def workloads() -> ModuleType:
    return load("workloads")


@pytest.fixture(scope="module")
def idle_rss() -> ModuleType:
    return load("idle_rss")


class TestWorkloads:
    def test_every_workload_has_berth_first_and_nonempty_commands(
        self, harness: ModuleType
    ) -> None:
        for name, workload in harness.WORKLOADS.items():
            assert workload.name == name
            assert next(iter(workload.commands)) == "berth", name
            for engine, argv in workload.commands.items():
                assert argv and all(isinstance(a, str) and a for a in argv), (name, engine)

    def test_budgets_refer_to_an_engine_of_their_workload(self, harness: ModuleType) -> None:
        for workload in harness.WORKLOADS.values():
            if workload.budget is not None:
                assert workload.budget.reference in workload.commands

    def test_client_startup_budget_is_60_ms_over_bare_python(self, harness: ModuleType) -> None:
        workload = harness.WORKLOADS["client-startup"]
        assert workload.commands["python"] == ("{python}", "-c", "pass")
        assert workload.budget.max_over_ms == 60.0

    def test_placeholders_resolve_to_the_repository_venv(self, harness: ModuleType) -> None:
        argv = harness.resolve(("{python}", "-c", "pass"))
        assert argv[1:] == ["-c", "pass"]
        assert Path(argv[0]).exists()


class TestHarness:
    def test_settle_waits_after_each_run_untimed(self, harness: ModuleType) -> None:
        started = time.monotonic()
        samples = harness.measure(["true"], runs=2, warmup=1, settle=0.2)
        assert len(samples) == 2 and max(samples) < 200
        assert time.monotonic() - started >= 0.6  # three runs, each followed by the wait

    def test_measure_returns_one_sample_per_timed_run(self, harness: ModuleType) -> None:
        samples = harness.measure(["true"], runs=3, warmup=1)
        assert len(samples) == 3
        assert all(s > 0 for s in samples)

    def test_a_failing_command_is_one_clear_error(self, harness: ModuleType) -> None:
        with pytest.raises(harness.BenchError, match="failed: boom"):
            harness.measure(["sh", "-c", "echo boom >&2; exit 3"], runs=1, warmup=0)

    def test_missing_engines_are_skipped_with_a_reason(
        self, harness: ModuleType, workloads: ModuleType
    ) -> None:
        workload = workloads.Workload(
            name="t",
            description="t",
            commands={"berth": ("true",), "docker": ("/nonexistent/docker", "version")},
        )
        results, skipped = harness.run_workload(workload, 2, 0, None)
        assert [r.engine for r in results] == ["berth"]
        assert [(s.engine, s.reason) for s in skipped] == [
            ("docker", "/nonexistent/docker is not installed")
        ]

    def test_table_shows_ratio_to_berth_and_budget_verdict(
        self, harness: ModuleType, workloads: ModuleType
    ) -> None:
        workload = workloads.Workload(
            name="t",
            description="d",
            commands={"berth": ("b",), "python": ("p",)},
            budget=workloads.Budget(reference="python", max_over_ms=60.0, what="fast"),
        )
        results = [
            harness.Result("berth", ["/x/berth", "--help"], [100.0, 120.0, 110.0]),
            harness.Result("python", ["/x/python", "-c", "pass"], [20.0, 20.0, 20.0]),
        ]
        data = harness.report(workload, results, [harness.Skipped("docker", "absent")], 3, 0)
        assert data["results"][0]["median_ms"] == 110.0
        assert data["results"][1]["ratio_vs_berth"] == round(20 / 110, 3)
        assert data["budget"] == {
            "what": "fast",
            "over_reference_ms": 90.0,
            "max_over_ms": 60.0,
            "ok": False,
        }
        table = harness.format_table(data)
        assert "OVER BUDGET" in table
        assert "0.18x" in table
        assert "absent" in table

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["no-such-workload"], "unknown workload 'no-such-workload'"),
            ([], "name a workload"),
            (["version", "-n", "0"], "-n must be at least 1"),
            (["version", "--settle", "-1"], "--settle at least 0"),
            (["version", "--engines", "lxc"], "has no engine 'lxc'"),
        ],
    )
    def test_bad_arguments_exit_2_with_one_line(
        self, harness: ModuleType, capsys: pytest.CaptureFixture[str], args: list[str], message: str
    ) -> None:
        assert harness.main(args) == 2
        err = capsys.readouterr().err
        assert message in err
        assert err.strip().count("\n") == 0

    def test_runs_from_the_command_line_with_json(self) -> None:
        done = subprocess.run(
            [
                sys.executable,
                str(BENCH / "harness.py"),
                "client-startup",
                "--engines",
                "python",
                "-n",
                "2",
                "--warmup",
                "0",
                "--json",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
        )
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        assert data["workload"] == "client-startup"
        assert [r["engine"] for r in data["results"]] == ["python"]
        assert len(data["results"][0]["samples_ms"]) == 2


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[Path, list[bytes]]]:
    """A one-shot UNIX-socket server answering with the response put in the list."""
    path = tmp_path / "s.sock"
    responses: list[bytes] = []
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(responses[0])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, responses
    server.close()
    thread.join(timeout=5)


class TestIdleRss:
    def test_ping_is_true_for_200(
        self, idle_rss: ModuleType, http_server: tuple[Path, list[bytes]]
    ) -> None:
        path, responses = http_server
        responses.append(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK")
        assert idle_rss.ping(path) is True

    def test_ping_is_false_for_an_error_status(
        self, idle_rss: ModuleType, http_server: tuple[Path, list[bytes]]
    ) -> None:
        path, responses = http_server
        responses.append(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n")
        assert idle_rss.ping(path) is False

    def test_ping_is_false_without_a_server(self, idle_rss: ModuleType, tmp_path: Path) -> None:
        assert idle_rss.ping(tmp_path / "nobody.sock") is False

    def test_reads_the_rss_of_a_process(self, idle_rss: ModuleType) -> None:
        assert idle_rss.vm_rss_kib(os.getpid()) > 1024

    def test_bad_arguments_exit_2(
        self, idle_rss: ModuleType, capsys: pytest.CaptureFixture[str]
    ) -> None:
        assert idle_rss.main(["--budget-mib", "0"]) == 2
        assert "--budget-mib" in capsys.readouterr().err

    def test_measures_a_real_idle_daemon_and_cleans_up(self) -> None:
        before = set(Path(tempfile.gettempdir()).glob("berth-idle-rss.*"))
        done = subprocess.run(
            [
                sys.executable,
                str(BENCH / "idle_rss.py"),
                "--idle",
                "0",
                "--json",
                "--budget-mib",
                "100000",
            ],
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert done.returncode == 0, done.stderr
        data = json.loads(done.stdout)
        assert data["rss_kib"] > 1024
        assert data["ok"] is True
        assert set(Path(tempfile.gettempdir()).glob("berth-idle-rss.*")) == before
