"""Files in and out of a container: the archive API (``docker cp``) and ``docker export``.

Everything is read and written relative to a :class:`~.confined.ContainerRoot`: the path a
user gives is resolved inside the container's root, and what is below it is walked with
descriptors (``O_NOFOLLOW`` at every step), so neither a symlink in the container nor one
swapped in during the copy can lead outside. Blocking: call from worker threads.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from berth.engine.containers.confined import (
    ContainerRoot,
    PathNotFound,
    absolute,
    open_parent,
    relative,
    resolve,
    split,
)
from berth.engine.errors import BadParameter, BerthError
from berth.plugins.layers import LayerError, apply_layer, tarwriter
from berth.plugins.layers.changes import read_xattrs
from berth.plugins.layers.export import entry_header, file_entry
from berth.plugins.layers.rootfs import READ_DIR_FLAGS, open_dir

CHUNK = 1 << 20
STAT_HEADER = "X-Docker-Container-Path-Stat"
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_OPEN_DIR = READ_DIR_FLAGS | os.O_NOFOLLOW
_GONE = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EXDEV)

# Go's os.FileMode bits, as Docker puts them in a path stat.
_GO_DIR = 1 << 31
_GO_SYMLINK = 1 << 27
_GO_DEVICE = 1 << 26
_GO_PIPE = 1 << 25
_GO_SOCKET = 1 << 24
_GO_SETUID = 1 << 23
_GO_SETGID = 1 << 22
_GO_CHAR = 1 << 21
_GO_STICKY = 1 << 20


def go_mode(mode: int) -> int:
    """A POSIX ``st_mode`` as Go's ``os.FileMode`` (what Docker's clients expect)."""
    out = mode & 0o777
    kind = stat.S_IFMT(mode)
    if kind == stat.S_IFDIR:
        out |= _GO_DIR
    elif kind == stat.S_IFLNK:
        out |= _GO_SYMLINK
    elif kind == stat.S_IFIFO:
        out |= _GO_PIPE
    elif kind == stat.S_IFSOCK:
        out |= _GO_SOCKET
    elif kind == stat.S_IFCHR:
        out |= _GO_DEVICE | _GO_CHAR
    elif kind == stat.S_IFBLK:
        out |= _GO_DEVICE
    if mode & stat.S_ISUID:
        out |= _GO_SETUID
    if mode & stat.S_ISGID:
        out |= _GO_SETGID
    if mode & stat.S_ISVTX:
        out |= _GO_STICKY
    return out


def _go_time(ns: int) -> str:
    """RFC 3339 with Go's trimmed nanoseconds."""
    whole, frac = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if frac:
        text += f".{frac:09d}".rstrip("0")
    return text + "Z"


def _lstat_target(root: ContainerRoot, path: str, container: str) -> tuple[int, str, str]:
    """(open parent directory, last component, absolute path) of an existing ``path``; the
    last component is not followed. ``""`` or ``"."`` as component: the directory itself."""
    wanted = absolute(path)
    dir_fd, base = open_parent(root, root.inner(wanted), container, path)
    if base not in ("", "."):
        try:
            os.lstat(base, dir_fd=dir_fd)
        except OSError as exc:
            os.close(dir_fd)
            if exc.errno in _GONE:
                raise PathNotFound(path, container) from None
            raise BerthError(
                f"cannot stat {path} in container {container}: {exc.strerror}"
            ) from exc
    return dir_fd, base, wanted


def stat_path(root: ContainerRoot, path: str, container: str) -> dict[str, Any]:
    """Docker's ``ContainerPathStat`` of ``path``: name, size, mode, mtime, linkTarget."""
    if not path:
        raise BadParameter("path is required: give the path in the container to look at")
    dir_fd, base, wanted = _lstat_target(root, path, container)
    try:
        st = os.lstat(base, dir_fd=dir_fd) if base not in ("", ".") else os.fstat(dir_fd)
    finally:
        os.close(dir_fd)
    link = root.outer(resolve(root, root.inner(wanted))) if stat.S_ISLNK(st.st_mode) else ""
    name = split(wanted)[1] or "/"
    return {
        "name": name,
        "size": st.st_size,
        "mode": go_mode(st.st_mode),
        "mtime": _go_time(st.st_mtime_ns),
        "linkTarget": link,
    }


def stat_header(found: dict[str, Any]) -> str:
    """The value of ``X-Docker-Container-Path-Stat``: the stat as base64 JSON."""
    return base64.b64encode(json.dumps(found, separators=(",", ":")).encode()).decode("ascii")


# --- reading -----------------------------------------------------------------------------------


def tar_path(root: ContainerRoot, path: str, container: str) -> Iterator[bytes]:
    """The tar stream of ``path`` and (for a directory) everything below it, its entries
    named from the path's last component (``etc/…``; ``./…`` for ``dir/.``). Raises
    PathNotFound at once (not at the first chunk) when the path does not exist."""
    dir_fd, _, wanted = _lstat_target(root, path, container)
    os.close(dir_fd)
    return _tar_from(root, wanted, container)


def _tar_from(root: ContainerRoot, wanted: str, container: str) -> Iterator[bytes]:
    pseudo = {relative(p) for p in root.pseudo_mounts()}
    top = os.fsencode(split(wanted)[1] or ".")
    wanted = root.inner(wanted)
    parent = split(wanted)[0]
    dir_fd, base = open_parent(root, wanted, container)
    try:
        if base in ("", "."):
            fd = os.open(".", _OPEN_DIR, dir_fd=dir_fd)
            itself = wanted[:-2] if wanted.endswith("/.") else wanted
            yield from _walk_dir(fd, os.fstat(fd), top, relative(itself), pseudo, {})
        else:
            yield from walk(dir_fd, os.fsencode(base), top, relative(parent), pseudo)
        yield tarwriter.END_OF_ARCHIVE
    finally:
        os.close(dir_fd)


def walk(
    dir_fd: int,
    base: bytes,
    name: bytes,
    parent_path: bytes = b"",
    pseudo: set[bytes] | None = None,
) -> Iterator[bytes]:
    """Tar entries of ``base`` in ``dir_fd`` (named ``name``) and of what is below it.
    ``parent_path`` is the container path of ``dir_fd`` (relative), to tell ``pseudo``
    mount points (whose content is left out)."""
    links: dict[tuple[int, int], bytes] = {}
    pseudo = pseudo or set()
    try:
        st = os.lstat(base, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in _GONE:
            return
        raise
    if not stat.S_ISDIR(st.st_mode):
        yield from _entry(dir_fd, base, name, st, links)
        return
    try:
        fd = os.open(base, _OPEN_DIR, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in _GONE:  # replaced by something else since the lstat
            return
        raise
    here = parent_path + b"/" + base if parent_path else base
    yield from _walk_dir(fd, os.fstat(fd), name, here, pseudo, links)


def _dir_name(name: bytes) -> bytes:
    return b"./" if name == b"." else name + b"/"


def _walk_dir(
    top_fd: int,
    top_st: os.stat_result,
    top_name: bytes,
    top_path: bytes,
    pseudo: set[bytes],
    links: dict[tuple[int, int], bytes],
) -> Iterator[bytes]:
    """The entries of the open directory ``top_fd`` and below, depth first, in name order.
    Takes ownership of ``top_fd``; only the directories on the way down stay open."""
    # Frames: (open directory, its tar name, its container path, the names left in it).
    try:
        names = _names(top_fd, top_path, pseudo)
    except BaseException:
        os.close(top_fd)
        raise
    stack: list[tuple[int, bytes, bytes, Iterator[bytes]]] = [(top_fd, top_name, top_path, names)]
    try:
        yield entry_header(_dir_name(top_name), tarwriter.DIR, top_st, _xattrs(top_fd))
        while stack:
            fd, name, path, left = stack[-1]
            child = next(left, None)
            if child is None:
                stack.pop()
                os.close(fd)
                continue
            child_name = b"./" + child if name == b"." else name + b"/" + child
            child_path = path + b"/" + child if path else child
            try:
                st = os.lstat(child, dir_fd=fd)
                if not stat.S_ISDIR(st.st_mode):
                    yield from _entry(fd, child, child_name, st, links)
                    continue
                cfd = os.open(child, _OPEN_DIR, dir_fd=fd)
            except OSError as exc:
                if exc.errno in _GONE:  # vanished or swapped meanwhile: left out
                    continue
                raise
            try:
                cst = os.fstat(cfd)
                names = _names(cfd, child_path, pseudo)
            except BaseException:
                os.close(cfd)
                raise
            stack.append((cfd, child_name, child_path, names))
            yield entry_header(_dir_name(child_name), tarwriter.DIR, cst, _xattrs(cfd))
    finally:
        for fd, *_ in stack:
            os.close(fd)


def _names(fd: int, path: bytes, pseudo: set[bytes]) -> Iterator[bytes]:
    if path in pseudo:
        return iter(())
    with os.scandir(fd) as listing:
        return iter(sorted(os.fsencode(e.name) for e in listing))


def _xattrs(fd: int) -> dict[str, bytes] | None:
    return read_xattrs(fd, b".")


def _entry(
    dir_fd: int, base: bytes, name: bytes, st: os.stat_result, links: dict[tuple[int, int], bytes]
) -> Iterator[bytes]:
    """The entry of a non-directory ``base`` in ``dir_fd``; sockets are left out."""
    mode = st.st_mode
    if stat.S_ISREG(mode):
        yield from file_entry(dir_fd, base, name, links, vanished_ok=True)
    elif stat.S_ISLNK(mode):
        target = os.readlink(base, dir_fd=dir_fd)
        yield entry_header(name, tarwriter.SYM, st, None, linkname=target)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        kind = tarwriter.CHR if stat.S_ISCHR(mode) else tarwriter.BLK
        yield entry_header(name, kind, st, None)
    elif stat.S_ISFIFO(mode):
        yield entry_header(name, tarwriter.FIFO, st, None)


def export_root(root: ContainerRoot) -> Iterator[bytes]:
    """The whole file system of ``root`` as a tar stream (``docker export``): entries named
    without a leading ``/`` or ``./``, the root itself left out."""
    fd = os.open(".", _OPEN_DIR, dir_fd=root.fd)
    links: dict[tuple[int, int], bytes] = {}
    pseudo = {relative(p) for p in root.pseudo_mounts()}
    try:
        with os.scandir(fd) as listing:
            names = sorted(os.fsencode(e.name) for e in listing)
        for name in names:
            yield from _walk_top(fd, name, pseudo, links)
        yield tarwriter.END_OF_ARCHIVE
    finally:
        os.close(fd)


def _walk_top(
    fd: int, name: bytes, pseudo: set[bytes], links: dict[tuple[int, int], bytes]
) -> Iterator[bytes]:
    try:
        st = os.lstat(name, dir_fd=fd)
        if not stat.S_ISDIR(st.st_mode):
            yield from _entry(fd, name, name, st, links)
            return
        cfd = os.open(name, _OPEN_DIR, dir_fd=fd)
    except OSError as exc:
        if exc.errno in _GONE:
            return
        raise
    yield from _walk_dir(cfd, os.fstat(cfd), name, name, pseudo, links)


# --- writing -----------------------------------------------------------------------------------


def extract(
    root: ContainerRoot,
    path: str,
    stream: BinaryIO,
    container: str,
    *,
    no_overwrite_dir_non_dir: bool = False,
    owner: tuple[int, int] | None = None,
    read_only_root: bool = False,
) -> None:
    """Unpack the tar ``stream`` into the directory ``path`` of the container (a symlink as
    the last component is followed, inside the root). Entries are confined to that directory.
    PathNotFound when it is missing; BadParameter when it is no directory, for a bad tar, or
    a conflict the options forbid."""
    if not path:
        raise BadParameter("path is required: give the directory in the container to extract to")
    wanted = root.inner(absolute(path))
    try:
        dest = open_dir(
            root.fd,
            relative(split(wanted)[0] if wanted.endswith("/.") else wanted),
            follow=True,
            flags=READ_DIR_FLAGS,
        )
    except OSError as exc:
        if exc.errno == errno.ENOTDIR:
            raise BadParameter("extraction point is not a directory") from None
        if exc.errno in _GONE:
            raise PathNotFound(path, container) from None
        raise BerthError(f"cannot open {path} in container {container}: {exc.strerror}") from exc
    try:
        if root.read_only:
            raise BadParameter(root.read_only)
        if read_only_root and os.fstat(dest).st_dev == os.fstat(root.fd).st_dev:
            raise BadParameter("container rootfs is marked read-only")
        try:
            # The directory through its descriptor: resolved to what is open, never by name.
            apply_layer(
                stream,
                _fd_path(dest),
                whiteouts=None,
                allow_devices=True,
                keep_kinds=no_overwrite_dir_non_dir,
                owner=owner,
            )
        except LayerError as exc:
            raise BadParameter(f"cannot extract to {path}: {exc}") from None
    finally:
        os.close(dest)


def _fd_path(fd: int) -> Path:
    return Path(f"/proc/self/fd/{fd}")
