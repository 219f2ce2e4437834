"""Can btrfs work here? The data directory must be on a btrfs file system, and writable.

The check reads ``/proc/self/mountinfo`` and looks at the data directory or, when it does not
exist yet, its nearest existing ancestor; it creates nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

from berth.plugins import PluginContext, ProbeResult

from berth_storage_btrfs import filesystem


def probe(ctx: PluginContext) -> ProbeResult:
    """Supported where the data directory is (or would be made) on btrfs and writable."""
    problem = unusable_reason(ctx.data_dir)
    if problem:
        return ProbeResult.unsupported(problem)
    try:
        fs_type = filesystem.filesystem_type(ctx.data_dir)
    except OSError as exc:
        return ProbeResult.unsupported(
            f"cannot read {filesystem.MOUNTINFO} ({exc.strerror}); is /proc mounted?"
        )
    if fs_type != "btrfs":
        return ProbeResult.unsupported(not_on_btrfs(ctx.data_root, fs_type))
    return ProbeResult.ok()


def not_on_btrfs(data_root: Path, fs_type: str) -> str:
    return (
        f"the data root {data_root} is not on btrfs (it is on {fs_type}); use overlay or vfs, "
        "or put --data-root on a btrfs file system"
    )


def unusable_reason(path: Path) -> str:
    """Why the driver could not write in ``path`` (which may not exist yet), or ``""``."""
    try:
        existing = filesystem.nearest_existing(path)
        if existing.is_symlink() and not existing.exists():
            return f"{existing} is a broken symbolic link; fix it or choose another --data-root"
        if not existing.is_dir():
            return (
                f"the data directory {path} cannot be used: {existing} is not a directory; "
                "choose another --data-root"
            )
        if not os.access(existing, os.W_OK | os.X_OK):
            return (
                f"the data directory {path} is not writable ({existing} is read-only for "
                "berthd); make it writable or choose another --data-root"
            )
    except OSError as exc:
        return f"cannot check the data directory {path}: {exc.strerror}"
    return ""
