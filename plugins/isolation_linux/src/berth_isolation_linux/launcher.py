"""The launcher of the ``linux`` isolation backend: what a container's monitor imports.

It implements :mod:`berth.plugins.contracts.launcher` with the standard library and ctypes
only (no ``berth`` import: the monitor stays small). See :mod:`berth_isolation_linux.children`
for the processes it forks.

Speed: moving a whole process into a cgroup makes the kernel wait for an RCU grace period
(6-14 ms here, more on a busy host) unless another move happened in the last few
milliseconds. On cgroup v1 the new process instead moves its only thread itself
(:func:`~berth_isolation_linux.cgroups.join_self`), which needs no such wait. On v2 the
launcher moves it, after starting a grace period early on a thread (a move of the caller into
its own cgroup, which changes nothing), so that the wait overlaps the process's set-up.
"""

from __future__ import annotations

import _thread
import errno
import os
import time

from berth_isolation_linux import cgroups, channel, children, config, state
from berth_isolation_linux import process as processes
from berth_isolation_linux import syscalls as sc
from berth_isolation_linux.errors import suppress
from berth_isolation_linux.seccomp import compile_profile

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

SIGKILL = 9

__all__ = ["create", "delete", "exec", "oom_killed", "start"]


class _Children:
    """The processes one ``create`` or ``exec`` forked: the helper, the process it reports,
    and the launcher's ends of their pipes. Reports arrive in any order (a busy host may run
    the process to the end of its set-up before the helper reports its PID)."""

    def __init__(self, helper: int, go: int, report: int) -> None:
        self.helper = helper
        self.pid = 0
        self.ready = False
        self.go = go
        self.reader = channel.Reader(report)

    def wait_for(self, what: str, op: str) -> None:
        """Read reports until ``what`` ("pid" or "ready") has come; raise on an error."""
        while not (self.pid if what == "pid" else self.ready):
            message = self.reader.next()
            if message is None:
                raise OSError(errno.ECHILD, f"{op}: the container's process died while set up")
            if "error" in message:
                raise _error(message)
            if "pid" in message:
                self.pid = int(message["pid"])
                _reap(self.helper)
            if "ready" in message:
                self.ready = True

    def close(self) -> None:
        if self.go >= 0:
            os.close(self.go)
            self.go = -1
        self.reader.close()

    def abandon(self) -> dict[str, Any] | None:
        """After a failure: make both exit (the process is killed, or sees its go pipe close)
        and reap them; return the first error they reported from then on, if any."""
        if self.go >= 0:
            os.close(self.go)
            self.go = -1
        if self.pid:
            _kill(self.pid)
        error = None
        if self.reader.fd >= 0:
            while (message := self.reader.next()) is not None:  # until both are gone
                if "pid" in message and not self.pid:
                    self.pid = int(message["pid"])
                    _kill(self.pid)
                if "error" in message and error is None:
                    error = message
        _reap(self.helper)
        if self.pid:
            _reap(self.pid)
        self.reader.close()
        return error


_PENDING: dict[str, _Children] = {}
_LOCK = _thread.allocate_lock()


def _key(state_dir: str) -> str:
    return os.path.realpath(state_dir)


def _now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e9):09d}Z"


def _error(message: Mapping[str, Any]) -> Exception:
    if message.get("kind") == "value":
        return ValueError(message["error"])
    return OSError(message.get("errno") or errno.EIO, message["error"])


def _reap(pid: int) -> None:
    with suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _kill(pid: int) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, SIGKILL)


def _warm_up(layout: cgroups.Layout) -> None:
    """Start the kernel's grace period for a cgroup move now, on a thread (v2; see above)."""
    try:
        own = cgroups._own_cgroup(None)
        procs = os.path.join(layout.unified, own.lstrip("/"), "cgroup.procs")
    except (OSError, ValueError):
        return

    def move_self() -> None:
        with suppress(OSError):
            fd = os.open(procs, os.O_WRONLY | os.O_CLOEXEC)
            try:
                os.write(fd, str(os.getpid()).encode())
            finally:
                os.close(fd)

    _thread.start_new_thread(move_self, ())


def _fork(target: Any, *args: Any) -> _Children:
    """Fork a helper running ``target(*args, report, go)``; the caller keeps the other ends."""
    sc.prctl(sc.PR_SET_CHILD_SUBREAPER, 1)
    go_read, go = os.pipe2(os.O_CLOEXEC)
    report_read, report = os.pipe2(os.O_CLOEXEC)
    helper = os.fork()
    if helper == 0:
        os.close(go)
        os.close(report_read)
        target(*args, report=report, go=go_read)
    os.close(go_read)
    os.close(report)
    return _Children(helper, go, report_read)


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
    if cgroup.version == 2:
        _warm_up(layout)  # after the mkdirs: a move holds the cgroup mutex mkdir needs
    joins: dict[str, int] = {}
    tasks: list[int] = []
    try:
        cgroup.limit(cfg.resources, devices=False)
        tasks = cgroup.open_tasks()
        for kind, path in cfg.namespaces.items():
            if path is not None:
                joins[kind] = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        forked = _fork(children.init_helper, cfg, joins, stdio, console, cgroup.paths, tasks)
    except BaseException:
        with suppress(OSError):
            cgroup.destroy()
        raise
    finally:
        for fd in [*joins.values(), *tasks]:
            os.close(fd)
    try:
        # while the helper and the init work: compile the filter the init installs
        seccomp = compile_profile(cfg.seccomp) if cfg.seccomp is not None else None
        channel.send_go(forked.go, channel.GO_FILTER, children.encode_filter(seccomp))
        forked.wait_for("pid", "create")
        if cgroup.version == 2:
            cgroup.join(forked.pid)
            channel.send_go(forked.go, channel.GO_CGROUP_JOINED)
        forked.wait_for("ready", "create")
        # the device rules last, as runc: they govern mknod, and the init made its nodes
        cgroup.limit_devices(cfg.resources)
        state.write(
            state_dir,
            {
                "version": 1,
                "pid": forked.pid,
                "start_time": state.start_time(forked.pid),
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
        reported = forked.abandon()
        with suppress(OSError):
            cgroup.destroy()
        state.remove(state_dir)
        if reported is not None and isinstance(exc, Exception):
            raise _error(reported) from None  # what the children said is the cause
        raise
    with _LOCK:
        _PENDING[_key(state_dir)] = forked
    return forked.pid


def start(state_dir: str) -> None:
    """Let the created init ``execve``; raise :class:`~.process.ExecFailed` (an ``OSError``
    with Docker's text and ``exit_code``) if it cannot."""
    with _LOCK:
        forked = _PENDING.pop(_key(state_dir), None)
    if forked is None:
        raise ValueError(f"no container was created in {state_dir} by this process")
    try:
        channel.send_go(forked.go, channel.GO_START)
        result = forked.reader.next()  # end of file: execve closed the pipe
    finally:
        forked.close()
    if result is not None:
        if "error" in result:
            raise _error(result)
        raise processes.ExecFailed(int(result.get("errno") or errno.EIO), str(result["message"]))
    with suppress(OSError):
        data = state.read(state_dir)
        data["status"] = "running"
        data["started"] = _now()
        state.write(state_dir, data)


def _namespace_joins(pid: int) -> list[tuple[str, int]]:
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
    if cgroup.version == 2:
        _warm_up(cgroups.detect())
    tasks = cgroup.open_tasks()
    joins: list[tuple[str, int]] = []
    try:
        joins = _namespace_joins(int(data["pid"]))
        forked = _fork(children.exec_helper, joins, proc, stdio, console, seccomp, tasks)
    finally:
        for fd in [*(fd for _, fd in joins), *tasks]:
            os.close(fd)
    try:
        forked.wait_for("pid", "exec")
        if cgroup.version == 2:
            cgroup.join(forked.pid)
        forked.wait_for("ready", "exec")
        channel.send_go(forked.go, channel.GO_START)
        result = forked.reader.next()
    except BaseException as exc:
        reported = forked.abandon()
        if reported is not None and isinstance(exc, Exception):
            raise _error(reported) from None
        raise
    forked.close()
    if result is not None:
        _reap(forked.pid)
        if "error" in result:
            raise _error(result)
        raise processes.ExecFailed(int(result.get("errno") or errno.EIO), str(result["message"]))
    return forked.pid


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
        forked = _PENDING.pop(_key(state_dir), None)
    try:
        try:
            data = state.read(state_dir)
        except FileNotFoundError:
            return
        cgroups.Cgroup.from_json(data["cgroup"]).destroy()
        state.remove(state_dir)
    finally:
        if forked is not None:
            forked.close()  # an init never started would also exit on its own now
