"""One daemon per data root: an exclusive lock held for the daemon's life, and a pid file."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from berth.engine.errors import BerthError
from berth.engine.statefile import read_text_or, write_atomic


class AlreadyRunning(BerthError):
    pass


class DataRootLock:
    def __init__(self, data_root: Path, pidfile: Path) -> None:
        self.path = data_root / "berthd.lock"
        self.pidfile = pidfile
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise AlreadyRunning(
                f"another berthd (pid {holder}) is using data root {self.path.parent}; "
                "stop it first, or give this one its own --data-root"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        write_atomic(self.pidfile, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        if read_text_or(self.pidfile, "").strip() == str(os.getpid()):
            with contextlib.suppress(FileNotFoundError):
                self.pidfile.unlink()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
