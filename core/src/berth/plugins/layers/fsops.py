"""Small file system helpers shared by unpacking and reading layers (all relative to open dirs)."""

from __future__ import annotations

import errno
import os
import stat

from berth.plugins.layers.rootfs import READ_DIR_FLAGS

_NOFOLLOW_DIR = READ_DIR_FLAGS | os.O_NOFOLLOW


def proc_path(dir_fd: int, name: bytes) -> bytes:
    """A path naming ``name`` in the directory open as ``dir_fd``, for the calls that have no
    ``*at`` form (the xattr calls): resolved through the descriptor, never by name."""
    return b"/proc/self/fd/%d/%s" % (dir_fd, name)


def remove_tree(dir_fd: int, name: bytes) -> None:
    """Remove ``name`` in ``dir_fd`` and everything below it, without following symlinks and
    without recursion (a deep tree cannot exhaust the stack)."""
    try:
        st = os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(name, dir_fd=dir_fd)
        return
    # Work items: (parent fd, name, fd). fd -1: list the directory; fd >= 0: all below it is
    # gone, remove it. Open descriptors are those of the directories on the current path only.
    stack: list[tuple[int, bytes, int]] = [(dir_fd, name, -1)]
    opened: list[int] = []
    try:
        while stack:
            parent, child, fd = stack.pop()
            if fd >= 0:
                opened.remove(fd)
                os.close(fd)
                os.rmdir(child, dir_fd=parent)
                continue
            fd = os.open(child, _NOFOLLOW_DIR, dir_fd=parent)
            opened.append(fd)
            stack.append((parent, child, fd))
            with os.scandir(fd) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append((fd, os.fsencode(entry.name), -1))
                    else:
                        os.unlink(entry.name, dir_fd=fd)
    finally:
        for fd in opened:
            os.close(fd)


def ignorable_xattr_error(exc: OSError, is_file_or_dir: bool) -> bool:
    """Errors setting an xattr that unpacking shrugs off, as Docker does: a file system without
    xattrs, and ``user.*`` xattrs on what cannot carry them (symlinks, devices, fifos)."""
    if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
        return True
    return exc.errno == errno.EPERM and not is_file_or_dir
