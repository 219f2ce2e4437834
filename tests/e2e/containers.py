"""Helpers of the container end-to-end tests: a berthd with the busybox image, removal of every
container it has (a container outlives its daemon: each test module removes its own), and a
real pseudo-terminal to drive `run -it` / `exec -it` as a person at a keyboard would.

The pseudo-terminal is the standard library's (`os.openpty`): the command gets the terminal
side as stdin, stdout, stderr and controlling terminal (so a window resize sends it SIGWINCH);
a reader thread collects everything it prints (and answers the shell's cursor-position
queries, as a terminal emulator does); `expect` waits for a pattern in it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import signal
import struct
import subprocess
import termios
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from tests.e2e.archives import busybox_rootfs
from tests.e2e.conftest import berth, berth_ok, start_daemon, stop_daemon
from tests.integration.daemon import Daemon

IMAGE = "busybox:latest"
#: busybox's shell asks the terminal where the cursor is (and waits for the answer).
CURSOR_POSITION_QUERY = b"\x1b[6n"


def remove_all_containers(daemon: Daemon) -> None:
    """`rm -f` every container of `daemon` (their monitors, mounts and cgroups go with them)."""
    done = berth(daemon, "ps", "-aq", "--no-trunc", timeout=60)
    ids = done.stdout.decode().split()
    if ids:
        berth(daemon, "rm", "-f", *ids, timeout=120)


@contextlib.contextmanager
def container_daemon(tmp: Path) -> Iterator[Daemon]:
    """A started berthd with busybox:latest (made from the host's busybox); every container
    removed and the daemon stopped at the end."""
    daemon = start_daemon()
    try:
        rootfs = busybox_rootfs(tmp / "busybox-rootfs.tar")
        berth_ok(daemon, "import", "-c", 'CMD ["sh"]', str(rootfs), IMAGE)
        yield daemon
    finally:
        try:
            remove_all_containers(daemon)
        finally:
            stop_daemon(daemon)


def docker_env(daemon: Daemon) -> dict[str, str]:
    return {
        **os.environ,
        "DOCKER_HOST": daemon.host,
        "DOCKER_CONFIG": str(daemon.root / "docker-config"),
        "DOCKER_CLI_HINTS": "false",
    }


def docker(
    daemon: Daemon, *args: str, timeout: float = 60, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    """The real docker CLI against `daemon` (text output)."""
    done = subprocess.run(
        ["docker", *args],
        env=docker_env(daemon),
        capture_output=True,
        timeout=timeout,
        input=stdin if stdin is not None else b"",
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def have_docker_cli() -> bool:
    return shutil.which("docker") is not None


# --- a real terminal -----------------------------------------------------------------------------


def set_window_size(fd: int, rows: int, columns: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


class PtySession:
    """A command in a new pseudo-terminal (its controlling terminal), read by a thread."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        rows: int = 24,
        columns: int = 80,
    ) -> None:
        self.master, slave = os.openpty()
        set_window_size(self.master, rows, columns)

        def controlling_terminal() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        try:
            self.proc = subprocess.Popen(
                list(argv),
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=dict(env),
                preexec_fn=controlling_terminal,  # the test's own child: setsid + TIOCSCTTY
            )
        finally:
            os.close(slave)
        self._output = bytearray()
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: every process holding the terminal side is gone
                data = b""
            with self._changed:
                if data:
                    self._output += data
                self._changed.notify_all()
            if not data:
                return
            for _ in range(data.count(CURSOR_POSITION_QUERY)):  # as a terminal emulator does
                with contextlib.suppress(OSError):
                    os.write(self.master, b"\x1b[1;1R")

    @property
    def output(self) -> str:
        with self._changed:
            return self._output.decode("utf-8", "replace")

    def expect(self, pattern: str, timeout: float = 20) -> re.Match[str]:
        """Wait until the output (from where it stands) matches `pattern` (a regex)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                match = regex.search(self._output.decode("utf-8", "replace"))
                if match is not None:
                    return match
                left = deadline - time.monotonic()
                if left <= 0 or (not self._reader.is_alive() and self.proc.poll() is not None):
                    raise AssertionError(
                        f"{pattern!r} did not appear within {timeout} s; the terminal shows:\n"
                        f"{self._output.decode('utf-8', 'replace')!r}"
                    )
                self._changed.wait(min(left, 0.2))

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def resize(self, rows: int, columns: int) -> None:
        """What a terminal emulator does on a window resize (the kernel sends SIGWINCH)."""
        set_window_size(self.master, rows, columns)

    def wait(self, timeout: float = 30) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self._reader.join(5)  # the terminal's last holder is gone: its reads end
        with contextlib.suppress(OSError):
            os.close(self.master)


@contextlib.contextmanager
def pty_session(argv: Sequence[str], env: Mapping[str, str], **kwargs: int) -> Iterator[PtySession]:
    session = PtySession(argv, env, **kwargs)
    try:
        yield session
    finally:
        session.close()
