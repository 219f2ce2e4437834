"""A pseudo-terminal allocated inside the container, its master sent to the caller.

As runc's ``--console-socket``: the pty comes from the container's own ``/dev/pts`` (so
``tty`` inside prints ``/dev/pts/0``), the slave becomes the process's controlling terminal and
stdio, and the master travels over the caller's UNIX socket with ``SCM_RIGHTS``.
"""

from __future__ import annotations

import _socket
import fcntl
import os
import struct

from berth_isolation_linux import syscalls as sc

TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431
TIOCSCTTY = 0x540E
TIOCSWINSZ = 0x5414


def open_pty() -> tuple[int, int, str]:
    """``(master, slave, slave path)`` from this mount namespace's /dev/ptmx."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
        number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0\0\0\0"))[0]
        path = f"/dev/pts/{number}"
        slave = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        os.close(master)
        raise
    return master, slave, path


def set_size(fd: int, height: int, width: int) -> None:
    fcntl.ioctl(fd, TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def send_master(console: int, master: int, name: str) -> None:
    """Send ``master`` over the connected UNIX socket ``console`` (which stays open)."""
    sock = _socket.socket(fileno=os.dup(console))
    try:
        rights = (_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("i", master))
        sock.sendmsg([name.encode()], [rights])
    finally:
        sock.close()


def attach(slave: int, path: str, console_mount: bool) -> None:
    """Make ``slave`` the controlling terminal and stdin/stdout/stderr of this process (a
    session leader), and bind it over /dev/console."""
    fcntl.ioctl(slave, TIOCSCTTY, 0)
    for target in (0, 1, 2):
        os.dup2(slave, target)
    if console_mount and os.path.isdir("/dev"):
        if not os.path.exists("/dev/console"):
            os.close(os.open("/dev/console", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600))
        sc.mount(path, "/dev/console", None, sc.MS_BIND)


def setup(console: int, terminal_size: tuple[int, int] | None, console_mount: bool) -> None:
    master, slave, path = open_pty()
    try:
        if terminal_size and all(terminal_size):
            set_size(master, *terminal_size)
        send_master(console, master, path)
    finally:
        os.close(master)
    attach(slave, path, console_mount)
    os.close(slave)
