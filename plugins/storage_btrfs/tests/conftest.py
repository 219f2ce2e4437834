"""Fixtures for the btrfs plugin's tests: berth's own, and a loop-mounted btrfs."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from berth.testing.fixtures import fake_distribution, plugin_context
from berth.testing.loopfs import loop_filesystem, loop_filesystem_unavailable

__all__ = ["btrfs_dir", "btrfs_mount", "fake_distribution", "plugin_context"]


@pytest.fixture(scope="module")
def btrfs_mount(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A 256 MiB btrfs, loop-mounted for the module; unmounted and detached afterwards."""
    reason = loop_filesystem_unavailable("btrfs")
    if reason:
        pytest.skip(reason)
    with loop_filesystem("btrfs", tmp_path_factory.mktemp("btrfs"), size_mb=256) as mount_point:
        yield mount_point


@pytest.fixture
def btrfs_dir(btrfs_mount: Path) -> Path:
    """A fresh directory on the loop-mounted btrfs."""
    return Path(tempfile.mkdtemp(prefix="test-", dir=btrfs_mount))
