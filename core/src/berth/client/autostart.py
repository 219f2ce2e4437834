"""Start berthd on demand: the first command on a fresh machine works (DESIGN.md §2).

Only for the default socket, only as root, and only when nobody listens there. The daemon is
started detached (its own session), with its output appended to a log file, and the client
waits for `/_ping` to answer. A lock file keeps two clients from starting two daemons.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from berth.client.errors import CannotConnect, ClientError
from berth.client.hosts import Host

LOG_PATH = Path("/var/log/berth/berthd.log")
START_TIMEOUT = 10.0
LOG_TAIL_LINES = 10


def daemon_command() -> list[str]:
    """The berthd of this very installation: the script next to our interpreter, or `-m`."""
    script = Path(sys.executable).parent / "berthd"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "berth.daemon.main"]


def spawn_daemon(argv: Sequence[str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start the daemon in its own session, stdio away from the terminal, output to the log."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
        )


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


@dataclass
class Autostarter:
    """Callable as the API client's `autostart` hook; every knob is a field for tests."""

    argv: Sequence[str] = field(default_factory=daemon_command)
    log_path: Path = LOG_PATH
    timeout: float = START_TIMEOUT
    is_root: Callable[[], bool] = lambda: os.geteuid() == 0
    spawn: Callable[[Sequence[str], Path], subprocess.Popen[bytes]] = spawn_daemon
    ping: Callable[[Host], bool] | None = None

    def __call__(self, host: Host) -> None:
        if not self.is_root():
            raise CannotConnect(host.url)
        try:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            lock = open(self.log_path.with_name(self.log_path.name + ".lock"), "wb")  # noqa: SIM115
        except OSError as exc:
            raise CannotConnect(host.url, f"could not start berthd: {exc}") from exc
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another client may be starting it right now
            try:
                if self._answers(host, 0.5):
                    return
                self._start(host)
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _answers(self, host: Host, timeout: float) -> bool:
        if self.ping is not None:
            return self.ping(host)
        from berth.client.api import APIClient

        try:
            APIClient(host).ping(timeout=timeout)
        except ClientError:
            return False
        return True

    def _start(self, host: Host) -> None:
        try:
            process = self.spawn(self.argv, self.log_path)
        except OSError as exc:
            raise CannotConnect(
                host.url, f"could not start berthd ({self.argv[0]}): {exc}"
            ) from exc
        deadline = time.monotonic() + self.timeout
        delay = 0.02
        while time.monotonic() < deadline:
            if self._answers(host, 1.0):
                return
            code = process.poll()
            if code is not None:
                raise CannotConnect(host.url, self._failure(f"berthd exited with status {code}"))
            time.sleep(delay)
            delay = min(delay * 2, 0.25)
        raise CannotConnect(
            host.url, self._failure(f"berthd did not answer within {self.timeout:g} s")
        )

    def _failure(self, what: str) -> str:
        tail = log_tail(self.log_path)
        if not tail:
            return f"{what}; its log {self.log_path} is empty"
        lines = "\n".join(f"  {line}" for line in tail)
        return f"{what}; last lines of {self.log_path}:\n{lines}"
