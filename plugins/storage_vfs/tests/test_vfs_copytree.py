"""copy_tree keeps everything a layer holds, and refuses what it must."""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path

import pytest
from berth.testing.trees import differences, hardlink_groups, snapshot
from berth_storage_vfs.copytree import copy_tree

ROOT = os.geteuid() == 0
CAPABILITY = struct.pack("<5I", 0x02000001, 1 << 10, 0, 0, 0)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "dir").mkdir(mode=0o700)
    (src / "dir" / "file").write_bytes(b"data" * 1000)
    os.chmod(src / "dir" / "file", 0o4755)
    os.setxattr(src / "dir" / "file", "user.note", b"\x00\xffbinary")
    os.setxattr(src / "dir", "user.dir", b"d")
    os.link(src / "dir" / "file", src / "hardlink")
    (src / "sticky").mkdir()
    os.chmod(src / "sticky", 0o1777)
    (src / "abs-link").symlink_to("/etc/passwd")
    (src / "dangling").symlink_to("nowhere")
    (src / "dir-link").symlink_to("dir")
    os.mkfifo(src / "fifo", 0o640)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(src / "socket"))
    (src / "empty").write_bytes(b"")
    with open(src / "sparse", "wb") as handle:
        handle.seek(64 * 1024 * 1024)
        handle.write(b"end")
    if ROOT:
        os.mknod(src / "null", 0o20666, os.makedev(1, 3))
        os.chown(src / "dir" / "file", 1000, 2000)
        os.chmod(src / "dir" / "file", 0o4755)  # chown dropped setuid
        os.chown(src / "abs-link", 3000, 4000, follow_symlinks=False)
        (src / "cap").write_bytes(b"\x7fELF")
        os.chmod(src / "cap", 0o755)
        os.setxattr(src / "cap", "security.capability", CAPABILITY)
    for path in sorted(src.rglob("*"), reverse=True):
        os.utime(
            path, ns=(1_500_000_000_123_456_789, 1_600_000_000_987_654_321), follow_symlinks=False
        )
    os.utime(src, ns=(1, 2))
    return src


def test_the_copy_is_identical(source: Path, tmp_path: Path) -> None:
    copy_tree(str(source), str(tmp_path / "copy"))
    found = differences(snapshot(source), snapshot(tmp_path / "copy"))
    assert not found, "\n".join(found)
    assert hardlink_groups(tmp_path / "copy") == {frozenset({"dir/file", "hardlink"})}


def test_times_are_kept_to_the_nanosecond(source: Path, tmp_path: Path) -> None:
    copy_tree(str(source), str(tmp_path / "copy"))
    for path in ("dir", "dir/file", "abs-link", "fifo", "sparse"):
        got = os.lstat(tmp_path / "copy" / path)
        # The source's own atimes moved as the copy read it; the copy has the ones it found.
        assert got.st_mtime_ns == 1_600_000_000_987_654_321, path
        assert got.st_atime_ns == 1_500_000_000_123_456_789, path
    assert os.stat(tmp_path / "copy").st_mtime_ns == 2


def test_holes_stay_holes(source: Path, tmp_path: Path) -> None:
    copy_tree(str(source), str(tmp_path / "copy"))
    copied = os.stat(tmp_path / "copy" / "sparse")
    assert copied.st_size == 64 * 1024 * 1024 + 3
    assert copied.st_blocks * 512 < 1024 * 1024, "the 64 MiB hole was written out"
    with open(tmp_path / "copy" / "sparse", "rb") as handle:
        handle.seek(64 * 1024 * 1024)
        assert handle.read() == b"end"


@pytest.mark.skipif(not ROOT, reason="needs root for owners, devices and file capabilities")
def test_owners_devices_and_capabilities_are_kept(source: Path, tmp_path: Path) -> None:
    copy_tree(str(source), str(tmp_path / "copy"))
    copy = tmp_path / "copy"
    assert os.stat(copy / "dir" / "file").st_uid == 1000
    assert os.stat(copy / "dir" / "file").st_mode & 0o7777 == 0o4755
    assert os.lstat(copy / "abs-link").st_gid == 4000
    assert os.major(os.stat(copy / "null").st_rdev) == 1
    assert os.getxattr(copy / "cap", "security.capability") == CAPABILITY


def test_symlinks_are_not_followed(source: Path, tmp_path: Path) -> None:
    copy_tree(str(source), str(tmp_path / "copy"))
    assert (tmp_path / "copy" / "dir-link").is_symlink()
    assert os.readlink(tmp_path / "copy" / "abs-link") == "/etc/passwd"


def test_an_existing_destination_is_refused(source: Path, tmp_path: Path) -> None:
    (tmp_path / "there").mkdir()
    with pytest.raises(FileExistsError):
        copy_tree(str(source), str(tmp_path / "there"))


def test_a_source_that_is_not_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(NotADirectoryError):
        copy_tree(str(tmp_path / "file"), str(tmp_path / "copy"))
    with pytest.raises(FileNotFoundError):
        copy_tree(str(tmp_path / "missing"), str(tmp_path / "copy"))
    assert not (tmp_path / "copy").exists()


@pytest.mark.skipif(ROOT, reason="root reads every file")
def test_an_unreadable_file_fails_with_its_name(source: Path, tmp_path: Path) -> None:
    os.chmod(source / "empty", 0)
    with pytest.raises(PermissionError) as raised:
        copy_tree(str(source), str(tmp_path / "copy"))
    assert raised.value.filename == str(source / "empty")
