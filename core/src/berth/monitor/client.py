"""berthd's side of the monitor: start one, and speak its control protocol on monitor.sock.

Every call opens a connection to ``<state_dir>/monitor.sock``, sends one JSON request line and
reads one JSON reply line; ``attach`` and ``exec`` then hand back the connection, which carries
the process's streams:

- ``{"op":"start"}`` → ``{"ok":true,"pid":N}``, or ``{"ok":false,"error":"...","exit_code":127}``
  (the container's exit code Docker gives: 127 not found, 126 not executable, 128 otherwise);
- ``{"op":"attach","stdin":true,"stdout":true,"stderr":true}`` → ``{"ok":true}``, then frames
  (:mod:`berth.monitor.frames`) monitor → daemon; raw input bytes daemon → monitor, and a
  half-close ends the input (the container's stdin is closed with ``--stdin-once``). The monitor
  closes the stream when the container has exited and all its output was sent. Replaying the
  log (Docker's ``logs=1``) is berthd's business, from the log file;
- ``{"op":"resize","height":H,"width":W}`` (``"exec":ID`` for an exec) → ``{"ok":true}``;
- ``{"op":"wait"}`` → at the exit ``{"exit_code":N,"oom_killed":false,"finished_at":"...",
  "pid":N}`` (plus ``"error"`` when the start failed), the content of ``exit.json``;
  ``{"op":"wait","exec":ID}`` → ``{"exit_code":N}`` when that exec ends;
- ``{"op":"exec","id":ID,"process":{OCI process},"tty":false,"stdin":false}`` →
  ``{"ok":true,"pid":N}``, then frames as for attach, ending with a system frame (stream 3)
  carrying ``{"exit_code":N}``;
- ``{"op":"kill","signal":N,"all":false}`` → ``{"ok":true}``;
- ``{"op":"state"}`` → ``{"ok":true,"status":"created|running|stopped","pid":N,
  "started_at":"...","execs":[...]}`` (and ``"exit"`` once stopped).

Errors are ``{"ok":false,"error":"one line"}``. Functions here raise :class:`MonitorError` with
that line, and :class:`MonitorGone` when no monitor answers; a monitor that finished has left
``exit.json`` (:func:`read_exit`). The functions block: call them from a worker thread, or hand
the socket of :func:`request` to ``asyncio.open_unix_connection(sock=...)``.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from berth.monitor import frames
from berth.monitor.options import Options
from berth.monitor.system import socket_address

MAIN = str(Path(__file__).with_name("main.py"))
SOCKET_NAME, PID_NAME, EXIT_NAME, LOG_NAME = (
    "monitor.sock",
    "monitor.pid",
    "exit.json",
    "monitor.log",
)
#: How long a request waits for its reply (not for ``wait``), in seconds.
REPLY_TIMEOUT = 30.0


class MonitorError(Exception):
    """The monitor refused or failed; ``exit_code`` is the container's when a start failed."""

    def __init__(self, message: str, exit_code: int = 128) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class MonitorGone(MonitorError):
    """No monitor answers on this state directory (it finished, or it was killed)."""


@dataclass(frozen=True)
class ExitStatus:
    exit_code: int
    oom_killed: bool
    finished_at: str
    pid: int = 0
    error: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExitStatus:
        return cls(
            exit_code=int(data["exit_code"]),
            oom_killed=bool(data.get("oom_killed", False)),
            finished_at=str(data.get("finished_at", "")),
            pid=int(data.get("pid", 0)),
            error=str(data.get("error", "")),
        )


def import_paths(module: str) -> list[str]:
    """The import directory ``module`` comes from (what the monitor needs to import it)."""
    top = module.partition(".")[0]
    spec = find_spec(top)
    if spec is None:
        raise MonitorError(f"cannot find the launcher module {module!r}")
    if spec.submodule_search_locations:
        location = next(iter(spec.submodule_search_locations))
    elif spec.origin:
        location = spec.origin
    else:
        raise MonitorError(f"cannot tell where the launcher module {module!r} lives")
    return [str(Path(location).parent)]


def spawn(
    state_dir: str | os.PathLike[str],
    bundle: str | os.PathLike[str],
    container_id: str,
    launcher: str,
    *,
    paths: list[str] | None = None,
    log_path: str | os.PathLike[str] = "",
    log_max_size: int = -1,
    log_max_file: int = 1,
    tty: bool = False,
    open_stdin: bool = False,
    stdin_once: bool = False,
    grace: float = 2.0,
    timeout: float = 60.0,
) -> int:
    """Start a monitor that creates the container's init (not yet started); its PID.

    ``paths`` defaults to :func:`import_paths` of ``launcher``. Raises :class:`MonitorError`
    with the launcher's one-line reason when the init cannot be created.
    """
    state = Path(state_dir)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    for stale in (EXIT_NAME, SOCKET_NAME, PID_NAME):
        with contextlib.suppress(FileNotFoundError):
            (state / stale).unlink()
    ready_r, ready_w = os.pipe()
    opts = Options(
        container_id,
        str(state),
        str(bundle),
        launcher,
        paths=import_paths(launcher) if paths is None else paths,
        log_path=str(log_path),
        log_max_size=log_max_size,
        log_max_file=log_max_file,
        tty=tty,
        open_stdin=open_stdin,
        stdin_once=stdin_once,
        ready_fd=ready_w,
        grace=grace,
    )
    argv = [sys.executable, "-I", "-S", MAIN, *opts.to_argv()]
    try:
        with open(state / LOG_NAME, "ab") as log:
            first = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                pass_fds=(ready_w,),
            )
        os.close(ready_w)
        ready_w = -1
        first.wait()  # it forks the monitor and exits at once
        line = _read_line(ready_r, timeout)
    finally:
        os.close(ready_r)
        if ready_w >= 0:
            os.close(ready_w)
    if not line:
        raise MonitorError(f"the monitor failed to start: {_last_line(state / LOG_NAME)}")
    answer = json.loads(line)
    if not answer.get("ok"):
        raise MonitorError(str(answer.get("error", "?")), int(answer.get("exit_code", 128)))
    return int(answer["pid"])


def request(
    state_dir: str | os.PathLike[str],
    body: Mapping[str, Any],
    timeout: float | None = REPLY_TIMEOUT,
) -> tuple[socket.socket, dict[str, Any]]:
    """Send one request; the connection (blocking, positioned after the reply) and the reply."""
    path = os.path.join(state_dir, SOCKET_NAME)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        dir_fd = -1
        try:
            address, dir_fd = socket_address(path)
            sock.connect(address)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise MonitorGone(f"no monitor answers at {path}: {exc.strerror}") from None
        finally:
            if dir_fd >= 0:
                os.close(dir_fd)
        try:
            sock.sendall(json.dumps(body).encode() + b"\n")
            line = _recv_line(sock)
        except (ConnectionResetError, BrokenPipeError):
            line = b""  # it was exiting: it had accepted nothing more
        if not line:
            raise MonitorGone(f"the monitor at {path} closed the connection without answering")
        reply = json.loads(line)
        sock.settimeout(None)
        return sock, reply
    except BaseException:
        sock.close()
        raise


def _call(state_dir: str | os.PathLike[str], body: Mapping[str, Any]) -> dict[str, Any]:
    sock, reply = request(state_dir, body)
    sock.close()
    _check(reply)
    return reply


def _check(reply: Mapping[str, Any]) -> None:
    if reply.get("ok") is False:
        raise MonitorError(str(reply.get("error", "?")), int(reply.get("exit_code", 128)))


def start(state_dir: str | os.PathLike[str]) -> int:
    """Let the created init run (exec the user's command); its PID."""
    return int(_call(state_dir, {"op": "start"})["pid"])


def attach(
    state_dir: str | os.PathLike[str],
    *,
    stdin: bool = False,
    stdout: bool = True,
    stderr: bool = True,
) -> socket.socket:
    """A stream of the container's output frames (and a way in for its input)."""
    sock, reply = request(
        state_dir, {"op": "attach", "stdin": stdin, "stdout": stdout, "stderr": stderr}
    )
    try:
        _check(reply)
    except BaseException:
        sock.close()
        raise
    return sock


def resize(
    state_dir: str | os.PathLike[str], height: int, width: int, exec_id: str | None = None
) -> None:
    body: dict[str, Any] = {"op": "resize", "height": height, "width": width}
    if exec_id is not None:
        body["exec"] = exec_id
    _call(state_dir, body)


def wait(state_dir: str | os.PathLike[str], timeout: float | None = None) -> ExitStatus:
    """Block until the container has exited; its exit status (from exit.json if the monitor
    finished already). :class:`MonitorGone` when neither answers (the monitor was killed)."""
    try:
        sock, reply = request(state_dir, {"op": "wait"}, timeout=timeout)
    except MonitorGone:
        status = read_exit(state_dir)
        if status is None:
            raise
        return status
    sock.close()
    _check(reply)
    return ExitStatus.from_json(reply)


def exec_process(
    state_dir: str | os.PathLike[str],
    exec_id: str,
    process: Mapping[str, Any],
    *,
    tty: bool = False,
    stdin: bool = False,
) -> tuple[int, socket.socket]:
    """Start a process (an OCI ``process`` object) in the running container: its PID and its
    stream (frames, then a system frame with ``{"exit_code": N}``)."""
    body = {"op": "exec", "id": exec_id, "process": dict(process), "tty": tty, "stdin": stdin}
    sock, reply = request(state_dir, body)
    try:
        _check(reply)
    except BaseException:
        sock.close()
        raise
    return int(reply["pid"]), sock


exec = exec_process  # the protocol's name for it


def wait_exec(state_dir: str | os.PathLike[str], exec_id: str, timeout: float | None = None) -> int:
    sock, reply = request(state_dir, {"op": "wait", "exec": exec_id}, timeout=timeout)
    sock.close()
    _check(reply)
    return int(reply["exit_code"])


def kill(state_dir: str | os.PathLike[str], signal_number: int, all: bool = False) -> None:
    _call(state_dir, {"op": "kill", "signal": int(signal_number), "all": all})


def state(state_dir: str | os.PathLike[str]) -> dict[str, Any]:
    return _call(state_dir, {"op": "state"})


def read_exit(state_dir: str | os.PathLike[str]) -> ExitStatus | None:
    """The recorded exit of the container's last run, or None when there is none (yet)."""
    try:
        data = json.loads(Path(state_dir, EXIT_NAME).read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise MonitorError(f"cannot read {Path(state_dir, EXIT_NAME)}: {exc}") from None
    return ExitStatus.from_json(data)


def monitor_pid(state_dir: str | os.PathLike[str]) -> int | None:
    """The PID of the monitor serving this state directory, if one is alive."""
    try:
        pid = int(Path(state_dir, PID_NAME).read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError):
        return None
    if MAIN.encode() in cmdline and os.fsencode(os.fspath(state_dir)) in cmdline:
        return pid
    return None


def kill_monitor(state_dir: str | os.PathLike[str]) -> None:
    """Stop a monitor for good (SIGKILL): only for cleaning up after a failure."""
    pid = monitor_pid(state_dir)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def iter_frames(sock: socket.socket) -> Iterator[tuple[int, bytes]]:
    """``(stream, payload)`` for each frame until the monitor closes the stream."""
    reader = sock.makefile("rb")
    try:
        while True:
            head = reader.read(frames.HEADER_SIZE)
            if not head:
                return
            if len(head) < frames.HEADER_SIZE:
                raise MonitorError("the monitor's stream ended in the middle of a frame")
            stream, length = frames.parse_header(head)
            payload = reader.read(length)
            if len(payload) < length:
                raise MonitorError("the monitor's stream ended in the middle of a frame")
            yield stream, payload
    finally:
        reader.close()


def _recv_line(sock: socket.socket) -> bytes:
    """One line, leaving whatever follows it in the socket."""
    data = bytearray()
    while True:
        peeked = sock.recv(65536, socket.MSG_PEEK)
        if not peeked:
            return bytes(data)
        end = peeked.find(b"\n")
        if end >= 0:
            data += sock.recv(end + 1)
            return bytes(data[:-1])
        data += sock.recv(len(peeked))
        if len(data) > 1 << 20:
            raise MonitorError("the monitor's reply is too long")


def _read_line(fd: int, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise MonitorError(f"the monitor did not get ready within {timeout:g} s")
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    return data.partition(b"\n")[0]


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    return lines[-1] if lines else "it exited without a word"
