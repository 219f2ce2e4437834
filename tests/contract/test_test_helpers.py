"""The helpers the storage suite stands on: loop-mounted file systems, layer tars, trees."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
from berth.testing.layertar import Node, expected_tree, layer_tar, normalise, read_tar
from berth.testing.loopfs import (
    LoopFilesystemError,
    loop_filesystem,
    loop_filesystem_unavailable,
)
from berth.testing.mounts import filesystem_of, mounts_under
from berth.testing.trees import differences, snapshot, without_dir_mtimes


def attached_loops(image: Path) -> str:
    return subprocess.run(
        ["losetup", "--associated", str(image)], capture_output=True, text=True
    ).stdout.strip()


def test_a_loop_btrfs_is_made_and_taken_down(tmp_path: Path) -> None:
    reason = loop_filesystem_unavailable("btrfs")
    if reason:
        pytest.skip(reason)
    with loop_filesystem("btrfs", tmp_path, size_mb=200) as mount_point:
        assert filesystem_of(mount_point) == "btrfs"
        assert mounts_under(tmp_path) == [mount_point]
        assert attached_loops(tmp_path / "btrfs.img")
        (mount_point / "file").write_bytes(b"x")
    assert mounts_under(tmp_path) == []
    assert attached_loops(tmp_path / "btrfs.img") == ""
    assert os.listdir(tmp_path) == []


def test_a_failure_inside_still_takes_it_down(tmp_path: Path) -> None:
    reason = loop_filesystem_unavailable("btrfs")
    if reason:
        pytest.skip(reason)
    with pytest.raises(RuntimeError, match="inside"), loop_filesystem("btrfs", tmp_path):
        raise RuntimeError("inside")
    assert mounts_under(tmp_path) == []
    assert os.listdir(tmp_path) == []


def test_an_unknown_file_system_type_is_explained(tmp_path: Path) -> None:
    reason = loop_filesystem_unavailable("nosuchfs")
    assert reason and "\n" not in reason
    if os.geteuid() == 0:
        assert "mkfs.nosuchfs is not installed" in reason
        failed = pytest.raises(LoopFilesystemError, match=r"^mkfs.nosuchfs .* failed")
        with failed, loop_filesystem("nosuchfs", tmp_path):
            pass  # pragma: no cover - never reached
        assert os.listdir(tmp_path) == []


def test_layer_tar_round_trip() -> None:
    nodes = [
        Node.dir("d", 0o750, mtime=5),
        Node.file("d/f", b"data", 0o4755, xattrs={"user.bin": b"\x00\xff"}),
        Node.hardlink("d/g", "d/f"),
        Node.symlink("l", "/abs"),
        Node.fifo("p"),
        Node.chardev("c", 1, 3),
        Node.whiteout("d/gone"),
        Node.opaque("d"),
    ]
    members = read_tar(layer_tar(nodes))
    assert list(members) == ["d", "d/f", "d/g", "l", "p", "c", "d/.wh.gone", "d/.wh..wh..opq"]
    assert members["d/f"].xattrs == {"user.bin": b"\x00\xff"}
    assert members["d/f"].info.mode == 0o4755
    assert members["d/g"].info.islnk() and members["d/g"].info.linkname == "d/f"
    assert (members["c"].info.devmajor, members["c"].info.devminor) == (1, 3)
    assert members["d"].info.mtime == 5


def test_read_tar_normalises_names_and_refuses_garbage() -> None:
    assert normalise("./a/b/") == "a/b" and normalise("/x") == "x" and normalise("./") == ""
    with pytest.raises(tarfile.TarError):
        read_tar(b"garbage" * 200)


def test_snapshot_sees_what_a_tar_says(tmp_path: Path) -> None:
    nodes = [Node.dir("d", uid=os.getuid(), gid=os.getgid()), Node.file("d/f", b"x", 0o600)]
    with tarfile.open(fileobj=io.BytesIO(layer_tar(nodes))) as tar:
        tar.extractall(tmp_path, filter="fully_trusted")
    want = expected_tree(
        [
            Node.dir("d", uid=os.getuid(), gid=os.getgid()),
            Node.file("d/f", b"x", 0o600, uid=os.getuid(), gid=os.getgid()),
        ]
    )
    got = without_dir_mtimes(snapshot(tmp_path))
    assert differences(without_dir_mtimes(want), got) == []
    os.chmod(tmp_path / "d" / "f", 0o644)
    (tmp_path / "extra").write_bytes(b"")
    assert differences(without_dir_mtimes(want), without_dir_mtimes(snapshot(tmp_path))) == [
        "d/f: mode 384 != 420 (expected != actual)",
        "extra: unexpected file",
    ]
