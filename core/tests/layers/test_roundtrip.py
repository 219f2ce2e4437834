"""Round trips: unpack a layer onto its parent, export the changes, unpack the export onto
another copy of the parent: the two trees are identical in every detail (type, mode, owner,
mtime to the nanosecond, xattrs, link targets, device numbers, content, hard-link groups)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from berth.plugins.layers import (
    WhiteoutFormat,
    apply_layer,
    changes_size,
    export_changes,
    overlay_changes,
    tree_changes,
)

from .kit import IS_ROOT, ROOT_ONLY, TarBuilder, assert_same_tree, copy_tree, needs_root, snapshot

pytestmark = ROOT_ONLY  # security.capability, trusted.* xattrs, devices, overlayfs
CAP = b"\x01\x00\x00\x02" + bytes(16)


def parent_tar() -> TarBuilder:
    tar = TarBuilder().dir("etc").file("etc/passwd", b"root:x:0:0\n").file("etc/shadow", b"s")
    tar.dir("etc/apt", mtime="1600000000.1").file("etc/apt/sources.list", b"deb old")
    tar.dir("etc/apt/trusted.d").file("etc/apt/trusted.d/key", b"k")
    tar.dir("usr").dir("usr/bin").file("usr/bin/busybox", b"bb" * 1000, mode=0o755)
    tar.hardlink("usr/bin/ls", "usr/bin/busybox").hardlink("usr/bin/cat", "usr/bin/busybox")
    tar.symlink("bin", "usr/bin").dir("var").dir("var/cache").file("var/cache/a", b"a")
    tar.dir("var/cache/sub").file("var/cache/sub/b", b"b").file("var/typechange", b"file")
    tar.dir("var/dir-to-file").file("var/dir-to-file/x", b"x")
    tar.file("to-delete", b"d").dir("tree-to-delete").file("tree-to-delete/f", b"f")
    tar.dir("home", mode=0o755).dir("home/u", mode=0o700, uid=1000, gid=1000)
    return tar


def child_tar() -> TarBuilder:
    """Every kind of change; every directory it touches has its own entry."""
    tar = TarBuilder()
    tar.dir("etc", mtime="1600000100.000000007")
    tar.file("etc/passwd", b"root:x:0:0\nuser:x:1000:1000\n", mtime="1600000100.123456789")
    tar.file("etc/shadow", b"s", mode=0o600)  # metadata only
    tar.whiteout("etc/gone-never-existed")
    tar.dir("etc/apt", mtime="1600000200.5").opaque("etc/apt")
    tar.file("etc/apt/sources.list", b"deb new", xattrs={"user.origin": b"layer"})
    tar.dir("usr").dir("usr/bin").file("usr/bin/busybox", b"new busybox", mode=0o4755)
    tar.hardlink("usr/bin/ls", "usr/bin/busybox")  # cat keeps the old inode
    tar.file("usr/bin/ping", b"ping", mode=0o755, xattrs={"security.capability": CAP})
    tar.dir("var").dir("var/cache").whiteout("var/cache/a")
    tar.whiteout("var/typechange").dir("var/typechange", mode=0o711)
    tar.file("var/typechange/in", b"in")
    tar.whiteout("var/dir-to-file").file("var/dir-to-file", b"now a file")
    tar.whiteout("to-delete").whiteout("tree-to-delete")
    tar.symlink("bin", "usr/local/bin")  # a changed link target
    tar.dir("home").dir("home/u", mode=0o700, uid=1000, gid=1000)
    tar.file("home/u/.profile", b"p", uid=1000, gid=1000, mode=0o640)
    tar.fifo("home/u/fifo", uid=1000)
    tar.file("sparse-ish", bytes(100_000) + b"end")
    tar.file("n" * 200, b"long name", uid=3_000_000)
    if IS_ROOT:
        tar.dir("dev").device("dev/null", tarfile.CHRTYPE, 1, 3, mode=0o666)
        tar.device("dev/sda", tarfile.BLKTYPE, 8, 0)
    return tar


@pytest.fixture
def parent(tmp_path: Path) -> Path:
    root = tmp_path / "parent"
    root.mkdir()
    apply_layer(parent_tar().stream(), root)
    return root


def fresh_copy(parent: Path, where: Path) -> Path:
    where.mkdir()
    copy_tree(parent, where)
    os.utime(where, ns=(os.lstat(parent).st_atime_ns, os.lstat(parent).st_mtime_ns))
    return where


def test_naive_round_trip(parent: Path, tmp_path: Path) -> None:
    layer = fresh_copy(parent, tmp_path / "layer")
    apply_layer(child_tar().stream(), layer)
    changes = tree_changes(layer, parent)
    assert changes, "the child layer changed nothing?"
    exported = export_changes(layer, changes).read()
    replay = fresh_copy(parent, tmp_path / "replay")
    with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
        content = sum(m.size for m in tar.getmembers() if m.isreg())
    assert apply_layer(io.BytesIO(exported), replay) == content
    assert_same_tree(layer, replay)
    assert tree_changes(replay, layer) == []
    # And the export of the replay is byte for byte the same.
    assert export_changes(replay, tree_changes(replay, parent)).read() == exported


def test_round_trip_of_a_base_layer(parent: Path, tmp_path: Path) -> None:
    exported = export_changes(parent, tree_changes(parent, None)).read()
    replay = tmp_path / "replay"
    replay.mkdir()
    apply_layer(io.BytesIO(exported), replay)
    assert_same_tree(parent, replay)


def test_overlay_round_trip(parent: Path, tmp_path: Path) -> None:
    """The same child unpacked as an overlay upper dir exports the same tree."""
    naive = fresh_copy(parent, tmp_path / "naive")
    apply_layer(child_tar().stream(), naive)
    upper = tmp_path / "upper"
    upper.mkdir()
    apply_layer(child_tar().stream(), upper, whiteouts=WhiteoutFormat.OVERLAY)
    changes = overlay_changes(upper, [parent])
    exported = export_changes(upper, changes).read()
    replay = fresh_copy(parent, tmp_path / "replay")
    apply_layer(io.BytesIO(exported), replay)
    assert_same_tree(naive, replay)
    assert changes_size(upper, changes) > 100_000


@contextlib.contextmanager
def overlay_mount(lower: Path, upper: Path, work: Path, merged: Path) -> Iterator[Path]:
    done = subprocess.run(
        [
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
            f"lowerdir={lower},upperdir={upper},workdir={work}",
            str(merged),
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount overlayfs here: {done.stderr.strip()}")
    try:
        yield merged
    finally:
        subprocess.run(["umount", str(merged)], check=True)


@needs_root
def test_overlayfs_shows_what_the_naive_driver_shows(parent: Path, tmp_path: Path) -> None:
    naive = fresh_copy(parent, tmp_path / "naive")
    apply_layer(child_tar().stream(), naive)
    upper, work, merged = tmp_path / "upper", tmp_path / "work", tmp_path / "merged"
    for path in (upper, work, merged):
        path.mkdir()
    apply_layer(child_tar().stream(), upper, whiteouts=WhiteoutFormat.OVERLAY)
    with overlay_mount(parent, upper, work, merged):
        # Hard links across layers are overlay's own business (usr/bin/cat stays in the lower
        # layer while its old partner ls is replaced above): compare without link groups.
        seen, want = snapshot(merged), snapshot(naive)
        seen.links = want.links = set()
        assert_same_tree(seen, want)
        # And the diff read back from the mounted tree against the parent is the same layer.
        replay = fresh_copy(parent, tmp_path / "replay")
        apply_layer(export_changes(merged, tree_changes(merged, parent)), replay)
        assert_same_tree(snapshot(replay, dir_mtimes=True), snapshot(naive))
