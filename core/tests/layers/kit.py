"""Helpers for the layer tests: tar builders and full tree snapshots.

Tars are built with the standard library's ``tarfile`` (an implementation independent of the
one under test) or, for malformed input, block by block. A tree snapshot records, for every
path, its type, mode, owner, mtime (ns), size, content digest, symlink target, device number
and xattrs, plus which paths share an inode; two trees are equal when their snapshots are.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import pytest

_T = TypeVar("_T")

IS_ROOT = os.geteuid() == 0
_skip_unless_root = pytest.mark.skipif(
    not IS_ROOT, reason="needs root (devices, whiteouts, owners, trusted.* xattrs)"
)
#: Marks of a test (or, as ``pytestmark``, a module) that needs root.
ROOT_ONLY = [pytest.mark.root, _skip_unless_root]


def needs_root(test: _T) -> _T:
    """Mark a test as needing root (and skip it for anyone else)."""
    return pytest.mark.root(_skip_unless_root(test))


MTIME = 1_600_000_000  # a fixed, old mtime for entries


# -- building tars -----------------------------------------------------------------------------


class TarBuilder:
    """A layer tar built entry by entry (pax format unless told otherwise)."""

    def __init__(self, fmt: int = tarfile.PAX_FORMAT) -> None:
        self.buffer = io.BytesIO()
        self.tar = tarfile.open(fileobj=self.buffer, mode="w", format=fmt)  # noqa: SIM115

    def _info(
        self,
        name: str,
        kind: bytes,
        mode: int,
        uid: int,
        gid: int,
        mtime: float | str,
        xattrs: dict[str, bytes] | None,
    ) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.uid = uid
        info.gid = gid
        info.uname = info.gname = ""
        if isinstance(mtime, str):  # "seconds.nanoseconds", exactly as the pax record says
            info.mtime = int(mtime.split(".")[0])
            info.pax_headers["mtime"] = mtime
        else:
            info.mtime = mtime
        for key, value in (xattrs or {}).items():
            info.pax_headers["SCHILY.xattr." + key] = value.decode("utf-8", "surrogateescape")
        return info

    def dir(
        self,
        name: str,
        mode: int = 0o755,
        uid: int = 0,
        gid: int = 0,
        mtime: float | str = MTIME,
        xattrs: dict[str, bytes] | None = None,
    ) -> TarBuilder:
        self.tar.addfile(self._info(name, tarfile.DIRTYPE, mode, uid, gid, mtime, xattrs))
        return self

    def file(
        self,
        name: str,
        data: bytes = b"",
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
        mtime: float | str = MTIME,
        xattrs: dict[str, bytes] | None = None,
    ) -> TarBuilder:
        info = self._info(name, tarfile.REGTYPE, mode, uid, gid, mtime, xattrs)
        info.size = len(data)
        self.tar.addfile(info, io.BytesIO(data))
        return self

    def symlink(
        self, name: str, target: str, uid: int = 0, gid: int = 0, mtime: float | str = MTIME
    ) -> TarBuilder:
        info = self._info(name, tarfile.SYMTYPE, 0o777, uid, gid, mtime, None)
        info.linkname = target
        self.tar.addfile(info)
        return self

    def hardlink(self, name: str, target: str) -> TarBuilder:
        info = self._info(name, tarfile.LNKTYPE, 0o644, 0, 0, MTIME, None)
        info.linkname = target
        self.tar.addfile(info)
        return self

    def fifo(self, name: str, mode: int = 0o640, uid: int = 0, gid: int = 0) -> TarBuilder:
        self.tar.addfile(self._info(name, tarfile.FIFOTYPE, mode, uid, gid, MTIME, None))
        return self

    def device(
        self, name: str, kind: bytes, major: int, minor: int, mode: int = 0o660
    ) -> TarBuilder:
        info = self._info(name, kind, mode, 0, 0, MTIME, None)
        info.devmajor = major
        info.devminor = minor
        self.tar.addfile(info)
        return self

    def whiteout(self, name: str) -> TarBuilder:
        parent, _, base = name.rpartition("/")
        return self.file(f"{parent}/.wh.{base}" if parent else f".wh.{base}", mode=0)

    def opaque(self, directory: str) -> TarBuilder:
        return self.file(f"{directory}/.wh..wh..opq", mode=0)

    def bytes(self) -> bytes:
        self.tar.close()
        return self.buffer.getvalue()

    def stream(self) -> io.BytesIO:
        return io.BytesIO(self.bytes())


def raw_header(
    name: bytes,
    kind: bytes = b"0",
    size: int | bytes = 0,
    mode: bytes = b"0000644\0",
    linkname: bytes = b"",
    checksum: bool = True,
) -> bytes:
    """One ustar header block, written by hand (for what tarfile refuses to write)."""
    block = bytearray(512)
    block[0 : len(name)] = name
    block[100:108] = mode
    block[108:116] = b"0000000\0"
    block[116:124] = b"0000000\0"
    block[124:136] = size if isinstance(size, bytes) else b"%011o\0" % size
    block[136:148] = b"%011o\0" % MTIME
    block[148:156] = b"        "
    block[156:157] = kind
    block[157 : 157 + len(linkname)] = linkname
    block[257:265] = b"ustar\x0000"
    if checksum:
        block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def data_blocks(data: bytes) -> bytes:
    return data + bytes(-len(data) % 512)


END = bytes(1024)


# -- snapshots of trees -------------------------------------------------------------------------


@dataclass(frozen=True)
class Node:
    kind: str
    mode: int
    uid: int
    gid: int
    mtime_ns: int
    size: int = 0
    digest: str = ""
    target: bytes = b""
    rdev: int = 0
    xattrs: tuple[tuple[str, bytes], ...] = ()


@dataclass
class Snapshot:
    nodes: dict[str, Node] = field(default_factory=dict)
    links: set[frozenset[str]] = field(default_factory=set)  # paths sharing one inode


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "dir"),
        (stat.S_ISREG, "file"),
        (stat.S_ISLNK, "symlink"),
        (stat.S_ISFIFO, "fifo"),
        (stat.S_ISCHR, "char"),
        (stat.S_ISBLK, "block"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return name
    return "?"


def snapshot(root: Path, *, dir_mtimes: bool = True, skip_xattrs: tuple[str, ...] = ()) -> Snapshot:
    """Everything below ``root`` (not ``root`` itself)."""
    shot = Snapshot()
    inodes: dict[tuple[int, int], list[str]] = {}
    for top, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = os.path.join(top, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            kind = _kind(st.st_mode)
            try:
                names = os.listxattr(path, follow_symlinks=False)
            except OSError:
                names = []
            xattrs = tuple(
                sorted(
                    (x, os.getxattr(path, x, follow_symlinks=False))
                    for x in names
                    if not x.startswith(skip_xattrs)
                )
            )
            digest = ""
            if kind == "file":
                with open(path, "rb") as handle:
                    digest = hashlib.sha256(handle.read()).hexdigest()
                inodes.setdefault((st.st_dev, st.st_ino), []).append(rel)
            shot.nodes[rel] = Node(
                kind=kind,
                mode=stat.S_IMODE(st.st_mode),
                uid=st.st_uid,
                gid=st.st_gid,
                mtime_ns=st.st_mtime_ns if (dir_mtimes or kind != "dir") else 0,
                size=st.st_size if kind != "dir" else 0,
                digest=digest,
                target=os.readlink(os.fsencode(path)) if kind == "symlink" else b"",
                rdev=st.st_rdev if kind in ("char", "block") else 0,
                xattrs=xattrs,
            )
    shot.links = {frozenset(group) for group in inodes.values() if len(group) > 1}
    return shot


def differences(left: Snapshot, right: Snapshot) -> list[str]:
    """One line per difference between two snapshots (empty when they are the same)."""
    lines: list[str] = []
    for path in sorted(set(left.nodes) | set(right.nodes)):
        a, b = left.nodes.get(path), right.nodes.get(path)
        if a is None:
            lines.append(f"only right: {path} {b}")
        elif b is None:
            lines.append(f"only left: {path} {a}")
        elif a != b:
            fields = [f for f in a.__dataclass_fields__ if getattr(a, f) != getattr(b, f)]
            lines.append(
                f"{path}: "
                + ", ".join(f"{f} {getattr(a, f)!r} != {getattr(b, f)!r}" for f in fields)
            )
    if left.links != right.links:
        lines.append(
            f"hard links: {sorted(map(sorted, left.links))} != {sorted(map(sorted, right.links))}"
        )
    return lines


def assert_same_tree(left: Path | Snapshot, right: Path | Snapshot) -> None:
    a = left if isinstance(left, Snapshot) else snapshot(left)
    b = right if isinstance(right, Snapshot) else snapshot(right)
    diff = differences(a, b)
    assert not diff, "trees differ:\n" + "\n".join(diff[:40])


def copy_tree(src: Path, dst: Path) -> None:
    """A full copy keeping owners, modes, times, xattrs, hard links, devices (cp -a)."""
    subprocess.run(["cp", "-a", "--", f"{src}/.", str(dst)], check=True)


def gnu_tar_extract(archive: bytes, dest: Path) -> None:
    """The reference: GNU tar's extraction of the same archive, keeping everything."""
    subprocess.run(
        [
            "tar",
            "-x",
            "-p",
            "--same-owner",
            "--numeric-owner",
            "--delay-directory-restore",
            "--xattrs",
            "--xattrs-include=*",
            "-C",
            str(dest),
        ],
        input=archive,
        check=True,
        capture_output=True,
    )


def have_tool(name: str) -> bool:
    return shutil.which(name) is not None
