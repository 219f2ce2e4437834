"""The monitor program: ``python -I -S .../berth/monitor/main.py ARGS`` (see options.py).

berthd starts it (:func:`berth.monitor.client.spawn`) with ``-I -S``: no site-packages, no
environment variables of Python's, only the import directories it is given. It forks at once
and the first process exits, so that the monitor is never berthd's child (berthd has no zombie
to reap and a restarted berthd finds monitors exactly as the old one left them); the second
process starts a new session, becomes the child subreaper, has the launcher create the
container's init, and then writes one JSON line on ``--ready-fd``::

    {"ok": true, "pid": <monitor pid>, "init_pid": <init pid>}
    {"ok": false, "error": "<why>", "exit_code": 127}

and serves monitor.sock until the container is done (:mod:`berth.monitor.server`).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.monitor.options import Options


def _berth_root() -> str:
    """The directory that holds the ``berth`` package this file belongs to."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.dirname(os.path.dirname(here))


def _tell(fd: int, answer: dict[str, object]) -> None:
    from berth.monitor.jsonlite import dumps

    if fd < 0:
        return
    try:
        os.write(fd, dumps(answer).encode() + b"\n")
        os.close(fd)
    except OSError:
        pass


def main(argv: list[str]) -> int:
    sys.path.insert(0, _berth_root())
    from berth.monitor.options import parse

    try:
        opts = parse(argv)
    except ValueError as exc:
        os.write(2, f"berth monitor: {exc}\n".encode())
        return 2
    sys.path[1:1] = opts.paths
    try:
        os.set_inheritable(opts.ready_fd, False)  # never into the container
    except OSError:
        opts.ready_fd = -1  # nobody is waiting for the answer
    if os.fork():
        os._exit(0)  # the daemon waits for this one; the monitor goes on alone
    return serve(opts)


def serve(opts: Options) -> int:
    """The monitor proper, in its own process (forked from the command above, or from the
    zygote, :mod:`berth.monitor.zygote`): create the container, answer, serve until done."""
    os.setsid()
    os.chdir("/")

    from berth.monitor.server import Monitor, docker_exit_code, error_text
    from berth.monitor.system import set_child_subreaper

    try:
        set_child_subreaper()
        launcher = __import__(opts.launcher, fromlist=["create"])
        monitor = Monitor(opts, launcher)
        ready = monitor.create()
    except Exception as exc:
        message = error_text(exc)
        if isinstance(exc, ImportError):
            message = f"cannot import the launcher {opts.launcher!r}: {message}"
        _tell(
            opts.ready_fd, {"ok": False, "error": message, "exit_code": docker_exit_code(message)}
        )
        return 1
    _tell(opts.ready_fd, ready)
    monitor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
