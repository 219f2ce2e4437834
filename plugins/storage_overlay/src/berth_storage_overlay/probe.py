"""Can overlayfs work on this host? Checks the kernel, quickly and without changing anything."""

from __future__ import annotations

import os
from pathlib import Path

from berth.plugins import PluginContext, ProbeResult

#: Where the kernel lists the file systems it can mount (a constant so tests can point it away).
PROC_FILESYSTEMS = Path("/proc/filesystems")
#: Root of the kernel modules tree, to tell "not loaded" from "not there".
MODULES_DIR = Path("/lib/modules")

NOT_IMPLEMENTED = "not implemented yet: the overlay driver arrives with the images issue"
NO_OVERLAYFS = "the kernel has no overlayfs; use vfs or btrfs"
NOT_LOADED = "the overlay kernel module is not loaded; run 'modprobe overlay', or use vfs or btrfs"


def probe(ctx: PluginContext) -> ProbeResult:
    """Overlayfs registered with the kernel, then (for now) "not implemented yet"."""
    try:
        filesystems = PROC_FILESYSTEMS.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return ProbeResult.unsupported(
            f"cannot read {PROC_FILESYSTEMS} ({exc.strerror}); is /proc mounted?"
        )
    if not _lists_overlay(filesystems):
        return ProbeResult.unsupported(NOT_LOADED if _module_installed() else NO_OVERLAYFS)
    return ProbeResult.unsupported(NOT_IMPLEMENTED)


def _lists_overlay(filesystems: str) -> bool:
    """Whether a ``/proc/filesystems`` text (``nodev<TAB>overlay`` lines) names overlay."""
    return any(line.split()[-1:] == ["overlay"] for line in filesystems.splitlines())


def _module_installed() -> bool:
    """Whether the running kernel has overlay as a loadable module (listed in modules.dep)."""
    modules_dep = MODULES_DIR / os.uname().release / "modules.dep"
    try:
        with modules_dep.open(encoding="utf-8", errors="replace") as lines:
            return any("/overlay.ko" in line.split(":", 1)[0] for line in lines)
    except OSError:
        return False
