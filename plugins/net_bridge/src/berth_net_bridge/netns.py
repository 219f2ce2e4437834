"""Network namespaces kept alive by a bind mount on a file (what ``ip netns add`` does), and a
way to run a function inside one.

``setns(CLONE_NEWNET)`` changes the namespace of the calling thread only, so the work runs in
a short-lived thread that switches in, does its job and switches back; the daemon's other
threads never see another namespace.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2
THREAD_NETNS = "/proc/thread-self/ns/net"
NSFS_MAGIC = 0x6E736673

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _in_thread(work: Callable[[], T]) -> T:
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["result"] = work()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    thread = threading.Thread(target=run, name="berth-netns")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["result"]  # type: ignore[return-value]


def _switch_and_run(target_fd: int | None, work: Callable[[], T]) -> T:
    """In the current (dedicated) thread: enter ``target_fd`` (None: a new namespace), run,
    and come back to where the thread was."""
    home = os.open(THREAD_NETNS, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if target_fd is None:
            _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        else:
            _check(_libc.setns(target_fd, CLONE_NEWNET), "setns")
        try:
            return work()
        finally:
            _check(_libc.setns(home, CLONE_NEWNET), "setns back to the daemon's namespace")
    finally:
        os.close(home)


def create(path: str, setup: Callable[[], None] | None = None) -> None:
    """Make a new network namespace pinned at ``path``; ``setup`` runs inside it first."""
    os.makedirs(os.path.dirname(path), mode=0o711, exist_ok=True)

    def work() -> None:
        if setup is not None:
            setup()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o444)
        os.close(fd)
        _check(
            _libc.mount(THREAD_NETNS.encode(), path.encode(), None, MS_BIND, None),
            f"bind mount of the namespace on {path}",
        )

    try:
        _in_thread(lambda: _switch_and_run(None, work))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


def remove(path: str) -> None:
    """Unpin and delete a namespace file; a missing one is fine."""
    if _libc.umount2(path.encode(), MNT_DETACH) != 0:
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOENT):
            raise OSError(code, f"unmount {path}: {os.strerror(code)}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def is_pinned(path: str) -> bool:
    """Whether ``path`` is a live namespace (a bind mount of one), not a leftover plain file."""
    buf = ctypes.create_string_buffer(128)  # struct statfs; f_type comes first
    if _libc.statfs(path.encode(), buf) != 0:
        return False
    return int.from_bytes(buf.raw[:8], "little") == NSFS_MAGIC


def run_in(path: str, work: Callable[[], T]) -> T:
    """Run ``work`` inside the namespace pinned at ``path``."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return _in_thread(lambda: _switch_and_run(fd, work))
    finally:
        os.close(fd)
