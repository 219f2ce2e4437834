"""How a layer's overlay is mounted, without ever changing the daemon's working directory.

- :class:`FsconfigMounter` (Linux 6.8+): the new mount API, one ``lowerdir+`` parameter per
  lower layer, each the absolute path of its ``l/<short id>`` link. No length limit but the
  kernel's 500 layers, and nothing runs outside the daemon.
- :class:`LegacyMounter` (older kernels): ``mount(2)`` with one option string, which the kernel
  caps at one page. When the absolute paths fit, the daemon mounts directly. When they do not (a
  deep image), lower layers are given as relative ``l/<short id>`` paths (29 bytes each, so about
  130 of them fit) and a short-lived helper process, whose working directory is the data
  directory, mounts: the daemon's threads share one cwd, so only the helper's may change.

All mount with ``index=off,redirect_dir=off,metacopy=off``: every upper directory then holds
whole files, plain whiteouts (0/0 character devices) and opaque markers, which is what the
driver's native diff reads.
"""

from __future__ import annotations

import errno
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from berth_storage_overlay.syscalls import (
    FSCONFIG_MAX_STRING,
    MOUNT_DATA_MAX,
    MountError,
    kernel_has_lowerdir_plus,
    mount,
    mount_overlay_fsconfig,
)

#: Options of every overlay mount.
MOUNT_OPTIONS: dict[str, str] = {"index": "off", "redirect_dir": "off", "metacopy": "off"}
#: Lower layers one overlay can stack (the kernel's OVL_MAX_STACK).
MAX_LOWERS = 500
HELPER = Path(__file__).with_name("mounthelper.py")
HELPER_TIMEOUT = 60.0
#: Characters the one-string option syntax of mount(2) would read as separators.
_SEPARATORS = frozenset(",:\\")


class LegacyMounter:
    """``mount(2)``: directly with absolute paths when they fit, else through the helper."""

    api = "mount(2)"

    def mount(self, base: Path, lowers: Sequence[str], upper: str, work: str, target: str) -> None:
        """Mount an overlay on ``base/target``; every path is relative to ``base``, lowers top
        first."""
        absolute = overlay_options(
            [str(base / lower) for lower in lowers], base / upper, base / work
        )
        if len(absolute.encode()) < MOUNT_DATA_MAX and not _SEPARATORS & set(str(base)):
            mount("overlay", base / target, "overlay", absolute)
        else:
            self.mount_with_helper(base, lowers, upper, work, target)

    def mount_with_helper(
        self, base: Path, lowers: Sequence[str], upper: str, work: str, target: str
    ) -> None:
        """The same with relative paths, by a helper process whose cwd is ``base``."""
        options = overlay_options(lowers, upper, work)
        if len(options.encode()) >= MOUNT_DATA_MAX:
            raise MountError(
                errno.E2BIG,
                f"its {len(lowers)} lower layers do not fit in one mount(2) call; this "
                "kernel's overlayfs has no lowerdir+ (Linux 6.8), which mounts up to 500",
            )
        try:
            done = subprocess.run(
                [sys.executable, "-I", "-S", str(HELPER), target, options],
                cwd=base,
                capture_output=True,
                text=True,
                timeout=HELPER_TIMEOUT,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise MountError(errno.EIO, f"the mount helper failed: {exc}") from None
        if done.returncode != 0:
            raise helper_error(done.stderr)


class FsconfigMounter:
    """The new mount API, ``lowerdir+`` per layer (absolute paths: no cwd involved)."""

    api = "fsconfig lowerdir+"

    def __init__(self, fallback: LegacyMounter | None = None) -> None:
        self.fallback = fallback or LegacyMounter()

    def mount(self, base: Path, lowers: Sequence[str], upper: str, work: str, target: str) -> None:
        paths = [base / lower for lower in lowers]
        upper_path, work_path = base / upper, base / work
        longest = max(len(bytes(p)) for p in [*paths, upper_path, work_path])
        if longest >= FSCONFIG_MAX_STRING:
            # fsconfig takes paths of at most 255 bytes; a data root that deep mounts the old way.
            self.fallback.mount_with_helper(base, lowers, upper, work, target)
            return
        mount_overlay_fsconfig(paths, upper_path, work_path, base / target, **MOUNT_OPTIONS)


Mounter = LegacyMounter | FsconfigMounter


def overlay_options(lowers: Sequence[str | Path], upper: str | Path, work: str | Path) -> str:
    """``lowerdir=A:B,upperdir=U,workdir=W,index=off,...``: mount(2)'s option string."""
    return ",".join(
        [
            f"lowerdir={':'.join(str(lower) for lower in lowers)}",
            f"upperdir={upper}",
            f"workdir={work}",
            *(f"{key}={value}" for key, value in MOUNT_OPTIONS.items()),
        ]
    )


def helper_error(stderr: str) -> MountError:
    """The helper's ``<errno> <message>`` line as a MountError."""
    last = (stderr.strip().splitlines() or ["the mount helper said nothing"])[-1]
    number, _, message = last.partition(" ")
    if number.isdigit():
        return MountError(int(number), f"mount overlay: {message}", message)
    return MountError(errno.EIO, f"the mount helper failed: {last}")


MOUNT_APIS = ("auto", "fsconfig", "legacy")


def choose_mounter(api: str) -> Mounter:
    """The mounter for ``overlay.mount_api`` (``auto``, ``fsconfig`` or ``legacy``)."""
    if api == "legacy":
        return LegacyMounter()
    if kernel_has_lowerdir_plus():
        return FsconfigMounter()
    if api == "fsconfig":
        raise ValueError(
            "overlay.mount_api=fsconfig needs overlayfs's lowerdir+ (Linux 6.8), which this "
            "kernel lacks; use overlay.mount_api=auto"
        )
    return LegacyMounter()
