"""A file system of a given type for tests: a sparse image file, formatted, loop-mounted.

For drivers that need their data root on a particular file system (btrfs)::

    reason = loop_filesystem_unavailable("btrfs")
    if reason:
        pytest.skip(reason)
    with loop_filesystem("btrfs", tmp_path) as mount_point:
        ...

It needs root (``losetup`` and ``mount``), ``mkfs.<type>`` and a kernel that knows the type.
On leaving, the file system is unmounted, its loop device detached and the image deleted, even
when the body failed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

#: ``mkfs.<type>`` arguments that make it quiet and let it format a file without asking.
MKFS_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "btrfs": ("-q", "-f"),
    "ext4": ("-q", "-F"),
    "ext3": ("-q", "-F"),
    "ext2": ("-q", "-F"),
    "xfs": ("-q", "-f"),
}
#: The smallest image each type accepts, in MiB (mkfs.btrfs refuses less than 114 MiB).
MINIMUM_SIZE_MB: dict[str, int] = {"btrfs": 128, "xfs": 300}
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")


class LoopFilesystemError(RuntimeError):
    """Setting up or tearing down the loop file system failed; ``str`` says which step and why."""


def _tool(name: str) -> str | None:
    path = os.pathsep.join([os.environ.get("PATH", ""), *_SBIN])
    return shutil.which(name, path=path)


def _kernel_knows(fs_type: str) -> bool:
    try:
        listed = Path("/proc/filesystems").read_text(encoding="utf-8")
    except OSError:
        return False
    if any(line.split()[-1:] == [fs_type] for line in listed.splitlines()):
        return True
    # Not loaded yet: mount(8) loads a module that exists for the running kernel.
    modules = Path("/lib/modules") / os.uname().release / "modules.dep"
    try:
        with modules.open(encoding="utf-8", errors="replace") as lines:
            return any(f"/{fs_type}.ko" in line.split(":", 1)[0] for line in lines)
    except OSError:
        return False


def loop_filesystem_unavailable(fs_type: str) -> str:
    """Why a loop-mounted ``fs_type`` cannot be made here (a skip reason), or ``""``."""
    if os.geteuid() != 0:
        return f"making a loop-mounted {fs_type} file system needs root"
    for tool in (f"mkfs.{fs_type}", "losetup", "mount", "umount"):
        if _tool(tool) is None:
            return f"{tool} is not installed (needed to make a loop-mounted {fs_type})"
    if not _kernel_knows(fs_type):
        return f"the running kernel has no {fs_type} support"
    if not Path("/dev/loop-control").exists():
        return "this host has no loop devices (/dev/loop-control is missing)"
    return ""


def _run(*command: str) -> str:
    program = _tool(command[0]) or command[0]
    try:
        done = subprocess.run(
            [program, *command[1:]], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LoopFilesystemError(f"{' '.join(command)} failed: {exc}") from None
    if done.returncode != 0:
        detail = " ".join(done.stderr.split()) or f"exit status {done.returncode}"
        raise LoopFilesystemError(f"{' '.join(command)} failed: {detail}")
    return done.stdout.strip()


@contextlib.contextmanager
def loop_filesystem(
    fs_type: str, workdir: Path, size_mb: int = 512, mkfs_args: tuple[str, ...] | None = None
) -> Iterator[Path]:
    """Make ``fs_type`` in ``workdir/<type>.img`` (sparse, ``size_mb`` MiB), mount it on
    ``workdir/<type>`` and yield that mount point; undo all of it on the way out."""
    size_mb = max(size_mb, MINIMUM_SIZE_MB.get(fs_type, 16))
    image = workdir / f"{fs_type}.img"
    mount_point = workdir / fs_type
    mount_point.mkdir(parents=True)
    with open(image, "xb") as handle:
        handle.truncate(size_mb * 1024 * 1024)
    device = ""
    mounted = False
    try:
        args = MKFS_ARGUMENTS.get(fs_type, ()) if mkfs_args is None else mkfs_args
        _run(f"mkfs.{fs_type}", *args, str(image))
        device = _run("losetup", "--find", "--show", str(image))
        _run("mount", "-t", fs_type, device, str(mount_point))
        mounted = True
        yield mount_point
    finally:
        problems: list[str] = []
        if mounted:
            problems += _unmount(mount_point)
        if device:
            problems += _detach(device, image)
        with contextlib.suppress(OSError):
            image.unlink()
        with contextlib.suppress(OSError):
            mount_point.rmdir()
        if problems:
            raise LoopFilesystemError("; ".join(problems))


def _unmount(mount_point: Path) -> list[str]:
    for attempt in range(10):
        try:
            _run("umount", str(mount_point))
            return []
        except LoopFilesystemError as exc:
            if attempt == 9:
                # Busy for good (a process still inside): detach it lazily so nothing stays.
                with contextlib.suppress(LoopFilesystemError):
                    _run("umount", "--lazy", str(mount_point))
                return [str(exc)]
            time.sleep(0.1)
    return []


def _detach(device: str, image: Path) -> list[str]:
    try:
        attached = _run("losetup", "--noheadings", "--output", "NAME", "--associated", str(image))
    except LoopFilesystemError as exc:
        return [str(exc)]
    if device not in attached.split():
        return []  # the kernel freed it on unmount (autoclear)
    try:
        _run("losetup", "--detach", device)
    except LoopFilesystemError as exc:
        return [str(exc)]
    return []
