"""A launcher for the monitor's tests: plain fork and exec, no namespaces, no cgroups.

Lean like a real launcher (no ``json``, ``signal`` or ``typing`` at run time), so that the
monitor's memory measured with it is what a monitor costs.

It follows the launcher protocol (``berth.plugins.contracts.launcher``) so that the monitor can
be tested on its own: ``create`` forks a child that waits (blocked before its exec) until
``start``; an exec failure comes back through a close-on-exec pipe as Docker's text. With a
``console`` socket it opens a pty and sends the master over it, as runc does.

Test hooks, in the bundle's ``config.json`` annotations:
``test.fail-create`` (create raises with that text); an ``oom`` file in the state directory
makes ``oom_killed`` say yes.
``delete`` leaves a ``deleted`` file in the state directory, so tests can see it was called.
"""

from __future__ import annotations

import _signal
import _socket
import errno
import fcntl
import os
import sys
import termios

from berth.monitor.jsonlite import loads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_created: dict[str, tuple[int, int, int]] = {}


def _config(bundle: str) -> dict[str, Any]:
    with open(os.path.join(bundle, "config.json"), "rb") as f:
        config = loads(f.read())
    assert isinstance(config, dict)
    return config


def docker_text(arg0: str, err: int) -> str:
    if err == errno.ENOENT and "/" not in arg0:
        return f'exec: "{arg0}": executable file not found in $PATH'
    if err == errno.ENOENT:
        return f'exec: "{arg0}": stat {arg0}: no such file or directory'
    return f'exec: "{arg0}": {os.strerror(err).lower()}'


def _child(
    process: dict[str, Any], stdio: tuple[int, int, int], console: int | None, go: int, report: int
) -> None:
    """In the forked child: never returns."""
    try:
        _signal.set_wakeup_fd(-1)
        for number in (_signal.SIGPIPE, _signal.SIGXFSZ, _signal.SIGCHLD):
            _signal.signal(number, _signal.SIG_DFL)
        os.setsid()
        if console is not None:
            fcntl.ioctl(console, termios.TIOCSCTTY, 0)
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)
        if go >= 0 and not os.read(go, 1):
            os._exit(0)  # the monitor went away before start
        os.chdir(process.get("cwd") or "/")
        env = dict(item.split("=", 1) for item in process.get("env", []))
        args = process["args"]
        os.execvpe(args[0], args, env)
    except OSError as exc:
        arg0 = process["args"][0]
        os.write(report, f"{exc.errno}:{docker_text(arg0, exc.errno or 0)}".encode())
        os._exit(127 if exc.errno == errno.ENOENT else 126)
    except BaseException:
        os._exit(125)


def _fork(
    process: dict[str, Any], stdio: tuple[int, int, int], console: int | None, blocked: bool
) -> tuple[int, int, int]:
    """The child's PID, the write end of its go pipe (-1 if not blocked), the report pipe."""
    go_r, go_w = os.pipe() if blocked else (-1, -1)
    report_r, report_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        _child(process, stdio, console, go_r, report_w)
    os.close(report_w)
    if blocked:
        os.close(go_r)
    return pid, go_w, report_r


def _raise_reported(report: int) -> None:
    data = os.read(report, 4096)
    os.close(report)
    if data:
        number, _, text = data.decode().partition(":")
        raise OSError(int(number), text)


def _send_fd(console: int, fd: int) -> None:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, os.dup(console))
    try:
        rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))]
        sock.sendmsg([b"pty"], rights)
    finally:
        sock.close()


def _launch(
    process: dict[str, Any], stdio: tuple[int, int, int], console: int | None, blocked: bool
) -> tuple[int, int, int]:
    if console is None:
        return _fork(process, stdio, console, blocked)
    master, slave = os.openpty()
    try:
        launched = _fork(process, (slave, slave, slave), slave, blocked)
        _send_fd(console, master)
        return launched
    finally:
        os.close(master)
        os.close(slave)


def create(bundle: str, state_dir: str, stdio: tuple[int, int, int], console: int | None) -> int:
    config = _config(bundle)
    failure = config.get("annotations", {}).get("test.fail-create")
    if failure:
        raise OSError(errno.EINVAL, failure)
    pid, go, report = _launch(config["process"], stdio, console, blocked=True)
    _created[state_dir] = (pid, go, report)
    return pid


def start(state_dir: str) -> None:
    _pid, go, report = _created.pop(state_dir)
    os.write(go, b"g")
    os.close(go)
    _raise_reported(report)


def exec(
    bundle: str,
    state_dir: str,
    process: dict[str, Any],
    stdio: tuple[int, int, int],
    console: int | None,
) -> int:
    pid, _go, report = _launch(process, stdio, console, blocked=False)
    try:
        _raise_reported(report)
    except OSError:
        os.waitpid(pid, 0)
        raise
    return pid


def delete(state_dir: str) -> None:
    entry = _created.pop(state_dir, None)
    if entry is not None:
        os.close(entry[1])
        os.close(entry[2])
    with open(os.path.join(state_dir, "deleted"), "w") as f:
        f.write("yes\n")


def oom_killed(state_dir: str) -> bool:
    return os.path.exists(os.path.join(state_dir, "oom"))
