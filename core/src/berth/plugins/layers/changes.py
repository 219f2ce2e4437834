"""What changed in a layer: :func:`tree_changes` (two full trees compared),
:func:`overlay_changes` (read from an overlay upper directory) and :func:`changes_size`.

Paths in :class:`~berth.plugins.contracts.storage.Change` are absolute (``/etc/passwd``, as
``docker diff`` shows them), sorted. Trees are walked through directory descriptors opened
beneath their root without following any symlink, so a tree that changes while it is read
(a running container) can never lead the walk outside it.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from berth.plugins.contracts.storage import Change, ChangeKind
from berth.plugins.layers.errors import LayerError
from berth.plugins.layers.fsops import proc_path
from berth.plugins.layers.rootfs import READ_DIR_FLAGS, open_dir
from berth.plugins.layers.whiteouts import (
    OVERLAY_OPAQUE_VALUE,
    OVERLAY_OPAQUE_XATTR,
    OVERLAY_XATTR_PREFIX,
    is_whiteout_device,
)

#: Errors that mean "this part of the tree is gone or was replaced while we looked".
_VANISHED = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.EXDEV)


def tree_changes(layer: Path, parent: Path | None) -> list[Change]:
    """The changes that turn the tree ``parent`` into the tree ``layer`` (every path added when
    ``parent`` is None), compared naively as Docker's ChangesDirs does.

    A non-directory is modified when its type, mode, owner, size, mtime (to the nanosecond),
    device number, symlink target or xattrs differ; a directory only when its own metadata
    (type, mode, owner, mtime, xattrs) does. A deleted directory is reported once, not its
    contents; an added one with all its contents.
    """
    new_root = _open_root(layer)
    try:
        old_root = _open_root(parent) if parent is not None else None
        try:
            found = list(_compare(new_root, old_root))
        finally:
            if old_root is not None:
                os.close(old_root)
    finally:
        os.close(new_root)
    found.sort(key=_path_key)
    return found


def overlay_changes(upper: Path, lowers: Sequence[Path] = ()) -> list[Change]:
    """The changes recorded in an overlayfs upper directory: a 0/0 character device is a
    deletion, anything else an addition, or a modification when it also exists in one of
    ``lowers`` (the lower directories, topmost first, with their own whiteouts and opaque
    directories honoured; none for a layer without parent). A directory marked opaque
    (``trusted.overlay.opaque=y``) replaced its lower namesake: its content is all added.
    """
    root = _open_root(upper)
    view = _LowerView(lowers)
    found: list[Change] = []
    try:
        for rel, st, in_opaque in _walk(root, b""):
            if is_whiteout_device(st):
                found.append(Change(_show(rel), ChangeKind.DELETE))
            elif not in_opaque and view.exists(rel):
                found.append(Change(_show(rel), ChangeKind.MODIFY))
            else:
                found.append(Change(_show(rel), ChangeKind.ADD))
    finally:
        os.close(root)
    found.sort(key=_path_key)
    return found


def changes_size(root: Path, changes: Sequence[Change]) -> int:
    """The bytes the added and modified non-directories of ``changes`` take in ``root`` (a
    file with several hard links counted once), as Docker's ChangesSize."""
    fd = _open_root(root)
    seen: set[tuple[int, int]] = set()
    total = 0
    try:
        for change in changes:
            if change.kind == ChangeKind.DELETE:
                continue
            rel = os.fsencode(change.path.strip("/"))
            if not rel:
                continue
            parent, _, base = rel.rpartition(b"/")
            try:
                pfd = open_dir(fd, parent, follow=False)
                try:
                    st = os.lstat(base, dir_fd=pfd)
                finally:
                    os.close(pfd)
            except OSError as exc:
                if exc.errno in _VANISHED:
                    continue
                raise LayerError(f"cannot measure {change.path}: {exc.strerror}") from exc
            if stat.S_ISDIR(st.st_mode) or is_whiteout_device(st):
                continue
            if st.st_nlink > 1:
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
            total += st.st_size
    finally:
        os.close(fd)
    return total


# -- helpers -----------------------------------------------------------------------------------


def _open_root(path: Path) -> int:
    try:
        return os.open(path, READ_DIR_FLAGS)
    except OSError as exc:
        raise LayerError(f"cannot read the layer at {path}: {exc.strerror}") from exc


def _show(rel: bytes) -> str:
    return "/" + os.fsdecode(rel)


def _path_key(change: Change) -> str:
    return change.path


def read_xattrs(dir_fd: int, name: bytes) -> dict[str, bytes]:
    """The xattrs of ``name`` in ``dir_fd`` (not following a symlink), overlay's own left out."""
    where = proc_path(dir_fd, name)
    try:
        names = os.listxattr(where, follow_symlinks=False)
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOENT):
            return {}
        raise
    found: dict[str, bytes] = {}
    for xname in names:
        if xname.startswith(OVERLAY_XATTR_PREFIX):
            continue
        try:
            found[xname] = os.getxattr(where, xname, follow_symlinks=False)
        except OSError as exc:
            if exc.errno not in (errno.ENODATA, errno.ENOENT):
                raise
    return found


def is_opaque(dir_fd: int, name: bytes) -> bool:
    """Whether directory ``name`` in ``dir_fd`` carries overlayfs' opaque mark."""
    try:
        value = os.getxattr(proc_path(dir_fd, name), OVERLAY_OPAQUE_XATTR, follow_symlinks=False)
    except OSError:
        return False
    return value == OVERLAY_OPAQUE_VALUE


def _listing(root: int, rel: bytes) -> tuple[int, list[tuple[bytes, os.stat_result]]] | None:
    """The open directory ``rel`` beneath ``root`` and its entries with their lstat, or None
    when it is gone or no longer a directory. The caller closes the descriptor."""
    try:
        fd = open_dir(root, rel, follow=False, flags=READ_DIR_FLAGS)
    except OSError as exc:
        if exc.errno in _VANISHED:
            return None
        raise LayerError(f"cannot read /{os.fsdecode(rel)}: {exc.strerror}") from exc
    entries: list[tuple[bytes, os.stat_result]] = []
    try:
        with os.scandir(fd) as listing:
            for entry in listing:
                try:
                    entries.append((os.fsencode(entry.name), entry.stat(follow_symlinks=False)))
                except FileNotFoundError:
                    continue
    except OSError as exc:
        os.close(fd)
        raise LayerError(f"cannot read /{os.fsdecode(rel)}: {exc.strerror}") from exc
    return fd, entries


def _walk(root: int, top: bytes) -> Iterator[tuple[bytes, os.stat_result, bool]]:
    """Everything below ``top`` (relative to ``root``), parents first: (path, lstat, whether
    an opaque directory above it hides its lower namesakes)."""
    todo: list[tuple[bytes, bool]] = [(top, False)]
    while todo:
        rel, in_opaque = todo.pop()
        listed = _listing(root, rel)
        if listed is None:
            continue
        fd, entries = listed
        try:
            for name, st in entries:
                sub = rel + b"/" + name if rel else name
                yield sub, st, in_opaque
                if stat.S_ISDIR(st.st_mode):
                    todo.append((sub, in_opaque or is_opaque(fd, name)))
        finally:
            os.close(fd)


def _compare(new_root: int, old_root: int | None) -> Iterator[Change]:
    if old_root is None:
        for rel, _, _ in _walk(new_root, b""):
            yield Change(_show(rel), ChangeKind.ADD)
        return
    todo: list[bytes] = [b""]
    while todo:
        rel = todo.pop()
        new = _listing(new_root, rel)
        if new is None:
            continue
        new_fd, new_entries = new
        old = _listing(old_root, rel)
        old_fd, old_entries = old if old is not None else (-1, [])
        try:
            old_by_name = dict(old_entries)
            for name, st in new_entries:
                sub = rel + b"/" + name if rel else name
                before = old_by_name.pop(name, None)
                if before is None:
                    yield Change(_show(sub), ChangeKind.ADD)
                    if stat.S_ISDIR(st.st_mode):
                        for below, _, _ in _walk(new_root, sub):
                            yield Change(_show(below), ChangeKind.ADD)
                    continue
                if _differs(new_fd, old_fd, name, st, before):
                    yield Change(_show(sub), ChangeKind.MODIFY)
                if stat.S_ISDIR(st.st_mode):
                    if stat.S_ISDIR(before.st_mode):
                        todo.append(sub)
                    else:
                        for below, _, _ in _walk(new_root, sub):
                            yield Change(_show(below), ChangeKind.ADD)
            for name in old_by_name:
                yield Change(_show(rel + b"/" + name if rel else name), ChangeKind.DELETE)
        finally:
            os.close(new_fd)
            if old_fd >= 0:
                os.close(old_fd)


def _differs(
    new_fd: int, old_fd: int, name: bytes, new: os.stat_result, old: os.stat_result
) -> bool:
    if (
        new.st_mode != old.st_mode
        or new.st_uid != old.st_uid
        or new.st_gid != old.st_gid
        or new.st_mtime_ns != old.st_mtime_ns
    ):
        return True
    mode = new.st_mode
    if not stat.S_ISDIR(mode):
        if new.st_size != old.st_size:
            return True
        if (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)) and new.st_rdev != old.st_rdev:
            return True
        if stat.S_ISLNK(mode):
            try:
                if os.readlink(name, dir_fd=new_fd) != os.readlink(name, dir_fd=old_fd):
                    return True
            except OSError:
                return True
    try:
        return read_xattrs(new_fd, name) != read_xattrs(old_fd, name)
    except OSError:
        return True


class _LowerView:
    """Whether a path exists in the stack of overlay lower directories (topmost first)."""

    def __init__(self, lowers: Sequence[Path]) -> None:
        self.lowers = [os.fsencode(lower) for lower in lowers]
        # (lower index, directory) -> (it is a directory there, lowers below cannot show
        # what is in it: an opaque directory, or a whiteout / non-directory on the way)
        self._dirs: dict[tuple[int, bytes], tuple[bool, bool]] = {}

    def exists(self, rel: bytes) -> bool:
        if not self.lowers:
            return False
        parent = rel.rpartition(b"/")[0]
        for i, lower in enumerate(self.lowers):
            present, stops = self._dir(i, parent)
            if present:
                try:
                    st = os.lstat(lower + b"/" + rel)
                except OSError:
                    pass
                else:
                    return not is_whiteout_device(st)
            if stops:
                return False
        return False

    def _dir(self, i: int, rel: bytes) -> tuple[bool, bool]:
        if not rel:
            return True, False
        known = self._dirs.get((i, rel))
        if known is not None:
            return known
        parent_present, parent_stops = self._dir(i, rel.rpartition(b"/")[0])
        state = (False, parent_stops)
        if parent_present:  # so lower/rel has only real directories on the way
            path = self.lowers[i] + b"/" + rel
            try:
                st = os.lstat(path)
            except OSError:
                pass
            else:
                if stat.S_ISDIR(st.st_mode):
                    try:
                        opaque = os.getxattr(path, OVERLAY_OPAQUE_XATTR) == OVERLAY_OPAQUE_VALUE
                    except OSError:
                        opaque = False
                    state = (True, parent_stops or opaque)
                else:
                    state = (False, True)  # a file or whiteout hides lower directories
        self._dirs[(i, rel)] = state
        return state
