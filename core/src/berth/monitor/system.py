"""Small operating-system helpers of the monitor: timestamps, atomic files, the subreaper flag."""

from __future__ import annotations

import os
import time

PR_SET_CHILD_SUBREAPER = 36


def timestamp(ns: int | None = None) -> str:
    """RFC 3339 UTC time with nanoseconds, as Docker writes it (2026-11-28T10:00:00.123456789Z)."""
    if ns is None:
        ns = time.time_ns()
    seconds, nanos = divmod(ns, 1_000_000_000)
    t = time.gmtime(seconds)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
        f"T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}.{nanos:09d}Z"
    )


def remove(path: str) -> bool:
    """Unlink ``path``; False when it was not there."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def rename(source: str, target: str) -> bool:
    """Rename ``source``; False when it was not there."""
    try:
        os.rename(source, target)
    except FileNotFoundError:
        return False
    return True


#: Longest path a UNIX socket address can hold (108 bytes with its terminating NUL).
SOCKET_PATH_MAX = 107


def socket_address(path: str) -> tuple[str, int]:
    """An address for the UNIX socket ``path`` and an fd to close after use (or -1).

    A path too long for a socket address is reached through ``/proc/self/fd/<dir fd>/``.
    """
    if len(os.fsencode(path)) <= SOCKET_PATH_MAX:
        return path, -1
    directory, name = os.path.split(path)
    fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    return f"/proc/self/fd/{fd}/{name}", fd


def write_atomic(path: str, data: bytes, mode: int = 0o600) -> None:
    """Write a whole file so that readers see either the old file or the new one, never a part."""
    temp = f"{path}.tmp-{os.getpid()}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(temp, path)


def set_child_subreaper() -> None:
    """Become the parent of every orphaned descendant (the container's init, once its creator
    exits), so that the monitor can wait for it and read its exit status."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")


def exit_code_of(status: int) -> int:
    """A wait status as a shell and Docker show it: the exit code, or 128 + the signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status)
