"""Opening directories inside a layer root without ever leaving it.

Every path inside a layer is resolved by the kernel relative to an open directory of the layer
root, with ``openat2(2)``: ``RESOLVE_IN_ROOT`` when unpacking (a symlink is followed as if the
layer root were ``/``, as it will be inside a container) and ``RESOLVE_BENEATH |
RESOLVE_NO_SYMLINKS`` when reading a layer (what is read is exactly what is there). The last
component of a path is then handled with the ``*at`` calls and ``O_NOFOLLOW``. Where the kernel
lacks ``openat2`` (before Linux 5.6, or a seccomp filter refusing it) the same rules are applied
one component at a time in Python.

Nothing here changes the process' working directory: threads share it.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat

_SYS_OPENAT2 = 437  # the same number on every Linux architecture but alpha
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_NO_SYMLINKS = 0x04
_RESOLVE_BENEATH = 0x08
_RESOLVE_IN_ROOT = 0x10
_MAX_SYMLINKS = 40

DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
READ_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


class _OpenHow(ctypes.Structure):
    _fields_ = [
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    ]


class _Kernel:
    """The ``openat2`` system call, if this kernel and libc let us make it."""

    def __init__(self) -> None:
        self.available = False
        self._hows: dict[tuple[int, int], _OpenHow] = {}
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            self._syscall = libc.syscall
        except (OSError, AttributeError):
            return
        self._syscall.restype = ctypes.c_long
        self._syscall.argtypes = [
            ctypes.c_long,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_void_p,
            ctypes.c_size_t,
        ]
        self.available = True

    def openat2(self, dirfd: int, path: bytes, flags: int, resolve: int) -> int:
        how = self._hows.get((flags, resolve))
        if how is None:
            how = self._hows[(flags, resolve)] = _OpenHow(flags, 0, resolve)
        fd: int = self._syscall(
            _SYS_OPENAT2, dirfd, path, ctypes.addressof(how), ctypes.sizeof(how)
        )
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), os.fsdecode(path))
        return fd


_KERNEL = _Kernel()


def use_openat2(enabled: bool) -> bool:
    """Turn the kernel's ``openat2`` off (or back on, where it exists); returns the old setting.

    For tests of the Python fallback; the fallback gives the same answers, more slowly.
    """
    old = _KERNEL.available
    _KERNEL.available = enabled and hasattr(_KERNEL, "_syscall")
    return old


def open_dir(root_fd: int, path: bytes, *, follow: bool, flags: int = DIR_FLAGS) -> int:
    """Open the directory ``path`` (relative, normalised; ``b""`` is the root) under ``root_fd``.

    ``follow``: symlinks on the way are followed as if ``root_fd`` were ``/`` (unpacking);
    otherwise any symlink or ``..`` leaving the root fails (reading). Raises OSError.
    """
    if not path:
        path = b"."
    if _KERNEL.available:
        resolve = (
            _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS
            if follow
            else _RESOLVE_BENEATH | _RESOLVE_NO_SYMLINKS | _RESOLVE_NO_MAGICLINKS
        )
        for _ in range(16):
            try:
                return _KERNEL.openat2(root_fd, path, flags, resolve)
            except OSError as exc:
                if exc.errno == errno.EAGAIN:  # a concurrent rename; the kernel asks to retry
                    continue
                if exc.errno in (errno.ENOSYS, errno.EPERM) and not _probe_openat2(root_fd):
                    _KERNEL.available = False
                    break
                raise
    return _open_dir_slowly(root_fd, path, follow=follow, flags=flags)


def _probe_openat2(root_fd: int) -> bool:
    """Whether openat2 works at all (ENOSYS/EPERM may also be an answer about the path)."""
    try:
        os.close(_KERNEL.openat2(root_fd, b".", DIR_FLAGS, _RESOLVE_BENEATH))
    except OSError:
        return False
    return True


def _open_dir_slowly(root_fd: int, path: bytes, *, follow: bool, flags: int) -> int:
    """openat2's rules, one component at a time (for kernels without openat2)."""
    todo = [part for part in reversed(path.split(b"/")) if part and part != b"."]
    stack: list[int] = []  # open directories below the root, the last one is where we are
    links = 0
    try:
        while todo:
            part = todo.pop()
            if part == b"..":
                if stack:
                    os.close(stack.pop())
                elif not follow:
                    raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), os.fsdecode(path))
                continue
            here = stack[-1] if stack else root_fd
            fd = os.open(part, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=here)
            mode = os.fstat(fd).st_mode
            if stat.S_ISLNK(mode):
                os.close(fd)
                links += 1
                if not follow or links > _MAX_SYMLINKS:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), os.fsdecode(path))
                target = os.readlink(part, dir_fd=here)
                if target.startswith(b"/"):
                    while stack:
                        os.close(stack.pop())
                todo.extend(p for p in reversed(target.split(b"/")) if p and p != b".")
                continue
            if not stat.S_ISDIR(mode):
                os.close(fd)
                raise OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), os.fsdecode(path))
            stack.append(fd)
        here = stack[-1] if stack else root_fd
        return os.open(".", flags, dir_fd=here)
    finally:
        for fd in stack:
            os.close(fd)


def make_dirs(root_fd: int, path: bytes, mode: int = 0o755) -> int:
    """Open directory ``path`` under ``root_fd`` (following symlinks inside the root), creating
    missing directories with ``mode``; returns an ``O_PATH`` descriptor. Raises OSError."""
    try:
        return open_dir(root_fd, path, follow=True)
    except FileNotFoundError:
        pass
    parts = path.split(b"/")
    fd = os.open(".", DIR_FLAGS, dir_fd=root_fd)
    try:
        for i, part in enumerate(parts):
            sub = b"/".join(parts[: i + 1])
            try:
                nxt = open_dir(root_fd, sub, follow=True)
            except FileNotFoundError:
                try:
                    os.mkdir(part, mode, dir_fd=fd)
                except FileExistsError:  # not a directory, yet not found: a dangling symlink
                    raise FileNotFoundError(
                        errno.ENOENT,
                        f"'{os.fsdecode(sub)}' is a symlink to a directory that does not exist",
                    ) from None
                os.chmod(part, mode, dir_fd=fd)  # whatever the process' umask
                nxt = open_dir(root_fd, sub, follow=True)
            os.close(fd)
            fd = nxt
    except BaseException:
        os.close(fd)
        raise
    return fd
