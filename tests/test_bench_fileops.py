"""bench/'s file-operation workloads: cp-100mb (with its `tar c | tar x` reference) and
commit-1000 — the machinery only (no numbers asserted)."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import ModuleType

import pytest

from tests.test_bench_containers import load


@pytest.fixture(scope="module")
def workloads() -> ModuleType:
    return load("workloads")


@pytest.fixture(scope="module")
def setups() -> ModuleType:
    return load("setups")


def test_cp_and_commit_workloads(workloads: ModuleType, setups: ModuleType) -> None:
    cp = workloads.WORKLOADS["cp-100mb"]
    assert cp.setup == "cp-tree" and cp.setup in setups.FOR_REFERENCES
    assert cp.commands["berth"][1:] == ("cp", "{tree}", f"{setups.CP_TARGET}:/tmp/dst")
    assert set(cp.after_each) == set(cp.commands)
    assert cp.budget.reference == "docker" and "tar" in cp.daemonless
    commit = workloads.WORKLOADS["commit-1000"]
    assert commit.setup == "commit-1000" and commit.setup in setups.PREPARATIONS
    assert commit.commands["docker"] == (
        "docker",
        "commit",
        setups.COMMIT_TARGET,
        setups.COMMIT_TAG,
    )
    assert workloads.CP_TARGET == setups.CP_TARGET and workloads.COMMIT_TAG == setups.COMMIT_TAG


def test_the_tar_reference_copies_the_tree(
    workloads: ModuleType, setups: ModuleType, tmp_path: Path
) -> None:
    size = setups.write_tree(tmp_path / "tree", dirs=2, files=3, size=1000)
    assert size == 6000
    (tmp_path / "dst").mkdir()
    argv = workloads.WORKLOADS["cp-100mb"].commands["tar"]
    values = {"{tree_parent}": str(tmp_path), "{tar_dst}": str(tmp_path / "dst")}
    done = subprocess.run([values.get(a, a) for a in argv], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    copied = tmp_path / "dst" / "tree" / "dir01" / "file002.bin"
    assert copied.read_bytes() == (tmp_path / "tree" / "dir01" / "file002.bin").read_bytes()
