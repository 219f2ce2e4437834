"""Atomic state files: write to a temporary file, fsync, rename — a crash leaves old or new."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path | str, data: bytes, mode: int = 0o644, sync_dir: bool = True) -> None:
    """``sync_dir=False`` when the file replaces one whose name is already durable and either
    version is fine after a crash (the directory's fsync only makes the new one certain)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if not sync_dir:
        return
    dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_text_or(path: Path | str, default: str) -> str:
    try:
        return Path(path).read_text()
    except (FileNotFoundError, NotADirectoryError):
        return default
