"""A process's standard streams as the monitor holds them: pipes, or a terminal.

The monitor keeps its ends (what it reads output from, what it writes input to) and hands the
other ends to the launcher, then closes them so that the process's exit shows as end of file.

A terminal is made by the launcher inside the container (so that it belongs to the
container's own ``/dev/pts``): the monitor gives it ``console``, one end of a UNIX socket pair,
and the launcher sends the pty's master over it with ``SCM_RIGHTS`` before its call returns —
runc's ``--console-socket`` convention (:mod:`berth.plugins.contracts.launcher`).
"""

from __future__ import annotations

import _socket
import os
import sys

#: How long to wait for a launcher's terminal on the console socket.
CONSOLE_TIMEOUT = 5.0


def _devnull(flags: int) -> int:
    return os.open("/dev/null", flags | os.O_CLOEXEC)


class ProcessStdio:
    """The streams of one process (the container's init or an exec)."""

    def __init__(self, tty: bool, open_stdin: bool) -> None:
        self.tty = tty
        #: The monitor's ends: fd → stream number (1 stdout, 2 stderr) to read output from.
        self.outputs: dict[int, int] = {}
        #: Where the monitor writes the process's input (-1: the process has no open stdin).
        self.stdin = -1
        #: The pty master (-1 without a terminal); it is both the output and the input.
        self.master = -1
        self.child: tuple[int, int, int] = (-1, -1, -1)
        self.console: int | None = None
        self._open_stdin = open_stdin
        self._console_peer: _socket.socket | None = None
        self._console_ours: _socket.socket | None = None
        self._child_ends: list[int] = []
        try:
            if tty:
                ours, peer = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_STREAM, 0)
                self._console_ours, self._console_peer = ours, peer
                null = _devnull(os.O_RDWR)
                self._child_ends = [null]
                self.child = (null, null, null)
                self.console = peer.fileno()
            else:
                self._pipes()
        except BaseException:
            self.close()
            raise

    def _pipes(self) -> None:
        if self._open_stdin:
            child_in, self.stdin = os.pipe()
            os.set_blocking(self.stdin, False)
        else:
            child_in = _devnull(os.O_RDONLY)
        self._child_ends.append(child_in)
        out_r, out_w = os.pipe()
        self.outputs[out_r] = 1
        self._child_ends.append(out_w)
        err_r, err_w = os.pipe()
        self.outputs[err_r] = 2
        self._child_ends.append(err_w)
        for fd in self.outputs:
            os.set_blocking(fd, False)
        self.child = (child_in, out_w, err_w)

    def _take_master(self, master: int) -> None:
        os.set_blocking(master, False)
        self.master = master
        self.outputs[master] = 1
        if self._open_stdin:
            self.stdin = master

    def launched(self) -> None:
        """The process exists: close its ends here, and take the terminal it was given."""
        for fd in self._child_ends:
            os.close(fd)
        self._child_ends = []
        self.child = (-1, -1, -1)
        if self._console_peer is not None:
            self._console_peer.close()
            self._console_peer = None
            self.console = None
        ours = self._console_ours
        if ours is not None:
            self._console_ours = None
            try:
                self._take_master(receive_fd(ours))
            finally:
                ours.close()

    def drop_stdin(self) -> None:
        """No more input: close the pipe (a terminal stays open, it is the output too)."""
        if self.stdin >= 0 and self.stdin != self.master:
            os.close(self.stdin)
        self.stdin = -1

    def close_output(self, fd: int) -> None:
        del self.outputs[fd]
        if fd == self.master:
            self.master = -1
            self.stdin = -1
        os.close(fd)

    def close(self) -> None:
        """Close everything still open (both sides)."""
        for fd in self._child_ends:
            os.close(fd)
        self._child_ends = []
        self.drop_stdin()
        for fd in list(self.outputs):
            self.close_output(fd)
        for sock in (self._console_peer, self._console_ours):
            if sock is not None:
                sock.close()
        self._console_peer = self._console_ours = None


def receive_fd(sock: _socket.socket) -> int:
    """The one file descriptor sent over ``sock`` with SCM_RIGHTS (others are closed)."""
    sock.settimeout(CONSOLE_TIMEOUT)
    size = 4
    try:
        _data, ancillary, _flags, _addr = sock.recvmsg(
            4096, _socket.CMSG_SPACE(size * 4), _socket.MSG_CMSG_CLOEXEC
        )
    except TimeoutError:
        raise OSError("the launcher did not hand over the container's terminal") from None
    fds: list[int] = []
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            usable = len(data) - len(data) % size
            fds += [
                int.from_bytes(data[i : i + size], sys.byteorder) for i in range(0, usable, size)
            ]
    if not fds:
        raise OSError("the launcher sent no terminal on the console socket")
    for extra in fds[1:]:
        os.close(extra)
    return fds[0]
