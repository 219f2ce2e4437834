"""Running the runtime binary: one command, its exit, its error as one line.

The runtime logs to a file (``--log … --log-format json``) rather than to its stderr, because
its stdio is the container's (``create`` and ``exec`` hand theirs to the container's process).
Launcher side: standard library only.
"""

from __future__ import annotations

import errno
import os

from berth_isolation_oci.jsonlite import loads

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth_isolation_oci.config import RuntimeConfig

if TYPE_CHECKING:
    import signal as _signal
else:
    import _signal  # what ``signal`` wraps, without its enums

#: Signals Python ignores in itself and a child must not inherit ignored.
_RESET = (_signal.SIGPIPE, _signal.SIGXFSZ)


class RuntimeFailed(OSError):
    """The runtime binary failed; ``message`` (``strerror``) is its error, one line."""

    @property
    def message(self) -> str:
        return self.strerror or ""


def error_of(log_path: str) -> str:
    """The last error the runtime logged (JSON lines ``{"level": "error", "msg": …}``)."""
    try:
        with open(log_path, "rb") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return ""
    found = ""
    for line in lines:
        try:
            record = loads(line)
        except ValueError:
            if line.strip():
                found = line.decode(errors="replace").strip()
            continue
        if isinstance(record, dict) and record.get("level") in ("error", "fatal"):
            found = str(record.get("msg", ""))
    return " ".join(found.split())


def spawn(argv: list[str], stdio: tuple[int, int, int] = (-1, -1, -1)) -> int:
    """Start ``argv`` with ``stdio`` (-1: /dev/null) and default signal handling; its PID."""
    actions: list[tuple[object, ...]] = []
    copies: list[int] = []
    for target, fd in enumerate(stdio):
        if fd < 0:
            actions.append((os.POSIX_SPAWN_OPEN, target, "/dev/null", os.O_RDWR, 0))
            continue
        if fd < 3 and fd != target:  # would be overwritten by an earlier dup2
            fd = os.dup(fd)
            copies.append(fd)
        actions.append((os.POSIX_SPAWN_DUP2, fd, target))
    try:
        return os.posix_spawn(
            argv[0], argv, os.environ, file_actions=actions, setsigdef=_RESET, setsigmask=()
        )
    finally:
        for fd in copies:
            os.close(fd)


def run_command(
    config: RuntimeConfig,
    command: list[str],
    state_dir: str,
    stdio: tuple[int, int, int] = (-1, -1, -1),
    capture: bool = False,
) -> bytes:
    """Run one runtime command (``["kill", id, "9"]``) to its end; what it wrote on stdout
    with ``capture``. Raises :class:`RuntimeFailed` with the runtime's error when it fails;
    its log goes to a temporary file in ``state_dir``."""
    log_path = os.path.join(state_dir, f".runtime-{os.urandom(6).hex()}.log")
    argv = [*config.argv("--log", log_path, "--log-format", "json"), *command]
    reader = -1
    try:
        if capture:
            reader, writer = os.pipe()
            try:
                pid = spawn(argv, (stdio[0], writer, stdio[2]))
            finally:
                os.close(writer)
            output = _read_all(reader)
        else:
            pid = spawn(argv, stdio)
            output = b""
        _, status = os.waitpid(pid, 0)
        if status != 0:
            message = error_of(log_path) or _describe(argv[0], command[0], status)
            raise RuntimeFailed(errno.EIO, message)
        return output
    finally:
        if reader >= 0:
            os.close(reader)
        _remove(log_path)


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return


def _describe(binary: str, command: str, status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"{os.path.basename(binary)} {command} was killed by signal {os.WTERMSIG(status)}"
    return f"{os.path.basename(binary)} {command} failed with exit status {os.WEXITSTATUS(status)}"
