"""Fixtures for the layer tests: a sandbox with a canary next to it, both path resolvers,
the host's /etc/passwd watched."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from berth.plugins.layers import rootfs

from .kit import MTIME, Snapshot, assert_same_tree, snapshot

# -- fixtures ----------------------------------------------------------------------------------


@dataclass
class Sandbox:
    """``root/dest`` to unpack into, ``root/canary`` next to it, which must never change."""

    root: Path
    dest: Path
    canary: Path
    before: Snapshot

    def assert_outside_untouched(self) -> None:
        assert sorted(p.name for p in self.root.iterdir()) == ["canary", "dest"], (
            f"something appeared next to dest: {sorted(p.name for p in self.root.iterdir())}"
        )
        assert_same_tree(self.before, snapshot(self.canary))


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    root = tmp_path / "box"
    dest = root / "dest"
    canary = root / "canary"
    dest.mkdir(parents=True)
    canary.mkdir()
    (canary / "passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (canary / "sub").mkdir()
    (canary / "sub" / "file").write_text("keep me\n")
    os.utime(canary / "sub", ns=(MTIME * 10**9, MTIME * 10**9))
    os.utime(canary, ns=(MTIME * 10**9, MTIME * 10**9))
    box = Sandbox(root, dest, canary, snapshot(canary))
    yield box
    box.assert_outside_untouched()


@pytest.fixture(params=["openat2", "python"])
def resolver(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a test with the kernel's openat2 and with the component-by-component fallback."""
    old = rootfs.use_openat2(request.param == "openat2")
    if request.param == "openat2" and not old:
        rootfs.use_openat2(old)
        pytest.skip("this kernel has no openat2")
    try:
        yield str(request.param)
    finally:
        rootfs.use_openat2(old)


@pytest.fixture
def etc_passwd() -> Iterator[os.stat_result]:
    """The host's /etc/passwd, which must be the same after the test (content and inode)."""
    before = os.stat("/etc/passwd")
    content = Path("/etc/passwd").read_bytes()
    yield before
    after = os.stat("/etc/passwd")
    assert (after.st_ino, after.st_nlink, after.st_mtime_ns) == (
        before.st_ino,
        before.st_nlink,
        before.st_mtime_ns,
    )
    assert Path("/etc/passwd").read_bytes() == content
