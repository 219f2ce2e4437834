"""bench/: the image workloads' archives, preparations, after-each commands and absolute budget.

Only the machinery is tested here; benchmark numbers are never asserted.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"


def load(name: str) -> ModuleType:
    if str(BENCH) not in sys.path:
        sys.path.insert(0, str(BENCH))  # the bench modules import each other by name
    spec = importlib.util.spec_from_file_location(f"berth_bench_{name}", BENCH / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def archives() -> ModuleType:
    return load("archives")


@pytest.fixture(scope="module")
def harness() -> ModuleType:
    return load("harness")


@pytest.fixture(scope="module")
def setups() -> ModuleType:
    return load("setups")


def members(path: Path) -> dict[str, bytes]:
    out = {}
    with tarfile.open(path) as tar:
        for member in tar:
            if member.isfile():
                f = tar.extractfile(member)
                assert f is not None
                out[member.name] = f.read()
    return out


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_many_images_archive_holds_distinct_images(archives: ModuleType, tmp_path: Path) -> None:
    path = tmp_path / "many.tar"
    tags = archives.many_images_archive(path, 5)
    assert tags == [f"berth-bench/img-00{i}:latest" for i in range(5)]
    files = members(path)
    manifest = json.loads(files["manifest.json"])
    assert [entry["RepoTags"] for entry in manifest] == [[tag] for tag in tags]
    configs = [files[entry["Config"]] for entry in manifest]
    assert len({sha256(c) for c in configs}) == 5  # five different image IDs
    for entry, config in zip(manifest, configs, strict=True):
        assert entry["Config"].endswith(sha256(config)[7:])
        diff_ids = json.loads(config)["rootfs"]["diff_ids"]
        assert [sha256(files[layer]) for layer in entry["Layers"]] == diff_ids


def test_big_archive_is_three_layers_of_the_asked_size(
    archives: ModuleType, tmp_path: Path
) -> None:
    path = tmp_path / "big.tar"
    tag = archives.big_archive(path, total_mb=4)
    assert tag == "berth-bench/load:latest"
    files = members(path)
    (entry,) = json.loads(files["manifest.json"])
    assert len(entry["Layers"]) == 3
    config = json.loads(files[entry["Config"]])
    assert [sha256(files[layer]) for layer in entry["Layers"]] == config["rootfs"]["diff_ids"]
    content = 0
    for name in entry["Layers"]:
        with tarfile.open(fileobj=io.BytesIO(files[name])) as layer:
            sizes = [m.size for m in layer if m.isfile()]
        content += sum(sizes)
        assert len(sizes) >= 40  # many files in each
    assert content == 4_000_000
    assert archives.archive_size_mb(path) > 4


def test_after_each_runs_after_every_run_untimed(harness: ModuleType, tmp_path: Path) -> None:
    log = tmp_path / "log"
    samples = harness.measure(
        ["sh", "-c", f"echo run >> {log}"],
        runs=2,
        warmup=1,
        after=["sh", "-c", f"echo after >> {log}"],
    )
    assert len(samples) == 2
    assert log.read_text().split() == ["run", "after"] * 3


def test_a_failing_after_command_is_one_clear_error(harness: ModuleType) -> None:
    with pytest.raises(harness.BenchError, match="failed: nope"):
        harness.measure(["true"], runs=1, warmup=0, after=["sh", "-c", "echo nope >&2; exit 1"])


def test_absolute_budget_verdict(harness: ModuleType) -> None:
    workload = harness.WORKLOADS["images"]
    assert workload.budget.limit_ms == 100.0 and workload.setup == "images-100"
    fast = [harness.Result("berth", ["berth", "images"], [80.0, 90.0, 85.0])]
    verdict = harness.budget_verdict(workload, fast)
    assert verdict["ok"] is True and verdict["berth_ms"] == 85.0
    slow = [harness.Result("berth", ["berth", "images"], [120.0, 130.0, 125.0])]
    verdict = harness.budget_verdict(workload, slow)
    assert verdict["ok"] is False
    table = harness.format_table(harness.report(workload, slow, [], 3, 0))
    assert "berth is 125.0 ms (limit 100 ms): OVER BUDGET" in table


def test_load_workload_removes_its_image_after_each_run(harness: ModuleType) -> None:
    workload = harness.WORKLOADS["load"]
    assert workload.setup == "load-100mb"
    assert workload.commands["berth"] == ("{berth}", "load", "-q", "-i", "{archive}")
    assert workload.after_each["berth"][1:] == ("rmi", "berth-bench/load:latest")
    assert workload.budget.reference == "docker"


def test_preparations_refuse_unknown_names(setups: ModuleType) -> None:
    with (
        pytest.raises(setups.SetupError, match="unknown setup 'nope'"),
        setups.prepare("nope", "berth", "berth"),
    ):
        pass
    with setups.prepare("", "berth", "berth") as prepared:
        assert (prepared.env, prepared.values) == ({}, {})


def test_images_preparation_fills_a_bench_daemon_and_cleans_up(
    setups: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A private temporary directory (short: a UNIX socket lives in it): other tests running
    # in parallel make their own berth-bench-* directories in /tmp.
    private = Path(tempfile.mkdtemp(prefix="bbi-", dir="/tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    berth = str(REPO / ".venv" / "bin" / "berth")
    try:
        with setups.prepare("images-100", "berth", berth) as prepared:
            host = prepared.env["BERTH_HOST"]
            listed = subprocess.run(
                [berth, "images", "-q"],
                env={**os.environ, "BERTH_HOST": host},
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert listed.returncode == 0, listed.stderr
            assert len(set(listed.stdout.split())) == 100
        assert list(private.iterdir()) == []  # the preparation removed everything it made
    finally:
        shutil.rmtree(private, ignore_errors=True)
