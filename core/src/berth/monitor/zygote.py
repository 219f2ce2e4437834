"""The monitor zygote: ``python -I -S .../berth/monitor/zygote.py --channel-fd N [--path DIR]...
[--preload MODULE]...``.

Starting a monitor as a new interpreter costs each container about 25 ms of CPU (interpreter
start-up and the monitor's imports) and berthd a fork of its own large address space. The
zygote is one small process, started by berthd, that has imported the monitor's modules (and the
default launcher) once; for each container berthd sends it one request on the channel, a
``SOCK_SEQPACKET`` socket:

- the data: the monitor's command line (:meth:`berth.monitor.options.Options.to_argv`), its
  arguments separated by NUL bytes;
- two file descriptors (``SCM_RIGHTS``): the ready pipe and the monitor's stderr (monitor.log).

The zygote forks; the child forks again and exits at once (so the monitor is nobody's child,
exactly as when started by :mod:`berth.monitor.main`), and the grandchild runs
:func:`berth.monitor.main.serve`. It imports nothing a monitor would not import, so a monitor
forked from it holds no more memory than one started afresh.

The zygote exits when the channel ends (berthd closed it or is gone); monitors it forked are
not affected.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import _socket

#: Longest request accepted (a command line of paths and a few options).
REQUEST_LIMIT = 1 << 16
#: File descriptors per request: the ready pipe and the monitor's stderr.
FDS_PER_REQUEST = 2


def _berth_root() -> str:
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.dirname(os.path.dirname(here))


def parse_args(argv: list[str]) -> tuple[int, list[str], list[str]]:
    """(channel fd, import directories, modules to preload) from the zygote's command line."""
    channel = -1
    paths: list[str] = []
    preload: list[str] = []
    index = 0
    while index < len(argv):
        flag = argv[index]
        if index + 1 == len(argv):
            raise ValueError(f"{flag} needs a value")
        value = argv[index + 1]
        index += 2
        if flag == "--channel-fd":
            channel = int(value)
        elif flag == "--path":
            paths.append(value)
        elif flag == "--preload":
            preload.append(value)
        else:
            raise ValueError(f"unknown option {flag}")
    if channel < 0:
        raise ValueError("--channel-fd is required")
    return channel, paths, preload


def received_fds(ancillary: list[tuple[int, int, bytes]]) -> list[int]:
    """The file descriptors an SCM_RIGHTS message carried."""
    import _socket

    fds: list[int] = []
    for level, kind, data in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            usable = len(data) - len(data) % 4
            fds.extend(memoryview(data)[:usable].cast("i").tolist())
    return fds


def _monitor(argv: list[str], ready_fd: int, stderr_fd: int) -> int:
    """In the forked child: become the monitor that ``argv`` describes."""
    from berth.monitor.main import _tell, serve
    from berth.monitor.options import parse

    os.dup2(stderr_fd, 2)
    os.close(stderr_fd)
    try:
        opts = parse(argv)
    except ValueError as exc:
        _tell(ready_fd, {"ok": False, "error": f"berth monitor: {exc}", "exit_code": 125})
        return 2
    os.set_inheritable(ready_fd, False)  # never into the container
    opts.ready_fd = ready_fd
    for path in reversed(opts.paths):
        if path not in sys.path:
            sys.path.insert(1, path)
    if os.fork():
        return 0  # the zygote reaps this one; the monitor goes on alone
    return serve(opts)


def _serve_one(channel: _socket.socket, argv: list[str], fds: list[int]) -> None:
    ready_fd, stderr_fd = fds
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            channel.close()  # the zygote must see the channel end when berthd goes
            code = _monitor(argv, ready_fd, stderr_fd)
        except BaseException as exc:  # never return into the zygote's loop
            os.write(2, f"berth monitor: {exc!r}\n".encode())
        finally:
            os._exit(code)
    os.close(ready_fd)
    os.close(stderr_fd)
    os.waitpid(pid, 0)


def run(channel: _socket.socket) -> None:
    """Serve requests until the channel ends."""
    while True:
        try:
            data, ancillary, _flags, _address = channel.recvmsg(
                REQUEST_LIMIT, _cmsg_space(FDS_PER_REQUEST)
            )
        except InterruptedError:
            continue
        fds = received_fds(ancillary)
        if not data and not fds:
            return  # berthd closed the channel or is gone
        if len(fds) != FDS_PER_REQUEST:
            for fd in fds:
                os.close(fd)
            os.write(2, b"berth zygote: a request without its two file descriptors\n")
            continue
        argv = [os.fsdecode(arg) for arg in data.split(b"\0")] if data else []
        _serve_one(channel, argv, fds)


def _cmsg_space(count: int) -> int:
    import _socket

    return int(_socket.CMSG_SPACE(4 * count))


def main(argv: list[str]) -> int:
    sys.path.insert(0, _berth_root())
    try:
        channel_fd, paths, preload = parse_args(argv)
    except ValueError as exc:
        os.write(2, f"berth zygote: {exc}\n".encode())
        return 2
    sys.path[1:1] = paths
    # What every monitor imports (berth.monitor.main's serve), loaded once here.
    import _socket

    import berth.monitor.main
    import berth.monitor.options
    import berth.monitor.server
    import berth.monitor.system  # noqa: F401

    for module in preload:
        try:
            __import__(module, fromlist=["create"])
        except ImportError as exc:  # each monitor reports it when it needs the module
            os.write(2, f"berth zygote: cannot preload {module}: {exc}\n".encode())
    channel = _socket.socket(fileno=channel_fd)
    os.set_inheritable(channel_fd, False)
    run(channel)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
