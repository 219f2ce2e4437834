"""A launcher whose create kills the monitor outright (a crash before it is ready)."""

from __future__ import annotations

import os


def create(bundle: str, state_dir: str, stdio: tuple[int, int, int], console: int | None) -> int:
    os.write(2, b"crashlauncher: giving up\n")
    os._exit(3)
