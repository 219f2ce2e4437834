"""What the processes the launcher forks run. None of these functions returns: each ends in
``execve`` or ``os._exit``, and reports to the launcher on the ``report`` pipe first.

For ``create``::

    caller ──fork──▶ helper: joins/unshares namespaces, forks ──▶ init (PID 1 of a new PID
                     namespace), reports the init's PID, exits      namespace): mounts, pivot_root,
                                                                     hostname, user, capabilities,
                                                                     reports "ready", waits for
                                                                     "s", execve

For ``exec`` the helper ``setns``-es into the init's namespaces instead and forks the process.
The init is reparented to the caller (a child subreaper) when the helper exits. Meanwhile the
caller moves the new process into the container's cgroup (in parallel with its set-up).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import struct
from typing import NoReturn

from berth_isolation_linux import channel, mounts, process
from berth_isolation_linux import console as tty
from berth_isolation_linux import syscalls as sc
from berth_isolation_linux.config import NAMESPACE_FLAGS, Config, Process
from berth_isolation_linux.seccomp import Filter

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
    with contextlib.suppress(BaseException):
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
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH22x", fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP))


def _finish(report: int, go: channel.GoReader, prepared: process.Prepared) -> NoReturn:
    """Report ready, wait for the start signal, execve; report why not if it fails.

    "ready" waits until the launcher moved us into the cgroup: the launcher has the helper's
    report of our PID by then, so the two reports cannot arrive the other way round (a busy
    host can run us to the end of our set-up before the helper gets to report)."""
    channel.send(report, {"ready": True})
    if go.expect(channel.GO_START) is None:
        os._exit(1)  # the launcher's caller went away before starting us
    failure = process.run(prepared)
    with contextlib.suppress(BaseException):
        channel.send(report, {"errno": failure.errno, "message": failure.message})
    os._exit(failure.exit_code)


# --- create -----------------------------------------------------------------------------------


def init_helper(
    cfg: Config,
    joins: dict[str, int],
    report: int,
    go: int,
    stdio: tuple[int, int, int],
    console: int | None,
    cgroup_dirs: dict[str, str],
    cgroup_v2: bool,
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
            init(cfg, report, go, stdio, console, cgroup_dirs, cgroup_v2)
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
    cgroup_v2: bool,
) -> NoReturn:
    orders = channel.GoReader(go)
    try:
        process.reset_signals()
        os.umask(0)
        if console is None:
            _install_stdio(stdio)
        if cfg.new_namespace("cgroup"):
            if orders.expect(channel.GO_CGROUP_JOINED) is None:
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
        with contextlib.suppress(OSError):
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
    report: int,
    go: int,
    stdio: tuple[int, int, int],
    console: int | None,
    seccomp: Filter | None,
) -> NoReturn:
    try:
        for kind, fd in joins:  # the mount namespace comes last
            sc.setns(fd, NAMESPACE_FLAGS[kind], f"into the container's {kind} namespace")
            os.close(fd)
        pid = os.fork()
        if pid == 0:
            exec_process(proc, report, go, stdio, console, seccomp)
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
) -> NoReturn:
    try:
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
