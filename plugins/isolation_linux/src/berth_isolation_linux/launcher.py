"""The launcher of the ``linux`` isolation backend: what a container's monitor imports.

It implements :mod:`berth.plugins.contracts.launcher` with the standard library and ctypes
only (no ``berth`` import: the monitor stays small). See :mod:`berth_isolation_linux.children`
for the processes it forks.

Speed: moving a process into a cgroup waits for an RCU grace period (6-14 ms) when no move
happened in the last few milliseconds. ``create`` and ``exec`` therefore start such a wait at
once, on a thread, with a move of the caller into its own cgroup (which changes nothing), and
move the container's process while that process sets itself up: the grace period overlaps
the rest of the work instead of adding to it.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import os
import signal
import threading
from collections.abc import Mapping
from typing import Any

from berth_isolation_linux import cgroups, channel, children, config, state
from berth_isolation_linux import process as processes
from berth_isolation_linux import syscalls as sc
from berth_isolation_linux.seccomp import compile_profile

__all__ = ["create", "delete", "exec", "oom_killed", "start"]


class _Pending:
    """A created init waiting for ``start``: its PID and the launcher's ends of its pipes."""

    def __init__(self, pid: int, go: int, reader: channel.Reader) -> None:
        self.pid = pid
        self.go = go
        self.reader = reader

    def close(self) -> None:
        if self.go >= 0:
            os.close(self.go)
            self.go = -1
        self.reader.close()


_PENDING: dict[str, _Pending] = {}
_LOCK = threading.Lock()


def _key(state_dir: str) -> str:
    return os.path.realpath(state_dir)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat().replace("+00:00", "Z")


# --- the cgroup grace period ------------------------------------------------------------------


def _warm_up(layout: cgroups.Layout) -> None:
    """Start the kernel's wait for a cgroup move now, on a thread (see the module's doc)."""
    try:
        if layout.version == 2:
            own = cgroups._own_cgroup(None)
            procs = os.path.join(layout.unified, own.lstrip("/"), "cgroup.procs")
        else:
            hierarchy = layout.hierarchies[0]
            own = cgroups._own_cgroup(sorted(hierarchy.controllers)[0])
            procs = os.path.join(hierarchy.mount_point, own.lstrip("/"), "cgroup.procs")
    except (OSError, ValueError, IndexError):
        return

    def move_self() -> None:
        with contextlib.suppress(OSError):
            fd = os.open(procs, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)

    threading.Thread(target=move_self, name="berth-cgroup-warm-up", daemon=True).start()


# --- errors -----------------------------------------------------------------------------------


def _raise_from(message: dict[str, Any] | None, what: str) -> None:
    if message is None:
        raise OSError(errno.ECHILD, f"{what}: the container's process died while it was set up")
    if "error" in message:
        if message.get("kind") == "value":
            raise ValueError(message["error"])
        raise OSError(message.get("errno") or errno.EIO, message["error"])


def _child_pid(reader: channel.Reader, helper: int, what: str) -> int:
    """The PID the helper reports; on an error (from the helper or its child, in any order)
    everything is collected and reaped before raising."""
    message = reader.next()
    if message is not None and "pid" in message:
        _reap(helper)
        return int(message["pid"])
    messages = [message]
    while messages[-1] is not None:
        messages.append(reader.next())
    _reap(helper)
    for late in messages:
        if late is not None and "pid" in late:
            _reap(int(late["pid"]))  # it reported its error and exited
    errors = [m for m in messages if m is not None and "error" in m]
    _raise_from(errors[0] if errors else None, what)
    raise AssertionError("unreachable")


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _kill_and_reap(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _reap(pid)


# --- the protocol -----------------------------------------------------------------------------


def create(bundle: str, state_dir: str, stdio: tuple[int, int, int], console: int | None) -> int:
    """Create the container's init, blocked before ``execve``; return its host PID."""
    layout = cgroups.detect()
    cfg = config.load(bundle)
    if cfg.process.terminal and console is None:
        raise ValueError("process.terminal is set but the caller gave no console socket")
    processes.check_rlimits(cfg.process)
    cgroups_path = cfg.cgroups_path or f"/berth/{os.path.basename(os.path.abspath(state_dir))}"
    cgroup = cgroups.Cgroup.plan(layout, cgroups_path)
    if cgroup.exists():
        raise OSError(
            errno.EEXIST,
            f"the cgroup {cgroups_path} already exists: another container uses it, or one was "
            "not deleted",
        )
    cgroup.make_dirs()
    # after the mkdirs: a move holds the cgroup mutex, which mkdir needs, while it waits
    _warm_up(layout)
    joins: dict[str, int] = {}
    try:
        for kind, path in cfg.namespaces.items():
            if path is not None:
                joins[kind] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
        go_read, go = os.pipe2(os.O_CLOEXEC)
        report_read, report = os.pipe2(os.O_CLOEXEC)
        helper = os.fork()
        if helper == 0:
            os.close(go)
            os.close(report_read)
            children.init_helper(
                cfg, joins, report, go_read, stdio, console, cgroup.paths, cgroup.version == 2
            )
        os.close(go_read)
        os.close(report)
    except BaseException:
        with contextlib.suppress(OSError):
            cgroup.destroy()
        raise
    finally:
        for fd in joins.values():
            os.close(fd)
    pending = _Pending(0, go, channel.Reader(report_read))
    try:
        # while the helper and the init work: compile the filter, move the init
        seccomp = compile_profile(cfg.seccomp) if cfg.seccomp is not None else None
        channel.send_go(go, channel.GO_FILTER, children.encode_filter(seccomp))
        pending.pid = _child_pid(pending.reader, helper, "create")
        cgroup.join(pending.pid)
        channel.send_go(go, channel.GO_CGROUP_JOINED)
        _raise_from(pending.reader.next(), "create")
        # the limits last, as runc: the init made its device nodes before the rules apply
        cgroup.limit(cfg.resources)
        state.write(
            state_dir,
            {
                "version": 1,
                "pid": pending.pid,
                "start_time": state.start_time(pending.pid),
                "bundle": cfg.bundle,
                "status": "created",
                "created": _now(),
                "cgroup": cgroup.to_json(),
                "annotations": dict(cfg.annotations),
            },
        )
        if seccomp is not None:
            with open(os.path.join(state_dir, state.SECCOMP_FILE), "wb") as handle:
                handle.write(children.encode_filter(seccomp))
    except BaseException as exc:
        reported = _abandon(pending, helper)
        with contextlib.suppress(OSError):
            cgroup.destroy()
        state.remove(state_dir)
        if reported is not None and isinstance(exc, Exception):
            _raise_from(reported, "create")  # what the children said is the cause
        raise
    with _LOCK:
        _PENDING[_key(state_dir)] = pending
    return pending.pid


def _abandon(pending: _Pending, helper: int) -> dict[str, Any] | None:
    """After a failure: make the children exit (the init is killed, or sees its go pipe
    close) and reap them, whatever they had reported so far; return the first error they
    reported from then on, if any."""
    if pending.go >= 0:
        os.close(pending.go)
        pending.go = -1
    pid = pending.pid
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    error = None
    while (message := pending.reader.next()) is not None:  # until both are gone
        if "pid" in message and not pid:
            pid = int(message["pid"])
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if "error" in message and error is None:
            error = message
    _reap(helper)
    if pid:
        _reap(pid)
    pending.reader.close()
    return error


def start(state_dir: str) -> None:
    """Let the created init ``execve``; raise ``OSError`` with Docker's text if it cannot."""
    with _LOCK:
        pending = _PENDING.pop(_key(state_dir), None)
    if pending is None:
        raise ValueError(f"no container was created in {state_dir} by this process")
    try:
        channel.send_go(pending.go, channel.GO_START)
        message = pending.reader.next()
    finally:
        pending.close()
    if message is not None:
        _raise_from(message, "start")
        raise processes.ExecFailed(int(message.get("errno") or errno.EIO), str(message["message"]))
    with contextlib.suppress(OSError):
        data = state.read(state_dir)
        data["status"] = "running"
        data["started"] = _now()
        state.write(state_dir, data)


def _namespace_joins(pid: int, cfg: config.Config) -> list[tuple[str, int]]:
    """Descriptors of the init's namespaces that differ from the caller's (mount last)."""
    joins: list[tuple[str, int]] = []
    try:
        for kind in ("ipc", "uts", "network", "pid", "cgroup", "mount"):
            name = config.NAMESPACE_FILES[kind]
            theirs = f"/proc/{pid}/ns/{name}"
            try:
                if os.stat(theirs).st_ino == os.stat(f"/proc/self/ns/{name}").st_ino:
                    continue
            except FileNotFoundError:
                continue  # the kernel lacks this namespace type
            joins.append((kind, os.open(theirs, os.O_RDONLY | os.O_CLOEXEC)))
    except BaseException:
        for _, fd in joins:
            os.close(fd)
        raise
    return joins


def exec(
    bundle: str,
    state_dir: str,
    process: Mapping[str, Any],
    stdio: tuple[int, int, int],
    console: int | None,
) -> int:
    """Run another process in the running container; return its host PID once it execs."""
    layout = cgroups.detect()
    _warm_up(layout)
    data = state.read(state_dir)
    if not state.alive(data):
        raise ProcessLookupError(errno.ESRCH, "the container is not running")
    cfg = config.load(bundle)
    proc = config.parse_process(process)
    if proc.terminal and console is None:
        raise ValueError("process.terminal is set but the caller gave no console socket")
    processes.check_rlimits(proc)
    try:
        with open(os.path.join(state_dir, state.SECCOMP_FILE), "rb") as handle:
            seccomp = children.decode_filter(handle.read())
    except FileNotFoundError:
        seccomp = compile_profile(cfg.seccomp) if cfg.seccomp is not None else None
    cgroup = cgroups.Cgroup.from_json(data["cgroup"])
    joins = _namespace_joins(int(data["pid"]), cfg)
    try:
        sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
        go_read, go = os.pipe2(os.O_CLOEXEC)
        report_read, report = os.pipe2(os.O_CLOEXEC)
        helper = os.fork()
        if helper == 0:
            os.close(go)
            os.close(report_read)
            children.exec_helper(joins, proc, report, go_read, stdio, console, seccomp)
        os.close(go_read)
        os.close(report)
    finally:
        for _, fd in joins:
            os.close(fd)
    pending = _Pending(0, go, channel.Reader(report_read))
    try:
        pending.pid = _child_pid(pending.reader, helper, "exec")
        cgroup.join(pending.pid)
        channel.send_go(go, channel.GO_CGROUP_JOINED)
        _raise_from(pending.reader.next(), "exec")
        channel.send_go(go, channel.GO_START)
        result = pending.reader.next()
    except BaseException as exc:
        reported = _abandon(pending, helper)
        if reported is not None and isinstance(exc, Exception):
            _raise_from(reported, "exec")
        raise
    pending.close()
    if result is not None:
        _reap(pending.pid)
        raise processes.ExecFailed(int(result.get("errno") or errno.EIO), str(result["message"]))
    return pending.pid


def oom_killed(state_dir: str) -> bool:
    """Whether the OOM killer killed a process of the container."""
    try:
        data = state.read(state_dir)
    except FileNotFoundError:
        return False
    return cgroups.Cgroup.from_json(data["cgroup"]).oom_kills() > 0


def delete(state_dir: str) -> None:
    """Kill what is left of the container and remove its cgroups (idempotent)."""
    with _LOCK:
        pending = _PENDING.pop(_key(state_dir), None)
    try:
        try:
            data = state.read(state_dir)
        except FileNotFoundError:
            return
        cgroups.Cgroup.from_json(data["cgroup"]).destroy()
        state.remove(state_dir)
    finally:
        if pending is not None:
            pending.close()  # an init never started would also exit on its own now
