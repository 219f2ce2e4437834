"""Can overlayfs work here? The kernel first, then a real test mount on the data directory's
file system (the way Docker's overlay2 checks), removed at once."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import time
from pathlib import Path

from berth.plugins import PluginContext, ProbeResult
from berth.plugins.hostfs import backing_filesystem as backing_fs

from berth_storage_overlay import mountinfo
from berth_storage_overlay.mounter import choose_mounter
from berth_storage_overlay.syscalls import MountError, reports_d_type, unmount

#: Where the kernel lists the file systems it can mount (a constant so tests can point it away).
PROC_FILESYSTEMS = Path("/proc/filesystems")
#: Root of the kernel modules tree, to tell "not loaded" from "not there".
MODULES_DIR = Path("/lib/modules")
#: Prefix of the test mount's scratch directory (in the data directory or its nearest ancestor).
SCRATCH_PREFIX = ".berth-overlay-probe-"
#: Scratch directories older than this are leftovers of a probe that was killed.
STALE_SCRATCH_SECONDS = 60.0

NO_OVERLAYFS = "the kernel has no overlayfs; use vfs or btrfs"
NOT_LOADED = "the overlay kernel module is not loaded; run 'modprobe overlay', or use vfs or btrfs"
NEEDS_ROOT = "mounting overlayfs needs CAP_SYS_ADMIN; run berthd as root, or use vfs"


def probe(ctx: PluginContext) -> ProbeResult:
    """Overlayfs registered with the kernel, then a test mount where the layers would live."""
    try:
        filesystems = PROC_FILESYSTEMS.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return ProbeResult.unsupported(
            f"cannot read {PROC_FILESYSTEMS} ({exc.strerror}); is /proc mounted?"
        )
    if not _lists_overlay(filesystems):
        return ProbeResult.unsupported(NOT_LOADED if _module_installed() else NO_OVERLAYFS)
    return check_data_dir(ctx.data_dir)


def check_data_dir(data_dir: Path) -> ProbeResult:
    """Mount a two-layer overlay in a scratch directory on the data directory's file system.

    The scratch directory goes in ``data_dir`` or, while that does not exist yet, its nearest
    existing ancestor; it is unmounted and removed before this returns.
    """
    existing, problem = _nearest_existing_dir(data_dir)
    if problem:
        return ProbeResult.unsupported(problem)
    _sweep_stale_scratch(existing)
    try:
        fs = backing_fs(existing)
        scratch = Path(tempfile.mkdtemp(prefix=SCRATCH_PREFIX, dir=existing))
    except OSError as exc:
        return ProbeResult.unsupported(
            f"cannot use the data directory {data_dir} ({existing}: {exc.strerror}); make it "
            "writable or choose another --data-root"
        )
    try:
        return _test_mount(scratch, fs)
    finally:
        with contextlib.suppress(OSError):
            unmount(scratch / "merged")
        shutil.rmtree(scratch, ignore_errors=True)


def _test_mount(scratch: Path, fs: str) -> ProbeResult:
    for name in ("lower1", "lower2", "upper", "work", "merged"):
        (scratch / name).mkdir()
    (scratch / "lower1" / "top").write_bytes(b"")
    (scratch / "lower2" / "bottom").write_bytes(b"")
    instead = "use vfs, or put the data root on ext4, xfs or btrfs"
    if not reports_d_type(scratch):
        return ProbeResult.unsupported(
            f"overlay is not supported on {fs} without d_type (xfs needs ftype=1); {instead}"
        )
    try:
        mounter = choose_mounter("auto")
        mounter.mount(scratch, ["lower1", "lower2"], "upper", "work", "merged")
    except MountError as exc:
        if exc.errno == errno.EPERM:
            return ProbeResult.unsupported(NEEDS_ROOT)
        why = exc.detail.replace(f"{scratch}/", "").removeprefix("overlay: ")
        return ProbeResult.unsupported(f"overlay is not supported on {fs} ({why}); {instead}")
    try:
        seen = sorted(os.listdir(scratch / "merged"))
    finally:
        unmount(scratch / "merged")
    if seen != ["bottom", "top"]:
        return ProbeResult.unsupported(
            f"overlay is not supported on {fs} (a test mount showed {seen}); {instead}"
        )
    return ProbeResult.ok()


def _sweep_stale_scratch(directory: Path) -> None:
    """Remove scratch directories a probe killed mid-way left (older than a minute: a probe
    running now in another process keeps its own)."""
    try:
        stale = [
            entry
            for entry in directory.iterdir()
            if entry.name.startswith(SCRATCH_PREFIX)
            and time.time() - entry.lstat().st_mtime > STALE_SCRATCH_SECONDS
        ]
        for entry in stale:
            for mounted in reversed(mountinfo.mounted_under(entry.resolve())):
                with contextlib.suppress(OSError):
                    unmount(mounted.mount_point)
            shutil.rmtree(entry, ignore_errors=True)
    except OSError:
        pass  # the test mount will say what is wrong


def _nearest_existing_dir(path: Path) -> tuple[Path, str]:
    """``path`` or its nearest existing ancestor, and why it cannot be used (or ``""``)."""
    existing = path
    try:
        while not os.path.lexists(existing) and existing != existing.parent:
            existing = existing.parent
        if existing.is_symlink() and not existing.exists():
            return existing, (
                f"{existing} is a broken symbolic link; fix it or choose another --data-root"
            )
        if not existing.is_dir():
            return existing, (
                f"the data directory {path} cannot be used: {existing} is not a directory; "
                "choose another --data-root"
            )
    except OSError as exc:
        return existing, f"cannot check the data directory {path}: {exc.strerror}"
    return existing, ""


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
