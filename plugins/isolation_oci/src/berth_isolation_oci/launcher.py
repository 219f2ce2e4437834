"""The launcher of the OCI backends: what a container's monitor imports to run the runtime binary.

It implements :mod:`berth.plugins.contracts.launcher` with the runtime's own commands::

    create  → runc create --bundle B --pid-file P [--console-socket S] ID
    start   → runc start ID
    exec    → runc exec --detach --pid-file P --process F [--console-socket S] ID
    delete  → runc delete --force ID

The monitor is a child subreaper, so when ``runc create`` (or ``runc exec -d``) exits, the
container's init (or the exec'd process) becomes the monitor's child: it waits for it as for
any other. With a terminal, the runtime opens the pty inside the container and sends its master
to a socket here (``--console-socket``), which hands it on to the monitor's ``console`` socket.
The runtime's binary, arguments, ``--root`` and the container's ID come from
``oci-runtime.json`` (:mod:`berth_isolation_oci.config`); without it this module runs runc
(:mod:`berth_isolation_oci.crun_launcher` runs crun).

Standard library only, and not ``json``, ``signal``, ``subprocess`` or ``typing``: the monitor's
memory is a budget.
"""

from __future__ import annotations

import _socket
import contextlib
import os
import sys

from berth_isolation_oci.cgroup import cgroup_paths, oom_kills, remove_empty_parents
from berth_isolation_oci.command import RuntimeFailed, run_command
from berth_isolation_oci.config import RUNTIME_FILE, RuntimeConfig
from berth_isolation_oci.errors import launch_error
from berth_isolation_oci.jsonlite import dumps, load_object

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = ["create", "delete", "exec", "oom_killed", "start"]

INIT_PID = "init.pid"
CONSOLE_SOCKET = "console.sock"
#: How long the runtime's terminal may take to arrive once its command returned.
CONSOLE_TIMEOUT = 5.0
#: Longest path a UNIX socket address holds.
SOCKET_PATH_MAX = 107
PR_SET_CHILD_SUBREAPER = 36


class OciLauncher:
    """The launcher functions for one runtime binary (the default when the state directory
    holds no ``oci-runtime.json``)."""

    def __init__(self, default_binary: str) -> None:
        self.default_binary = default_binary

    def create(
        self, bundle: str, state_dir: str, stdio: tuple[int, int, int], console: int | None
    ) -> int:
        _become_subreaper()
        config = RuntimeConfig.load_or_default(state_dir, self.default_binary)
        pid_file = os.path.join(state_dir, INIT_PID)
        _remove(pid_file)
        command = ["create", "--bundle", bundle, "--pid-file", pid_file]
        _run_with_console(config, command, state_dir, stdio, console, "create", bundle)
        return _read_pid(pid_file)

    def start(self, state_dir: str) -> None:
        config = RuntimeConfig.load(state_dir)
        try:
            run_command(config, ["start", config.id], state_dir)
        except RuntimeFailed as exc:
            raise launch_error("start", exc.message) from None

    def exec(
        self,
        bundle: str,
        state_dir: str,
        process: Mapping[str, Any],
        stdio: tuple[int, int, int],
        console: int | None,
    ) -> int:
        config = RuntimeConfig.load(state_dir)
        merged = _exec_process(bundle, process, console is not None)
        name = os.path.join(state_dir, f"exec-{os.urandom(6).hex()}")
        process_file, pid_file = f"{name}.json", f"{name}.pid"
        try:
            with open(process_file, "w") as f:
                f.write(dumps(merged))
            command = ["exec", "--detach", "--pid-file", pid_file, "--process", process_file]
            _run_with_console(config, command, state_dir, stdio, console, "exec", bundle)
            return _read_pid(pid_file)
        finally:
            _remove(process_file)
            _remove(pid_file)

    def oom_killed(self, state_dir: str) -> bool:
        try:
            config = RuntimeConfig.load(state_dir)
        except FileNotFoundError:
            return False
        return oom_kills(config) > 0

    def delete(self, state_dir: str) -> None:
        try:
            config = RuntimeConfig.load(state_dir)
        except FileNotFoundError:
            return  # nothing was created here
        cgroups = cgroup_paths(config)  # (the runtime's record goes with the delete)
        try:
            run_command(config, ["delete", "--force", config.id], state_dir)
        except RuntimeFailed as exc:
            if "does not exist" not in exc.message:
                raise launch_error("delete", exc.message) from None
        remove_empty_parents(cgroups)
        _remove(os.path.join(state_dir, INIT_PID))
        _remove(os.path.join(state_dir, RUNTIME_FILE))  # no container here any more


_RUNC = OciLauncher("runc")
create = _RUNC.create
start = _RUNC.start
exec = _RUNC.exec  # the protocol's name
oom_killed = _RUNC.oom_killed
delete = _RUNC.delete


# --- helpers ---------------------------------------------------------------------------------


def _lost_cgroup_parent(message: str) -> bool:
    return "apply cgroup configuration" in message and "no such file or directory" in message


def _run_with_console(
    config: RuntimeConfig,
    command: list[str],
    state_dir: str,
    stdio: tuple[int, int, int],
    console: int | None,
    what: str,
    bundle: str,
) -> None:
    """Run ``create`` or ``exec`` (the ID is added), with a console socket when asked."""
    listener = _ConsoleListener(state_dir) if console is not None else None
    try:
        if listener is not None:
            command = [*command, "--console-socket", listener.address]
        try:
            try:
                run_command(config, [*command, config.id], state_dir, stdio)
            except RuntimeFailed as exc:
                if what != "create" or not _lost_cgroup_parent(exc.message):
                    raise
                # Another container's delete removed the shared, momentarily empty cgroup
                # parent while runc made ours under it (the native launcher retries the same
                # way): clear runc's half-made state and create once more.
                with contextlib.suppress(RuntimeFailed):
                    run_command(config, ["delete", "--force", config.id], state_dir, stdio)
                run_command(config, [*command, config.id], state_dir, stdio)
        except RuntimeFailed as exc:
            raise launch_error(what, exc.message, _rlimits(bundle)) from None
        if listener is not None and console is not None:
            master = listener.receive()
            try:
                _send_fd(console, master)
            finally:
                os.close(master)
    finally:
        if listener is not None:
            listener.close()


def _rlimits(bundle: str) -> list[dict[str, object]]:
    try:
        process = load_object(os.path.join(bundle, "config.json")).get("process")
    except (OSError, ValueError):
        return []
    rlimits = process.get("rlimits") if isinstance(process, dict) else None
    return [r for r in rlimits if isinstance(r, dict)] if isinstance(rlimits, list) else []


def _exec_process(bundle: str, process: Mapping[str, Any], terminal: bool) -> dict[str, object]:
    """The OCI process of an exec: the container's own (user, capabilities, rlimits, …), with
    what the caller gives replacing it key by key."""
    try:
        base = load_object(os.path.join(bundle, "config.json")).get("process")
    except (OSError, ValueError):
        base = None
    merged: dict[str, object] = dict(base) if isinstance(base, dict) else {}
    merged.pop("consoleSize", None)
    merged.update(process)
    merged.setdefault("cwd", "/")
    merged.setdefault("user", {"uid": 0, "gid": 0})
    merged["terminal"] = terminal
    return merged


class _ConsoleListener:
    """The socket the runtime sends the terminal's master to (``--console-socket``)."""

    def __init__(self, state_dir: str) -> None:
        self.path = os.path.join(os.path.abspath(state_dir), CONSOLE_SOCKET)
        _remove(self.path)
        self.dir_fd = -1
        self.address = self.path
        if len(os.fsencode(self.path)) > SOCKET_PATH_MAX:
            # Too long for an address: reach the directory through this process's fd, a path
            # the runtime (another process, also root) can follow.
            self.dir_fd = os.open(state_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            self.address = f"/proc/{os.getpid()}/fd/{self.dir_fd}/{CONSOLE_SOCKET}"
        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
        try:
            self.sock.bind(self.address)
            self.sock.listen(1)
        except BaseException:
            self.close()
            raise

    def receive(self) -> int:
        self.sock.settimeout(CONSOLE_TIMEOUT)
        try:
            # _socket's socket has only the raw accept (socket.socket wraps it).
            fd, _addr = self.sock._accept()  # type: ignore[attr-defined]
        except TimeoutError:
            raise OSError("the OCI runtime did not send the container's terminal") from None
        conn = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, fd)
        try:
            conn.settimeout(CONSOLE_TIMEOUT)
            _data, ancillary, _flags, _addr = conn.recvmsg(
                4096, _socket.CMSG_SPACE(4 * 4), _socket.MSG_CMSG_CLOEXEC
            )
        finally:
            conn.close()
        fds: list[int] = []
        for level, kind, data in ancillary:
            if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
                fds += [
                    int.from_bytes(data[i : i + 4], sys.byteorder)
                    for i in range(0, len(data) - len(data) % 4, 4)
                ]
        if not fds:
            raise OSError("the OCI runtime sent no terminal on the console socket")
        for extra in fds[1:]:
            os.close(extra)
        return fds[0]

    def close(self) -> None:
        self.sock.close()
        _remove(self.path)
        if self.dir_fd >= 0:
            os.close(self.dir_fd)
            self.dir_fd = -1


def _send_fd(console: int, fd: int) -> None:
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM, 0, os.dup(console))
    try:
        rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fd.to_bytes(4, sys.byteorder))]
        sock.sendmsg([b"pty"], rights)
    finally:
        sock.close()


def _read_pid(path: str) -> int:
    with open(path, "rb") as f:
        return int(f.read().strip())


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return


def _become_subreaper() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")
