"""The daemon's side of the per-container monitors: starting them, finding them again after a
daemon restart, and speaking their control protocol (asyncio, one request per connection).

A monitor is started as ``python -I -S <berth/monitor/main.py> …`` (its options are
:class:`berth.monitor.options.Options`); it writes one JSON line on its ready pipe once the
container's init exists (blocked before ``execve``) or failed to, and from then on answers on
``monitor.sock`` in its state directory. It is not berthd's child for long: it detaches, and
berthd only reaps what it started. After a daemon restart, :meth:`Supervisor.reconnect` finds a
live monitor by its socket; :meth:`Supervisor.read_exit` reads the ``exit.json`` of one that
finished while berthd was down.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import berth.monitor
from berth.engine.containers.attach import MonitorStream
from berth.engine.containers.zygote import MonitorZygote, is_monitor_of
from berth.engine.errors import BerthError
from berth.monitor.options import Options
from berth.monitor.system import socket_address

MONITOR_SOCKET = "monitor.sock"
MONITOR_PID = "monitor.pid"
EXIT_FILE = "exit.json"
MONITOR_LOG = "monitor.log"
READY_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0
KILL_TIMEOUT = 5.0
#: Exit code recorded when a container's monitor vanished without recording one (Docker's
#: code for a task containerd lost).
LOST_EXIT_CODE = 255


class MonitorError(BerthError):
    """The monitor could not be started or did not answer."""

    status = 500


class StartFailed(BerthError):
    """The container's program could not be executed (126/127) or the container could not be
    created; ``exit_code`` is what its state records."""

    def __init__(self, message: str, exit_code: int, status: int = 400) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.status = status


class MonitorGone(Exception):
    """The monitor's socket does not answer (it exited, or crashed)."""


@dataclass(frozen=True)
class ExitStatus:
    exit_code: int
    oom_killed: bool = False
    finished_at: str = ""
    error: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExitStatus:
        return cls(
            int(data.get("exit_code", LOST_EXIT_CODE)),
            bool(data.get("oom_killed", False)),
            str(data.get("finished_at") or ""),
            str(data.get("error") or ""),
        )


def exit_code_for(message: str, default: int = 128) -> int:
    """Docker's reading of a start error: 127 for a program not found, 126 for one that
    cannot be executed (the same tests as the docker CLI's and dockerd's)."""
    text = message.lower()
    if "executable file not found" in text or "no such file or directory" in text:
        return 127
    if "permission denied" in text or "is a directory" in text:
        return 126
    if "not a directory" in text:
        return 127
    return default


def _search_root(module: str) -> str | None:
    """The directory to put on ``sys.path`` so that ``module`` imports (its top package's
    parent)."""
    top = module.split(".", 1)[0]
    try:
        found = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return None
    if found is None:
        return None
    locations = list(found.submodule_search_locations or [])
    if locations:
        return str(Path(locations[0]).parent)
    if found.origin:
        return str(Path(found.origin).parent)
    return None


class MonitorHandle:
    """Talks to one container's monitor over its control socket."""

    def __init__(self, container_id: str, state_dir: Path, pid: int = 0) -> None:
        self.container_id = container_id
        self.state_dir = state_dir
        self.pid = pid

    @property
    def socket_path(self) -> Path:
        return self.state_dir / MONITOR_SOCKET

    async def _open(
        self, request: Mapping[str, Any], timeout: float | None = REQUEST_TIMEOUT
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, dict[str, Any]]:
        try:
            address, dir_fd = socket_address(str(self.socket_path))  # long paths via /proc
        except OSError as exc:
            raise MonitorGone(f"monitor of {self.container_id[:12]} is gone: {exc}") from exc
        try:
            reader, writer = await asyncio.open_unix_connection(address, limit=1 << 20)
        except (OSError, ValueError) as exc:
            raise MonitorGone(
                f"monitor of {self.container_id[:12]} does not answer: {exc}"
            ) from exc
        finally:
            if dir_fd >= 0:
                os.close(dir_fd)
        try:
            writer.write(json.dumps(dict(request)).encode() + b"\n")
            await writer.drain()
            if timeout is None:
                line = await reader.readline()
            else:
                line = await asyncio.wait_for(reader.readline(), timeout)
        except TimeoutError:
            writer.close()
            raise MonitorGone(
                f"monitor of {self.container_id[:12]} did not answer within {timeout:g} s"
            ) from None
        except OSError as exc:
            writer.close()
            raise MonitorGone(f"monitor of {self.container_id[:12]} did not answer: {exc}") from exc
        except BaseException:
            writer.close()
            raise
        if not line:
            writer.close()
            raise MonitorGone(f"monitor of {self.container_id[:12]} closed the connection")
        try:
            reply = json.loads(line)
        except ValueError:
            writer.close()
            raise MonitorError(
                f"monitor of {self.container_id[:12]} answered {line[:80]!r}"
            ) from None
        if not isinstance(reply, dict):
            writer.close()
            raise MonitorError(f"monitor of {self.container_id[:12]} answered {line[:80]!r}")
        return reader, writer, reply

    async def _call(self, request: Mapping[str, Any]) -> dict[str, Any]:
        _reader, writer, reply = await self._open(request)
        writer.close()
        return reply

    @staticmethod
    def _failed(reply: Mapping[str, Any]) -> str | None:
        if reply.get("ok") is False or ("error" in reply and reply.get("ok") is not True):
            return str(reply.get("error") or "the monitor refused the request")
        return None

    async def ping(self) -> bool:
        try:
            reply = await self._call({"op": "state"})
        except (MonitorGone, MonitorError):
            return False
        return self._failed(reply) is None or "unknown" in str(reply.get("error", ""))

    async def start(self) -> int:
        """Let the init execve; its PID, or StartFailed with Docker's text and exit code."""
        reply = await self._call({"op": "start"})
        error = self._failed(reply)
        if error is not None:
            code = reply.get("exit_code")
            exit_code = int(code) if isinstance(code, int) else exit_code_for(error)
            status = 400 if exit_code in (126, 127) else 500
            raise StartFailed(error, exit_code, status)
        return int(reply.get("pid") or 0)

    async def attach(
        self, stdin: bool, stdout: bool, stderr: bool, logs: bool = False
    ) -> MonitorStream:
        reader, writer, reply = await self._open(
            {"op": "attach", "stdin": stdin, "stdout": stdout, "stderr": stderr, "logs": logs}
        )
        error = self._failed(reply)
        if error is not None:
            writer.close()
            raise MonitorError(f"cannot attach to {self.container_id[:12]}: {error}")
        return MonitorStream(reader, writer)

    async def resize(self, height: int, width: int, exec_id: str = "") -> None:
        request: dict[str, Any] = {"op": "resize", "height": height, "width": width}
        if exec_id:
            request["exec"] = exec_id
        reply = await self._call(request)
        error = self._failed(reply)
        if error is not None:
            raise MonitorError(f"cannot resize the terminal of {self.container_id[:12]}: {error}")

    async def kill(self, signal: int, all_processes: bool = False, exec_id: str = "") -> None:
        """Signal the init (and with ``all_processes`` the execs), or only the exec
        ``exec_id``."""
        request: dict[str, Any] = {"op": "kill", "signal": signal, "all": all_processes}
        if exec_id:
            request["exec"] = exec_id
        _reader, writer, reply = await self._open(request, timeout=KILL_TIMEOUT)
        writer.close()
        error = self._failed(reply)
        if error is not None:
            raise ProcessLookupError(error)

    async def wait(self) -> ExitStatus:
        """Block until the container's init exited; MonitorGone if the monitor went away."""
        _reader, writer, reply = await self._open({"op": "wait"}, timeout=None)
        writer.close()
        if self._failed(reply) is not None and "exit_code" not in reply:
            raise MonitorGone(str(reply.get("error")))
        return ExitStatus.from_json(reply)

    async def exec(
        self, exec_id: str, process: Mapping[str, Any], tty: bool, stdin: bool
    ) -> tuple[int, MonitorStream]:
        reader, writer, reply = await self._open(
            {"op": "exec", "id": exec_id, "process": dict(process), "tty": tty, "stdin": stdin}
        )
        error = self._failed(reply)
        if error is not None:
            writer.close()
            code = reply.get("exit_code")
            exit_code = int(code) if isinstance(code, int) else exit_code_for(error, 126)
            raise StartFailed(error, exit_code, 400 if exit_code in (126, 127) else 500)
        return int(reply.get("pid") or 0), MonitorStream(reader, writer)


class Supervisor:
    """Monitors of one daemon, under ``<exec-root>/containers/<id>/``."""

    def __init__(self, exec_root: Path, log: Any, python: str = sys.executable) -> None:
        self.root = exec_root / "containers"
        self.log = log
        self.python = python
        self.main = Path(berth.monitor.__file__).parent / "main.py"
        self._children: set[subprocess.Popen[bytes]] = set()
        self.zygote = MonitorZygote(python, exec_root / "zygote.log", log)

    def state_dir(self, container_id: str) -> Path:
        return self.root / container_id

    def import_paths(self, launcher: str) -> list[str]:
        """Directories the monitor needs on ``sys.path`` for the launcher (it finds berth's
        own by itself)."""
        found = _search_root(launcher)
        if found is None:
            raise MonitorError(f"cannot find the launcher module {launcher!r}: is it installed?")
        return [found]

    async def spawn(
        self,
        container_id: str,
        bundle: Path,
        launcher: str,
        *,
        log_path: str,
        log_max_size: int = -1,
        log_max_file: int = 1,
        tty: bool = False,
        open_stdin: bool = False,
        stdin_once: bool = False,
    ) -> MonitorHandle:
        """Start the container's monitor on the bundle (written into ``bundle``, which is the
        state directory) and wait until its init exists (or failed to)."""
        state_dir = self.state_dir(container_id)
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o711)
        for stale in (EXIT_FILE, MONITOR_SOCKET, MONITOR_PID):
            with contextlib.suppress(FileNotFoundError):
                (state_dir / stale).unlink()
        read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
        options = Options(
            container_id,
            str(state_dir),
            str(bundle),
            launcher,
            paths=self.import_paths(launcher),
            log_path=log_path,
            log_max_size=log_max_size,
            log_max_file=log_max_file,
            tty=tty,
            open_stdin=open_stdin,
            stdin_once=stdin_once,
            ready_fd=write_fd,
        )
        argv = [self.python, "-I", "-S", str(self.main), *options.to_argv()]
        process: subprocess.Popen[bytes] | None = None
        try:
            with open(state_dir / MONITOR_LOG, "ab") as errors:
                forked = self.zygote.spawn(  # berth.monitor.zygote; else a new interpreter
                    options.to_argv(), write_fd, errors.fileno(), options.paths, launcher
                )
                if not forked:
                    process = subprocess.Popen(
                        argv,
                        stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL,
                        stderr=errors,
                        pass_fds=(write_fd,),
                        close_fds=True,
                        cwd=state_dir,
                    )
        except OSError as exc:
            os.close(read_fd)
            raise MonitorError(f"cannot start the monitor of {container_id[:12]}: {exc}") from None
        finally:
            os.close(write_fd)
        if process is not None:
            self._reap_later(process)
        try:
            line = await asyncio.wait_for(self._read_line(read_fd), READY_TIMEOUT)
        except TimeoutError:
            if process is not None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            raise MonitorError(
                f"the monitor of {container_id[:12]} did not get ready within {READY_TIMEOUT:.0f} s"
            ) from None
        ready = self._parse_ready(line)
        if ready is None:
            detail = self._last_error(state_dir) or "it exited without saying why"
            raise MonitorError(f"the monitor of {container_id[:12]} failed: {detail}")
        error = MonitorHandle._failed(ready)
        if error is not None:
            code = ready.get("exit_code")
            exit_code = int(code) if isinstance(code, int) else exit_code_for(error)
            status = 400 if exit_code in (126, 127) else 500
            raise StartFailed(error, exit_code, status)
        pid = int(ready.get("pid") or 0)
        return MonitorHandle(container_id, state_dir, pid)

    async def _read_line(self, fd: int) -> bytes:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=1 << 20)
        pipe = os.fdopen(fd, "rb", buffering=0)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe
        )
        try:
            return await reader.readline()
        finally:
            transport.close()

    @staticmethod
    def _parse_ready(line: bytes) -> dict[str, Any] | None:
        text = line.strip()
        if not text:
            return None
        if text == b"ready":
            return {"ok": True}
        try:
            data = json.loads(text)
        except ValueError:
            return {"ok": False, "error": text.decode(errors="replace")}
        return data if isinstance(data, dict) else {"ok": True}

    @staticmethod
    def _last_error(state_dir: Path) -> str:
        try:
            lines = (state_dir / MONITOR_LOG).read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1] if lines else ""

    def _reap_later(self, process: subprocess.Popen[bytes]) -> None:
        """Collect the monitor's exit status (when it exits while still berthd's child)."""
        loop = asyncio.get_running_loop()
        try:
            pidfd = os.pidfd_open(process.pid)
        except OSError:
            self._children.add(process)  # reaped by reap_children
            return

        def reap() -> None:
            if process.poll() is not None:
                loop.remove_reader(pidfd)
                os.close(pidfd)

        loop.add_reader(pidfd, reap)

    def reap_children(self) -> None:
        for process in list(self._children):
            if process.poll() is not None:
                self._children.discard(process)

    async def reconnect(self, container_id: str) -> MonitorHandle | None:
        """The live monitor of a container (after a daemon restart), or None."""
        state_dir = self.state_dir(container_id)
        if not (state_dir / MONITOR_SOCKET).exists():
            return None
        pid = 0
        with contextlib.suppress(OSError, ValueError):
            pid = int((state_dir / MONITOR_PID).read_text().strip())
        handle = MonitorHandle(container_id, state_dir, pid)
        try:
            _reader, writer, _reply = await handle._open({"op": "state"}, timeout=5.0)
        except (MonitorGone, MonitorError):
            return None
        writer.close()
        return handle

    def read_exit(self, container_id: str) -> ExitStatus | None:
        """The exit a monitor recorded (``exit.json``), if it did."""
        try:
            data = json.loads((self.state_dir(container_id) / EXIT_FILE).read_bytes())
        except (OSError, ValueError):
            return None
        return ExitStatus.from_json(data) if isinstance(data, dict) else None

    def kill_monitor(self, container_id: str, pid: int = 0) -> bool:
        """SIGKILL a container's monitor that does not answer (only a process that is that
        container's monitor: its command line names this state directory)."""
        state_dir = self.state_dir(container_id)
        if not pid:
            with contextlib.suppress(OSError, ValueError):
                pid = int((state_dir / MONITOR_PID).read_text().strip())
        if pid <= 0:
            return False
        if not is_monitor_of(pid, state_dir, self.main, MONITOR_LOG):
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        return True

    def remove_state(self, container_id: str) -> None:
        shutil.rmtree(self.state_dir(container_id), ignore_errors=True)
