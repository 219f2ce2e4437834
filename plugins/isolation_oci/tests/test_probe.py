"""The probe: the binary must exist and run, and crun must accept the host's cgroups."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from berth_isolation_oci.probe import crun_cgroup_problem, probe, probe_binary

from .conftest import RUNC

HYBRID_MESSAGE = (
    "crun 1.8.1 refuses this host's hybrid cgroup layout (\"cgroups in hybrid mode not "
    'supported"); use runc or the native linux runtime'
)


def fake_binary(directory: Path, name: str, script: str) -> Path:
    path = directory / name
    path.write_text(f"#!/bin/sh\n{script}\n")
    path.chmod(0o755)
    return path


def cgroup_tree(root: Path, layout: str) -> Path:
    """A fake /sys/fs/cgroup: ``v2``, ``v1``, ``hybrid`` (a controller in cgroup2) or
    ``hybrid-empty`` (cgroup2 without controllers)."""
    root.mkdir()
    if layout == "v2":
        (root / "cgroup.controllers").write_text("cpu memory pids\n")
        return root
    (root / "memory").mkdir()
    if layout.startswith("hybrid"):
        (root / "unified").mkdir()
        controllers = "hugetlb\n" if layout == "hybrid" else "\n"
        (root / "unified" / "cgroup.controllers").write_text(controllers)
    return root


@pytest.mark.skipif(RUNC is None, reason="needs runc")
def test_runc_is_supported_with_its_version(plugin_context: Any) -> None:
    result = probe(plugin_context("isolation", "runc"))
    assert result.supported
    assert result.reason.startswith("runc version ")
    assert RUNC is not None and result.reason.endswith(f"({RUNC})")


def test_a_missing_binary_says_what_to_install(plugin_context: Any) -> None:
    result = probe(plugin_context("isolation", "no-such-runtime"))
    assert not result.supported
    assert result.reason == (
        "the OCI runtime 'no-such-runtime' is not installed (not found in PATH); "
        "install it (apt-get install no-such-runtime)"
    )
    result = probe(plugin_context("isolation", "custom", {"path": "/opt/nothing/runc"}))
    assert result.reason == "the OCI runtime /opt/nothing/runc does not exist or is not executable"


def test_a_binary_that_does_not_run(plugin_context: Any, tmp_path: Path) -> None:
    broken = fake_binary(
        tmp_path, "broken", "echo 'error while loading shared libraries' >&2\nexit 127"
    )
    result = probe(plugin_context("isolation", "custom", {"path": str(broken)}))
    assert not result.supported
    assert result.reason == f"{broken} --version failed: error while loading shared libraries"


def test_a_binary_that_hangs_is_given_up_quickly(plugin_context: Any, tmp_path: Path) -> None:
    stuck = fake_binary(tmp_path, "stuck", "exec sleep 10")
    started = time.monotonic()
    result = probe(plugin_context("isolation", "custom", {"path": str(stuck)}))
    assert time.monotonic() - started < 1.0
    assert result.reason == f"{stuck} --version did not answer within 0.8 s"


@pytest.mark.parametrize(
    ("layout", "problem"),
    [("hybrid", HYBRID_MESSAGE), ("hybrid-empty", ""), ("v2", ""), ("v1", "")],
)
def test_crun_and_the_cgroup_layouts(tmp_path: Path, layout: str, problem: str) -> None:
    root = cgroup_tree(tmp_path / "cgroup", layout)
    assert crun_cgroup_problem("crun version 1.8.1", root) == problem
    crun = fake_binary(tmp_path, "crun", "echo 'crun version 1.8.1'; echo 'commit: f8a0'")
    result = probe_binary(str(crun), root)
    assert result.supported == (not problem)
    assert result.reason == (problem or f"crun version 1.8.1 ({crun})")


def test_a_runtime_named_otherwise_is_recognised_as_crun_by_its_version(tmp_path: Path) -> None:
    root = cgroup_tree(tmp_path / "cgroup", "hybrid")
    renamed = fake_binary(tmp_path, "my-runtime", "echo 'crun version 1.8.1'")
    assert probe_binary(str(renamed), root).reason == HYBRID_MESSAGE


def test_runc_does_not_mind_the_hybrid_layout(tmp_path: Path) -> None:
    root = cgroup_tree(tmp_path / "cgroup", "hybrid")
    runc = fake_binary(tmp_path, "runc", "echo 'runc version 1.1.5'")
    assert probe_binary(str(runc), root).supported


@pytest.mark.skipif(not Path("/usr/bin/crun").exists(), reason="needs Debian's crun")
def test_the_real_crun_here(plugin_context: Any) -> None:
    layout_problem = crun_cgroup_problem("crun version x")
    result = probe(plugin_context("isolation", "crun"))
    assert result.supported == (not layout_problem)
    if layout_problem:
        assert "refuses this host's hybrid cgroup layout" in result.reason
