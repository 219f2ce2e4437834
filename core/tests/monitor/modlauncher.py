"""The test launcher, telling which modules the monitor loaded (in ``modules.txt`` of the state
directory, written when the container is deleted)."""

from __future__ import annotations

import os
import sys

import forklauncher
from forklauncher import create, exec, oom_killed, start

__all__ = ["create", "delete", "exec", "oom_killed", "start"]


def delete(state_dir: str) -> None:
    forklauncher.delete(state_dir)
    with open(os.path.join(state_dir, "modules.txt"), "w") as f:
        f.write("\n".join(sorted(sys.modules)))
