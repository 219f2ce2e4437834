"""Can vfs work here? It needs nothing from the kernel, only a writable data directory."""

from __future__ import annotations

import os
from pathlib import Path

from berth.plugins import PluginContext, ProbeResult


def probe(ctx: PluginContext) -> ProbeResult:
    """Supported wherever the data directory is writable (or can be created)."""
    problem = unwritable_reason(ctx.data_dir)
    if problem:
        return ProbeResult.unsupported(problem)
    return ProbeResult.ok()


def unwritable_reason(path: Path) -> str:
    """Why the driver could not write in ``path`` (which may not exist yet), or ``""``.

    The check looks at ``path`` or, when it does not exist yet, its nearest existing ancestor
    (where it would be created); it creates nothing.
    """
    existing = path
    try:
        while not os.path.lexists(existing) and existing != existing.parent:
            existing = existing.parent
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
