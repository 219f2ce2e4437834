"""What the processes the launcher forks run. None of these functions returns: each ends in
``execve`` or ``os._exit``, and reports to the launcher on the ``report`` pipe first.

For ``create``::

    caller ──fork──▶ helper: joins/unshares namespaces, forks ──▶ init (PID 1 of a new PID
                     namespace), reports the init's PID, exits      namespace): mounts, pivot_root,
                                                                     hostname, user, capabilities,
                                                                     reports "ready", waits for
                                                                     "s", execve

For ``exec`` the helper ``setns``-es into the init's namespaces instead and forks the process.
The init is reparented to the caller (a child subreaper) when the helper exits. The new
process moves itself into the container's cgroup first thing (cgroup v1: one thread writing
``0`` to ``tasks``, which is cheap); on v2 the caller moves it, in parallel with its set-up.
"""

from __future__ import annotations

import _socket
import fcntl
import os
import struct

from berth_isolation_linux import cgroups, channel, mounts, process
from berth_isolation_linux import console as tty
from berth_isolation_linux import syscalls as sc
from berth_isolation_linux.config import NAMESPACE_FLAGS
from berth_isolation_linux.errors import suppress
from berth_isolation_linux.seccomp import Filter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    from berth_isolation_linux.config import Config, Process

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def encode_filter(program: Filter | None) -> bytes:
    """A seccomp filter as bytes (flags, then the program); empty for none."""
    if program is None:
        return b""
    return struct.pack("<I", program.flags) + program.program


def decode_filter(data: bytes) -> Filter | None:
    if not data:
        return None
    return Filter(data[4:], struct.unpack("<I", data[:4])[0])


def _one_line(exc: BaseException) -> str:
    text = (exc.strerror if isinstance(exc, OSError) and exc.strerror else None) or str(exc)
    text = text or type(exc).__name__
    return " ".join(text.split())


def _fail(report: int, exc: BaseException) -> NoReturn:
    with suppress(BaseException):
        errno_ = exc.errno if isinstance(exc, OSError) and exc.errno else 0
        kind = "value" if isinstance(exc, ValueError) else "os"
        channel.send(report, {"error": _one_line(exc), "errno": errno_, "kind": kind})
    os._exit(1)


def _install_stdio(stdio: tuple[int, int, int]) -> None:
    """Put the caller's descriptors (``-1``: /dev/null) on 0, 1 and 2."""
    sources = []
    for fd in stdio:
        if fd < 0:
            fd = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        sources.append(fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10))
    for target, fd in enumerate(sources):
        os.dup2(fd, target, inheritable=True)
    for fd in sources:
        os.close(fd)


def _loopback_up() -> None:
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))
    finally:
        sock.close()


def _finish(report: int, go: channel.GoReader, prepared: process.Prepared) -> NoReturn:
    """Report ready, wait for the start signal, execve; report why not if it fails.

    "ready" may reach the launcher before the helper's report of our PID (a busy host can run
    us to the end of our set-up before the helper gets to report): the launcher takes the
    reports in any order."""
    channel.send(report, {"ready": True})
    if go.expect(channel.GO_START) is None:
        os._exit(1)  # the launcher's caller went away before starting us
    failure = process.run(prepared)
    with suppress(BaseException):
        channel.send(report, {"errno": failure.errno, "message": failure.message})
    os._exit(failure.exit_code)


# --- create -----------------------------------------------------------------------------------


def init_helper(
    cfg: Config,
    joins: dict[str, int],
    stdio: tuple[int, int, int],
    console: int | None,
    cgroup_dirs: dict[str, str],
    tasks: list[int],
    *,
    report: int,
    go: int,
) -> NoReturn:
    try:
        for kind, fd in joins.items():
            sc.setns(fd, NAMESPACE_FLAGS[kind], f"into the {kind} namespace {cfg.namespaces[kind]}")
            os.close(fd)
        flags = 0
        for kind, path in cfg.namespaces.items():
            if path is None and kind != "cgroup":  # the init unshares cgroup once it joined
                flags |= NAMESPACE_FLAGS[kind]
        sc.unshare(flags)
        pid = os.fork()
        if pid == 0:
            init(cfg, report, go, stdio, console, cgroup_dirs, tasks)
        channel.send(report, {"pid": pid})
    except BaseException as exc:
        _fail(report, exc)
    os._exit(0)


def init(
    cfg: Config,
    report: int,
    go: int,
    stdio: tuple[int, int, int],
    console: int | None,
    cgroup_dirs: dict[str, str],
    tasks: list[int],
) -> NoReturn:
    cgroup_v2 = not tasks
    orders = channel.GoReader(go)
    try:
        if tasks:
            cgroups.join_self(tasks)  # v1; on v2 the launcher moves us
        process.reset_signals()
        os.umask(0)
        if console is None:
            _install_stdio(stdio)
        if cfg.new_namespace("cgroup"):
            if cgroup_v2 and orders.expect(channel.GO_CGROUP_JOINED) is None:
                os._exit(1)
            sc.unshare(sc.CLONE_NEWCGROUP)
        if cfg.process.oom_score_adj is not None:
            with open("/proc/self/oom_score_adj", "w") as handle:
                handle.write(str(cfg.process.oom_score_adj))
        os.setsid()
        mounts.prepare_root(cfg)
        mounts.mount_all(cfg, cgroup_dirs, cgroup_v2)
        mounts.create_devices(cfg)
        mounts.pivot(cfg.root)
        if console is not None:
            tty.setup(console, cfg.process.console_size, console_mount=True)
            os.close(console)
        if cfg.new_namespace("uts"):
            if cfg.hostname:
                sc.sethostname(cfg.hostname)
            if cfg.domainname:
                sc.setdomainname(cfg.domainname)
        if cfg.new_namespace("network"):
            _loopback_up()
        mounts.write_sysctls(dict(cfg.sysctl))
        mounts.finish(cfg)
        with suppress(OSError):
            os.makedirs(cfg.process.cwd, exist_ok=True)  # Docker creates the working directory
        sc.close_range_cloexec(3)
        program = orders.expect(channel.GO_FILTER)
        if program is None:
            os._exit(1)
        prepared = process.prepare(cfg.process, decode_filter(program))
    except BaseException as exc:
        _fail(report, exc)
    _finish(report, orders, prepared)


# --- exec -------------------------------------------------------------------------------------


def exec_helper(
    joins: list[tuple[str, int]],
    proc: Process,
    stdio: tuple[int, int, int],
    console: int | None,
    seccomp: Filter | None,
    tasks: list[int],
    *,
    report: int,
    go: int,
) -> NoReturn:
    try:
        for kind, fd in joins:  # the mount namespace comes last
            sc.setns(fd, NAMESPACE_FLAGS[kind], f"into the container's {kind} namespace")
            os.close(fd)
        pid = os.fork()
        if pid == 0:
            exec_process(proc, report, go, stdio, console, seccomp, tasks)
        channel.send(report, {"pid": pid})
    except BaseException as exc:
        _fail(report, exc)
    os._exit(0)


def exec_process(
    proc: Process,
    report: int,
    go: int,
    stdio: tuple[int, int, int],
    console: int | None,
    seccomp: Filter | None,
    tasks: list[int],
) -> NoReturn:
    try:
        if tasks:
            cgroups.join_self(tasks)  # v1; on v2 the launcher moves us
        process.reset_signals()
        os.umask(0)
        if console is None:
            _install_stdio(stdio)
        else:
            os.setsid()
            tty.setup(console, proc.console_size, console_mount=False)
            os.close(console)
        if proc.oom_score_adj is not None:
            with open("/proc/self/oom_score_adj", "w") as handle:
                handle.write(str(proc.oom_score_adj))
        sc.close_range_cloexec(3)
        prepared = process.prepare(proc, seccomp)
    except BaseException as exc:
        _fail(report, exc)
    _finish(report, channel.GoReader(go), prepared)
