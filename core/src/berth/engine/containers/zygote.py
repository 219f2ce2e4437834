"""berthd's side of the monitor zygote (:mod:`berth.monitor.zygote`): start it when the first
monitor is needed, hand it each monitor's command line and file descriptors, and fall back to
starting monitors as new interpreters when it cannot (set ``BERTH_MONITOR_ZYGOTE=0`` to always
do that).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from pathlib import Path

import berth.monitor

#: Environment variable that turns the zygote off ("0", "no", "false", "off").
SWITCH = "BERTH_MONITOR_ZYGOTE"
ZYGOTE_MAIN = Path(berth.monitor.__file__).parent / "zygote.py"
STOP_TIMEOUT = 5.0


def enabled() -> bool:
    return os.environ.get(SWITCH, "1").strip().lower() not in ("0", "no", "false", "off")


class MonitorZygote:
    """One zygote process per daemon, started on first use, restarted when it is gone."""

    def __init__(self, python: str, errors_path: Path, log: object = None) -> None:
        self.python = python
        self.errors_path = errors_path
        self.log = log
        self._process: subprocess.Popen[bytes] | None = None
        self._channel: socket.socket | None = None

    def _start(self, paths: list[str], launcher: str) -> socket.socket | None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = [self.python, "-I", "-S", str(ZYGOTE_MAIN), "--channel-fd", str(theirs.fileno())]
        for path in paths:
            argv += ["--path", path]
        argv += ["--preload", launcher]
        try:
            self.errors_path.parent.mkdir(parents=True, exist_ok=True, mode=0o711)
            with open(self.errors_path, "ab") as errors:
                self._process = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=errors,
                    pass_fds=(theirs.fileno(),),
                    close_fds=True,
                    start_new_session=True,
                    cwd="/",
                )
        except OSError:
            ours.close()
            return None
        finally:
            theirs.close()
        ours.setblocking(False)
        self._channel = ours
        return ours

    def spawn(
        self, argv: list[str], ready_fd: int, stderr_fd: int, paths: list[str], launcher: str
    ) -> bool:
        """Ask the zygote for a monitor; False when it cannot take the request (the caller
        starts the monitor itself)."""
        if not enabled():
            return False
        for _attempt in range(2):  # a zygote that died is replaced once
            channel = self._channel
            if channel is None or (self._process is not None and self._process.poll() is not None):
                self._discard()
                channel = self._start(paths, launcher)
                if channel is None:
                    return False
            payload = b"\0".join(os.fsencode(arg) for arg in argv)
            try:
                socket.send_fds(channel, [payload], [ready_fd, stderr_fd])
            except (BrokenPipeError, ConnectionError):
                self._discard()
                continue
            except OSError:  # full (BlockingIOError) or too large: start this one directly
                return False
            return True
        return False

    def _discard(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        process, self._process = self._process, None
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(STOP_TIMEOUT)

    def reap(self) -> None:
        """Collect a zygote that exited on its own."""
        if self._process is not None:
            self._process.poll()

    def close(self) -> None:
        """Stop the zygote (monitors it started go on): it exits when its channel ends."""
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        process, self._process = self._process, None
        if process is None:
            return
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def is_monitor_of(pid: int, state_dir: Path, main: Path, log_name: str) -> bool:
    """Whether process ``pid`` is the monitor of ``state_dir``: started as ``main.py`` with that
    directory on its command line, or forked by the zygote with its stderr on that directory's
    monitor log."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if os.fsencode(str(main)) in argv:
        return os.fsencode(str(state_dir)) in argv
    if os.fsencode(str(ZYGOTE_MAIN)) not in argv:
        return False
    try:
        return os.readlink(f"/proc/{pid}/fd/2") == str(state_dir / log_name)
    except OSError:
        return False
