"""The system calls the local driver needs: mount(2) with mount(8)-style options, umount2(2),
and loop devices for volumes whose device is an image file."""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import stat
import struct
from dataclasses import dataclass

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_SYNCHRONOUS, MS_REMOUNT, MS_MANDLOCK, MS_DIRSYNC = 16, 32, 64, 128
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC = 1024, 2048, 4096, 16384
MS_PRIVATE, MS_SLAVE, MS_SHARED = 1 << 18, 1 << 19, 1 << 20
MS_RELATIME, MS_STRICTATIME = 1 << 21, 1 << 24
MNT_DETACH = 2

#: mount(8) option words that are flags, not file-system data: name -> (set, clear).
FLAGS: dict[str, tuple[int, int]] = {
    "ro": (MS_RDONLY, 0),
    "rw": (0, MS_RDONLY),
    "nosuid": (MS_NOSUID, 0),
    "suid": (0, MS_NOSUID),
    "nodev": (MS_NODEV, 0),
    "dev": (0, MS_NODEV),
    "noexec": (MS_NOEXEC, 0),
    "exec": (0, MS_NOEXEC),
    "sync": (MS_SYNCHRONOUS, 0),
    "async": (0, MS_SYNCHRONOUS),
    "dirsync": (MS_DIRSYNC, 0),
    "noatime": (MS_NOATIME, 0),
    "atime": (0, MS_NOATIME),
    "nodiratime": (MS_NODIRATIME, 0),
    "diratime": (0, MS_NODIRATIME),
    "relatime": (MS_RELATIME, 0),
    "strictatime": (MS_STRICTATIME, 0),
    "bind": (MS_BIND, 0),
    "rbind": (MS_BIND | MS_REC, 0),
    "defaults": (0, 0),
}
#: Propagation words: applied by a second mount(2) call once mounted.
PROPAGATION = {
    "private": MS_PRIVATE,
    "rprivate": MS_PRIVATE | MS_REC,
    "slave": MS_SLAVE,
    "rslave": MS_SLAVE | MS_REC,
    "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC,
}


@dataclass(frozen=True)
class MountOptions:
    """``o=`` split the way mount(8) splits it."""

    flags: int
    data: str
    propagation: int
    loop: bool


def parse_options(text: str) -> MountOptions:
    flags = propagation = 0
    data: list[str] = []
    loop = False
    for word in (w.strip() for w in text.split(",")):
        if not word:
            continue
        if word == "loop":
            loop = True
        elif word in FLAGS:
            set_bits, clear_bits = FLAGS[word]
            flags = (flags | set_bits) & ~clear_bits
        elif word in PROPAGATION:
            propagation |= PROPAGATION[word]
        else:
            data.append(word)
    return MountOptions(flags, ",".join(data), propagation, loop)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(source: str, target: str, fstype: str, flags: int, data: str = "") -> None:
    _check(
        _libc.mount(
            source.encode(), target.encode(), fstype.encode() if fstype else None, flags,
            data.encode() if data else None,
        ),
        f"mount {source} on {target}",
    )  # fmt: skip


def set_propagation(target: str, flags: int) -> None:
    _check(_libc.mount(None, target.encode(), None, flags, None), f"propagation of {target}")


def unmount(target: str) -> None:
    _check(_libc.umount2(target.encode(), 0), f"unmount {target}")


def unmount_lazily(target: str) -> None:
    _check(_libc.umount2(target.encode(), MNT_DETACH), f"unmount {target}")


def is_mount_point(path: str) -> bool:
    """Whether ``path`` is in this mount namespace's table (bind mounts of one file system on
    itself included, which ``os.path.ismount`` misses)."""
    wanted = os.path.realpath(path)
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as table:
        for line in table:
            point = line.split(" ")[4]
            if "\\" in point:
                point = point.encode().decode("unicode_escape")
            if point == wanted:
                return True
    return False


# --- loop devices --------------------------------------------------------------------------

LOOP_CTL_GET_FREE = 0x4C82
LOOP_SET_FD, LOOP_CLR_FD, LOOP_SET_STATUS64 = 0x4C00, 0x4C01, 0x4C04
LO_FLAGS_AUTOCLEAR = 4
#: struct loop_info64: 5 x 64-bit, 4 x 32-bit (flags last), then file name, crypt name (64
#: each), key (32), init (2 x 64-bit).
_LOOP_INFO64 = struct.Struct("=QQQQQIIII64s64s32sQQ")


def needs_loop(device: str, options: MountOptions) -> bool:
    """A device that is a regular file (an image) goes through a loop device."""
    if options.loop:
        return True
    try:
        return stat.S_ISREG(os.stat(device).st_mode)
    except OSError:
        return False


def attach_loop(image: str, read_only: bool) -> tuple[str, int]:
    """Attach ``image`` to a free loop device, set to detach itself once its last user goes
    (the mount holds it; the returned file descriptor must be closed after mounting)."""
    with open("/dev/loop-control", "rb") as control:
        for _attempt in range(8):
            number = fcntl.ioctl(control, LOOP_CTL_GET_FREE)
            device = f"/dev/loop{number}"
            backing = os.open(image, (os.O_RDONLY if read_only else os.O_RDWR) | os.O_CLOEXEC)
            try:
                loop = os.open(device, (os.O_RDONLY if read_only else os.O_RDWR) | os.O_CLOEXEC)
            except OSError:
                os.close(backing)
                raise
            try:
                fcntl.ioctl(loop, LOOP_SET_FD, backing)
            except OSError as exc:
                os.close(loop)
                os.close(backing)
                if exc.errno == 16:  # EBUSY: someone took it first; ask again
                    continue
                raise
            os.close(backing)
            # read-only comes from how the files were opened; only autoclear is settable here
            info = _LOOP_INFO64.pack(
                0, 0, 0, 0, 0, 0, 0, 0, LO_FLAGS_AUTOCLEAR,
                os.fsencode(image)[:63], b"", b"", 0, 0,
            )  # fmt: skip
            try:
                fcntl.ioctl(loop, LOOP_SET_STATUS64, info)
            except OSError:
                fcntl.ioctl(loop, LOOP_CLR_FD, 0)
                os.close(loop)
                raise
            return device, loop
    raise OSError(16, f"no free loop device for {image}")
