"""Resolving directories inside a root, with openat2 and with the Python fallback."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from berth.plugins.layers.rootfs import make_dirs, open_dir

pytestmark = pytest.mark.usefixtures("resolver")


@pytest.fixture
def root(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    top = tmp_path / "root"
    (top / "a/b").mkdir(parents=True)
    (top / "file").write_text("f")
    os.symlink("a/b", top / "rel")
    os.symlink("/a", top / "abs")
    os.symlink("../../../../..", top / "up")
    os.symlink("loop", top / "loop")
    os.symlink(str(tmp_path), top / "host")  # where the root itself lives
    os.symlink("file", top / "to-file")
    fd = os.open(top, os.O_PATH | os.O_DIRECTORY)
    try:
        yield top, fd
    finally:
        os.close(fd)


def where(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def opened(root_fd: int, path: bytes, *, follow: bool) -> str:
    fd = open_dir(root_fd, path, follow=follow)
    try:
        return where(fd)
    finally:
        os.close(fd)


def test_following_symlinks_stays_in_the_root(root: tuple[Path, int]) -> None:
    top, fd = root
    assert opened(fd, b"", follow=True) == str(top)
    assert opened(fd, b"rel", follow=True) == str(top / "a/b")
    assert opened(fd, b"abs/b", follow=True) == str(top / "a/b")
    assert opened(fd, b"up", follow=True) == str(top)
    assert opened(fd, b"up/a/../a/b/../..", follow=True) == str(top)
    assert opened(fd, b"a/b/../../../../..", follow=True) == str(top)


def test_not_following_refuses_symlinks_and_climbing(root: tuple[Path, int]) -> None:
    _, fd = root
    assert opened(fd, b"a/b", follow=False).endswith("/a/b")
    for path in (b"rel", b"abs/b", b"up"):
        with pytest.raises(OSError) as caught:
            open_dir(fd, path, follow=False)
        assert caught.value.errno == errno.ELOOP
    with pytest.raises(OSError) as caught:
        open_dir(fd, b"a/../..", follow=False)
    assert caught.value.errno == errno.EXDEV


@pytest.mark.parametrize(
    ("path", "error"),
    [
        (b"loop", errno.ELOOP),
        (b"missing", errno.ENOENT),
        (b"file", errno.ENOTDIR),
        (b"to-file", errno.ENOTDIR),
        (b"host/root", errno.ENOENT),  # the host path, looked up inside the root
    ],
)
def test_errors(root: tuple[Path, int], path: bytes, error: int) -> None:
    _, fd = root
    with pytest.raises(OSError) as caught:
        open_dir(fd, path, follow=True)
    assert caught.value.errno == error


def test_make_dirs_creates_inside_through_symlinks(root: tuple[Path, int]) -> None:
    top, fd = root
    made = make_dirs(fd, b"up/x/y")
    try:
        assert where(made) == str(top / "x/y")
        assert oct(os.lstat(top / "x").st_mode & 0o777) == oct(0o755)
    finally:
        os.close(made)
    made = make_dirs(fd, b"abs/new")
    os.close(made)
    assert (top / "a/new").is_dir()


def test_make_dirs_through_a_dangling_symlink_fails(root: tuple[Path, int]) -> None:
    top, fd = root
    os.symlink("/nowhere", top / "dangling")
    with pytest.raises(FileNotFoundError, match="'dangling' is a symlink"):
        make_dirs(fd, b"dangling/x")
    assert not (top / "nowhere").exists()
