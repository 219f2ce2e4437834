"""A layer's changes as a tar stream: :func:`export_changes`.

The stream is produced lazily, one entry at a time, while the reader reads: the layer is never
in memory. Entries are sorted by path (a directory before what is in it). Deleted paths become
``.wh.<name>`` entries and overlay's opaque directories get a ``.wh..wh..opq`` entry; hard links
between exported files stay hard links; owners are numeric; mtimes keep their nanoseconds and
xattrs go in pax headers (``trusted.overlay.*`` left out); sockets are skipped (tar has no
such type). Files are opened beneath the root without following symlinks.
"""

from __future__ import annotations

import errno
import io
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from berth.chunkstream import ChunkStream
from berth.plugins.contracts.storage import Change, ChangeKind
from berth.plugins.layers import tarwriter
from berth.plugins.layers.changes import is_opaque, read_xattrs
from berth.plugins.layers.errors import LayerError
from berth.plugins.layers.rootfs import READ_DIR_FLAGS, open_dir
from berth.plugins.layers.whiteouts import WHITEOUT_OPAQUE, WHITEOUT_PREFIX, is_whiteout_device

if TYPE_CHECKING:
    pass

_CHUNK = 1 << 20
_OPEN_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_GONE = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EXDEV)  # vanished or swapped
_VANISHED = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EXDEV)
_WH = WHITEOUT_PREFIX.encode()
_WH_OPAQUE = WHITEOUT_OPAQUE.encode()


def export_changes(
    root: Path, changes: Sequence[Change], *, on_close: Callable[[], None] | None = None
) -> BinaryIO:
    """A readable tar stream of ``changes`` taken from ``root``.

    ``root`` is a full tree (the layer as mounted) or an overlay upper directory, whose 0/0
    character devices are exported as whiteouts and whose opaque directories get their
    ``.wh..wh..opq`` entry. ``on_close`` runs once when the stream is closed (drivers unmount
    there). A path that vanished since the changes were computed is left out. Reading raises
    :class:`LayerError` when a file cannot be read.
    """
    try:
        root_fd = os.open(root, READ_DIR_FLAGS)
    except OSError as exc:
        raise LayerError(f"cannot export the layer at {root}: {exc.strerror}") from exc
    ordered = sorted(changes, key=lambda change: change.path)

    def closed() -> None:  # after the entries' generator: it reads below root_fd to the end
        try:
            os.close(root_fd)
        finally:
            if on_close is not None:
                on_close()

    raw = ChunkStream(_entries(root_fd, ordered), closed)
    return io.BufferedReader(raw, buffer_size=_CHUNK)


def _whiteout(rel: bytes) -> bytes:
    parent, _, base = rel.rpartition(b"/")
    name = parent + b"/" + _WH + base if parent else _WH + base
    return tarwriter.header(name, tarwriter.REG)


def _entries(root: int, changes: Sequence[Change]) -> Iterator[bytes]:
    """The archive: each change's entry, preceded by the entries of its parent directories
    that are not changes themselves (so that unpacking restores their metadata, mtime
    included, which adding or removing what they hold would otherwise bump)."""
    links: dict[tuple[int, int], bytes] = {}  # (dev, ino) -> the name it was exported under
    exported: set[bytes] = {b""}  # directories already in the archive (and the root)
    dirs = _DirCache(root)
    try:
        for change in changes:
            rel = os.fsencode(change.path.strip("/"))
            if not rel:
                continue
            parent, _, base = rel.rpartition(b"/")
            if parent not in exported:
                yield from _parents(dirs, parent, exported, links)
            if change.kind == ChangeKind.DELETE:
                yield _whiteout(rel)
                continue
            dir_fd = dirs.get(parent)
            if dir_fd < 0:
                continue
            try:
                yield from _entry(dir_fd, rel, base, links)
            except OSError as exc:
                if exc.errno in _VANISHED:
                    continue
                raise LayerError(f"cannot export {change.path}: {exc.strerror}") from exc
            exported.add(rel)
        yield tarwriter.END_OF_ARCHIVE
    finally:
        dirs.close()


def _parents(
    dirs: _DirCache, parent: bytes, exported: set[bytes], links: dict[tuple[int, int], bytes]
) -> Iterator[bytes]:
    """The entries of ``parent`` and of its ancestors not exported yet, top down."""
    parts = parent.split(b"/")
    for i in range(len(parts)):
        rel = b"/".join(parts[: i + 1])
        if rel in exported:
            continue
        exported.add(rel)
        up = b"/".join(parts[:i])
        dir_fd = dirs.get(up)
        if dir_fd < 0:
            return
        try:
            st = os.lstat(parts[i], dir_fd=dir_fd)
            if stat.S_ISDIR(st.st_mode):
                yield from _entry(dir_fd, rel, parts[i], links)
        except OSError as exc:
            if exc.errno not in _VANISHED:
                raise LayerError(f"cannot export /{os.fsdecode(rel)}: {exc.strerror}") from exc


class _DirCache:
    """The last directory opened beneath the root (changes come sorted: mostly the same)."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.rel: bytes | None = None
        self.fd = -1

    def get(self, rel: bytes) -> int:
        """An open descriptor of directory ``rel``, or -1 when it is gone."""
        if rel != self.rel:
            self.close()
            self.rel = rel
            try:
                self.fd = open_dir(self.root, rel, follow=False, flags=READ_DIR_FLAGS)
            except OSError as exc:
                if exc.errno not in _VANISHED:
                    raise LayerError(f"cannot export /{os.fsdecode(rel)}: {exc.strerror}") from exc
        return self.fd

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
        self.fd = -1
        self.rel = None


def _entry(
    dir_fd: int, rel: bytes, base: bytes, links: dict[tuple[int, int], bytes]
) -> Iterator[bytes]:
    st = os.lstat(base, dir_fd=dir_fd)
    mode = st.st_mode
    if is_whiteout_device(st):
        yield _whiteout(rel)
        return
    if stat.S_ISSOCK(mode):
        return
    if stat.S_ISREG(mode):
        yield from file_entry(dir_fd, base, rel, links)
        return
    xattrs = read_xattrs(dir_fd, base)
    if stat.S_ISDIR(mode):
        yield entry_header(rel + b"/", tarwriter.DIR, st, xattrs)
        if is_opaque(dir_fd, base):
            yield tarwriter.header(rel + b"/" + _WH_OPAQUE, tarwriter.REG)
    elif stat.S_ISLNK(mode):
        yield entry_header(
            rel, tarwriter.SYM, st, xattrs, linkname=os.readlink(base, dir_fd=dir_fd)
        )
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        yield entry_header(rel, tarwriter.CHR if stat.S_ISCHR(mode) else tarwriter.BLK, st, xattrs)
    elif stat.S_ISFIFO(mode):
        yield entry_header(rel, tarwriter.FIFO, st, xattrs)


def entry_header(
    name: bytes,
    kind: bytes,
    st: os.stat_result,
    xattrs: dict[str, bytes] | None,
    *,
    size: int = 0,
    linkname: bytes = b"",
) -> bytes:
    """The tar header of an entry whose metadata `st` holds (devices get their numbers)."""
    device = kind in (tarwriter.CHR, tarwriter.BLK)
    return tarwriter.header(
        name,
        kind,
        mode=stat.S_IMODE(st.st_mode),
        uid=st.st_uid,
        gid=st.st_gid,
        size=size,
        mtime_ns=st.st_mtime_ns,
        linkname=linkname,
        devmajor=os.major(st.st_rdev) if device else 0,
        devminor=os.minor(st.st_rdev) if device else 0,
        xattrs=xattrs,
    )


def file_entry(
    dir_fd: int,
    base: bytes,
    name: bytes,
    links: dict[tuple[int, int], bytes],
    *,
    vanished_ok: bool = False,
) -> Iterator[bytes]:
    """A regular file as tar blocks, opened without following links: a hard link to a file
    already sent (`links`) as a link entry, a file that shrank while read padded to its
    header's size. With `vanished_ok`, a file gone (or swapped for a non-file) is left out."""
    try:
        fd = os.open(base, _OPEN_FILE, dir_fd=dir_fd)
    except OSError as exc:
        if vanished_ok and exc.errno in _GONE:
            return
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # replaced since the lstat
            return
        if st.st_nlink > 1:
            key = (st.st_dev, st.st_ino)
            first = links.get(key)
            if first is not None:
                yield entry_header(name, tarwriter.LNK, st, None, linkname=first)
                return
            links[key] = name
        size = st.st_size
        yield entry_header(name, tarwriter.REG, st, read_xattrs(dir_fd, base), size=size)
        left = size
        while left:
            chunk = os.read(fd, min(left, _CHUNK))
            if not chunk:  # the file shrank while we read it: keep the header's promise
                yield bytes(left)
                break
            left -= len(chunk)
            yield chunk
        yield tarwriter.padding(size)
    finally:
        os.close(fd)
