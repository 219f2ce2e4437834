"""The system calls the driver needs that Python's ``os`` module lacks, through ctypes.

- the new mount API (``fsopen``/``fsconfig``/``fsmount``/``move_mount``, Linux 5.2; overlay's
  ``lowerdir+`` parameter, Linux 6.8): an overlay mount built one layer at a time, each layer an
  absolute path, so neither the one-page limit of ``mount(2)`` options nor the process's working
  directory matters;
- ``mount(2)`` and ``umount2(2)``;
- ``statfs(2)``'s ``f_type`` (which file system a path is on) and ``readdir``'s ``d_type`` (whether
  that file system reports file types in directory entries, which overlayfs needs).

Failures raise :class:`MountError`, an ``OSError`` whose text is one line and, for the new mount
API, carries the kernel's own message (overlayfs explains itself through the fs context).
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

# System call numbers of the new mount API: the same on every architecture Linux added them to
# after 5.0 (x86_64, arm64, riscv, arm, i386, ...); only alpha differs.
SYS_MOVE_MOUNT = 429
SYS_FSOPEN = 430
SYS_FSCONFIG = 431
SYS_FSMOUNT = 432

FSOPEN_CLOEXEC = 0x1
FSMOUNT_CLOEXEC = 0x1
FSCONFIG_SET_STRING = 1
FSCONFIG_CMD_CREATE = 6
MOVE_MOUNT_F_EMPTY_PATH = 0x4
AT_FDCWD = -100
MNT_DETACH = 0x2
#: ``fsconfig`` copies at most this many bytes of a string value, the final NUL included.
FSCONFIG_MAX_STRING = 256
#: ``mount(2)`` copies at most one page of options.
MOUNT_DATA_MAX = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

DT_UNKNOWN = 0

_libc = ctypes.CDLL(None, use_errno=True)


class MountError(OSError):
    """A mount system call failed; ``str()`` is one line, with the kernel's words if it gave any."""

    def __init__(self, err: int, message: str, detail: str = "") -> None:
        super().__init__(err, message)
        self.message = message
        #: Why, without saying which call: the kernel's words, else the errno's text.
        self.detail = detail or os.strerror(err)

    def __str__(self) -> str:
        return self.message


def _fail(call: str, err: int, detail: str = "") -> MountError:
    why = detail or os.strerror(err)
    return MountError(err, f"{call}: {why}", why)


def _syscall(number: int, *args: object) -> int:
    result: int = _libc.syscall(ctypes.c_long(number), *args)
    if result < 0:
        raise OSError(ctypes.get_errno(), "")
    return result


def _kernel_messages(fs_fd: int) -> str:
    """What the kernel logged in an fs context (``e overlay: ...`` lines), as one line."""
    lines: list[str] = []
    for _ in range(16):
        try:
            chunk = os.read(fs_fd, 4096)
        except OSError:
            break
        text = chunk.decode(errors="replace").strip()
        if not text:
            break
        lines.append(text[2:] if text[:2] in ("e ", "w ", "i ") else text)
    return "; ".join(lines)


class OverlayContext:
    """An overlay file-system context of the new mount API, set up parameter by parameter."""

    def __init__(self) -> None:
        try:
            self.fd = _syscall(
                SYS_FSOPEN, ctypes.c_char_p(b"overlay"), ctypes.c_uint(FSOPEN_CLOEXEC)
            )
        except OSError as exc:
            raise _fail("fsopen overlay", exc.errno or errno.EIO) from None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def set(self, key: str, value: str | Path) -> None:
        raw = os.fsencode(value)
        if len(raw) >= FSCONFIG_MAX_STRING:
            raise MountError(
                errno.ENAMETOOLONG, f"fsconfig {key}: {value} is longer than the kernel takes"
            )
        try:
            _syscall(
                SYS_FSCONFIG,
                ctypes.c_int(self.fd),
                ctypes.c_uint(FSCONFIG_SET_STRING),
                ctypes.c_char_p(key.encode()),
                ctypes.c_char_p(raw),
                ctypes.c_int(0),
            )
        except OSError as exc:
            err = exc.errno or errno.EIO
            raise _fail(f"fsconfig {key}={value}", err, _kernel_messages(self.fd)) from None

    def mount_at(self, target: Path) -> None:
        """Create the super block and attach it at ``target`` (an absolute path)."""
        try:
            _syscall(
                SYS_FSCONFIG,
                ctypes.c_int(self.fd),
                ctypes.c_uint(FSCONFIG_CMD_CREATE),
                None,
                None,
                ctypes.c_int(0),
            )
        except OSError as exc:
            err = exc.errno or errno.EIO
            raise _fail("mount overlay", err, _kernel_messages(self.fd)) from None
        try:
            mnt_fd = _syscall(
                SYS_FSMOUNT, ctypes.c_int(self.fd), ctypes.c_uint(FSMOUNT_CLOEXEC), ctypes.c_uint(0)
            )
        except OSError as exc:
            raise _fail("fsmount overlay", exc.errno or errno.EIO) from None
        try:
            _syscall(
                SYS_MOVE_MOUNT,
                ctypes.c_int(mnt_fd),
                ctypes.c_char_p(b""),
                ctypes.c_int(AT_FDCWD),
                ctypes.c_char_p(os.fsencode(target)),
                ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH),
            )
        except OSError as exc:
            raise _fail(f"move_mount to {target}", exc.errno or errno.EIO) from None
        finally:
            os.close(mnt_fd)


@contextmanager
def overlay_context() -> Iterator[OverlayContext]:
    context = OverlayContext()
    try:
        yield context
    finally:
        context.close()


def mount_overlay_fsconfig(
    lowers: Sequence[Path], upper: Path | None, work: Path | None, target: Path, **options: str
) -> None:
    """Mount an overlay with the new mount API: one ``lowerdir+`` per lower layer (top first)."""
    with overlay_context() as context:
        context.set("source", "overlay")
        for lower in lowers:
            context.set("lowerdir+", lower)
        if upper is not None and work is not None:
            context.set("upperdir", upper)
            context.set("workdir", work)
        for key, value in options.items():
            context.set(key, value)
        context.mount_at(target)


def kernel_has_lowerdir_plus() -> bool:
    """Whether the new mount API and overlay's ``lowerdir+`` parameter (Linux 6.8) work here.

    Sets ``lowerdir+=/`` in a throw-away context; nothing is mounted.
    """
    try:
        with overlay_context() as context:
            context.set("lowerdir+", "/")
    except OSError:
        return False
    return True


def mount(source: str, target: Path, fstype: str, options: str, flags: int = 0) -> None:
    """``mount(2)``; ``target`` and any paths in ``options`` resolve against the cwd."""
    data = options.encode()
    if len(data) >= MOUNT_DATA_MAX:
        raise MountError(errno.E2BIG, f"mount {target}: options longer than one page")
    result = _libc.mount(
        source.encode(), os.fsencode(target), fstype.encode(), ctypes.c_ulong(flags), data
    )
    if result != 0:
        raise _fail(f"mount {fstype} on {target}", ctypes.get_errno())


def unmount(target: Path, flags: int = MNT_DETACH) -> None:
    """``umount2(2)``; detaching by default, so busy files keep working until closed."""
    if _libc.umount2(os.fsencode(target), ctypes.c_int(flags)) != 0:
        raise _fail(f"unmount {target}", ctypes.get_errno())


class _Dirent64(ctypes.Structure):
    _fields_ = [
        ("d_ino", ctypes.c_uint64),
        ("d_off", ctypes.c_int64),
        ("d_reclen", ctypes.c_ushort),
        ("d_type", ctypes.c_ubyte),
        ("d_name", ctypes.c_char * 256),
    ]


_libc.opendir.restype = ctypes.c_void_p
_libc.opendir.argtypes = [ctypes.c_char_p]
_libc.readdir64.restype = ctypes.POINTER(_Dirent64)
_libc.readdir64.argtypes = [ctypes.c_void_p]
_libc.closedir.argtypes = [ctypes.c_void_p]


def reports_d_type(directory: Path) -> bool:
    """Whether readdir in ``directory`` (which must hold an entry besides . and ..) gives types."""
    handle = _libc.opendir(os.fsencode(directory))
    if not handle:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(directory))
    try:
        while True:
            entry = _libc.readdir64(handle)
            if not entry:
                return True  # nothing but . and ..: nothing says otherwise
            name = entry.contents.d_name
            if name in (b".", b".."):
                continue
            return bool(entry.contents.d_type != DT_UNKNOWN)
    finally:
        _libc.closedir(handle)
