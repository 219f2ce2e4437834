"""Snapshots of directory trees, to compare what a storage driver shows with what it should.

:func:`snapshot` describes every entry below a root (type, mode, owner, content digest, link
target, device numbers, mtime, the xattrs images carry); :func:`differences` lists, one line
each, how two snapshots differ; :func:`hardlink_groups` tells which names share an inode.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

#: Extended attributes compared: what image layers carry and what the host does not add on its
#: own (``security.selinux`` labels and ``trusted.overlay.*`` are the host's business).
COMPARED_XATTR_PREFIXES: tuple[str, ...] = ("user.", "security.capability")

_KINDS: tuple[tuple[int, str], ...] = (
    (stat.S_IFDIR, "dir"),
    (stat.S_IFREG, "file"),
    (stat.S_IFLNK, "symlink"),
    (stat.S_IFIFO, "fifo"),
    (stat.S_IFCHR, "char"),
    (stat.S_IFBLK, "block"),
    (stat.S_IFSOCK, "socket"),
)


@dataclass(frozen=True)
class TreeEntry:
    kind: str
    mode: int
    uid: int
    gid: int
    size: int = 0
    digest: str = ""
    target: str = ""
    device: tuple[int, int] = (0, 0)
    mtime: int = 0
    xattrs: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def of_node(
        cls,
        kind: str,
        *,
        mode: int,
        uid: int,
        gid: int,
        data: bytes,
        target: str,
        device: tuple[int, int],
        mtime: int,
        xattrs: Mapping[str, bytes],
    ) -> TreeEntry:
        """The entry a correctly unpacked layer-tar node gives."""
        return cls(
            kind=kind,
            mode=stat.S_IMODE(mode),
            uid=uid,
            gid=gid,
            size=len(data) if kind == "file" else 0,
            digest=hashlib.sha256(data).hexdigest() if kind == "file" else "",
            target=target if kind == "symlink" else "",
            device=device if kind in ("char", "block") else (0, 0),
            mtime=mtime,
            xattrs=_compared(xattrs),
        )


def _compared(xattrs: Mapping[str, bytes]) -> tuple[tuple[str, bytes], ...]:
    return tuple(sorted((k, v) for k, v in xattrs.items() if k.startswith(COMPARED_XATTR_PREFIXES)))


def _xattrs(path: str) -> dict[str, bytes]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return {}
    found: dict[str, bytes] = {}
    for name in names:
        if name.startswith(COMPARED_XATTR_PREFIXES):
            try:
                found[name] = os.getxattr(path, name, follow_symlinks=False)
            except OSError:
                continue
    return found


def describe(path: str | Path) -> TreeEntry:
    """The :class:`TreeEntry` of one path (not followed if it is a symbolic link)."""
    text = os.fspath(path)
    st = os.lstat(text)
    kind = next((name for bits, name in _KINDS if stat.S_IFMT(st.st_mode) == bits), "unknown")
    digest, size, target, device = "", 0, "", (0, 0)
    if kind == "file":
        hasher = hashlib.sha256()
        with open(text, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                hasher.update(block)
        digest, size = hasher.hexdigest(), st.st_size
    elif kind == "symlink":
        target = os.readlink(text)
    elif kind in ("char", "block"):
        device = (os.major(st.st_rdev), os.minor(st.st_rdev))
    return TreeEntry(
        kind=kind,
        mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        size=size,
        digest=digest,
        target=target,
        device=device,
        mtime=int(st.st_mtime),
        xattrs=_compared(_xattrs(text)),
    )


def snapshot(root: Path) -> dict[str, TreeEntry]:
    """Every entry below ``root`` (not ``root`` itself), by relative path (``etc/passwd``)."""
    tree: dict[str, TreeEntry] = {}

    def walk(directory: str, prefix: str) -> None:
        with os.scandir(directory) as entries:
            children = sorted(entries, key=lambda e: e.name)
        for child in children:
            relative = f"{prefix}{child.name}"
            tree[relative] = describe(child.path)
            if child.is_dir(follow_symlinks=False):
                walk(child.path, f"{relative}/")

    walk(os.fspath(root), "")
    return tree


def hardlink_groups(root: Path) -> set[frozenset[str]]:
    """Sets of relative paths below ``root`` that are one file (two names or more)."""
    by_inode: dict[tuple[int, int], set[str]] = {}
    for directory, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(directory, d))]:
            full = os.path.join(directory, name)
            st = os.lstat(full)
            if st.st_nlink > 1:
                relative = os.path.relpath(full, root)
                by_inode.setdefault((st.st_dev, st.st_ino), set()).add(relative)
    return {frozenset(paths) for paths in by_inode.values() if len(paths) > 1}


def without_dir_mtimes(tree: Mapping[str, TreeEntry]) -> dict[str, TreeEntry]:
    """``tree`` with directories' mtimes zeroed (for comparisons where they legitimately move)."""
    return {
        path: replace(entry, mtime=0) if entry.kind == "dir" else entry
        for path, entry in tree.items()
    }


def differences(expected: Mapping[str, TreeEntry], actual: Mapping[str, TreeEntry]) -> list[str]:
    """One line per difference between two snapshots (empty when they are equal)."""
    lines: list[str] = []
    for path in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(path), actual.get(path)
        if want is None:
            lines.append(f"{path}: unexpected {got.kind if got else '?'}")
        elif got is None:
            lines.append(f"{path}: missing ({want.kind})")
        elif want != got:
            fields = [
                f"{name} {getattr(want, name)!r} != {getattr(got, name)!r}"
                for name in TreeEntry.__dataclass_fields__
                if getattr(want, name) != getattr(got, name)
            ]
            lines.append(f"{path}: " + ", ".join(fields) + " (expected != actual)")
    return lines
