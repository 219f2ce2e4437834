"""The file system a path is on, named as ``docker info`` names it — for storage drivers'
probes and ``status()`` ("Backing Filesystem") — and a hint drivers give it."""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import struct
from pathlib import Path

#: statfs(2) magic numbers (linux/magic.h) → Docker's "Backing Filesystem" names.
FS_NAMES: dict[int, str] = {
    0xEF53: "extfs",
    0x58465342: "xfs",
    0x9123683E: "btrfs",
    0x01021994: "tmpfs",
    0x858458F6: "ramfs",
    0x794C7630: "overlayfs",
    0x2FC12FC1: "zfs",
    0xCA451A4E: "bcachefs",
    0xF2F52010: "f2fs",
    0x6969: "nfs",
    0xFF534D42: "cifs",
    0xFE534D42: "smb2",
    0x65735546: "fuse",
    0x73717368: "squashfs",
    0xE0F5E1E2: "erofs",
    0xF15F: "ecryptfs",
    0x3153464A: "jfs",
    0x52654973: "reiserfs",
    0x4D44: "msdos",
    0x2011BAB0: "exfat",
    0x5346544E: "ntfs",
    0x7366746E: "ntfs3",
    0x61756673: "aufs",
    0x00C36400: "ceph",
    0x47504653: "gpfs",
    0x0BD00BD0: "lustre",
}

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.statfs.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
_libc.statfs.restype = ctypes.c_int


def fs_magic(path: Path) -> int:
    """``statfs(path).f_type``: the magic number of the file system ``path`` is on."""
    buffer = ctypes.create_string_buffer(512)  # larger than struct statfs on every ABI
    if _libc.statfs(os.fsencode(path), buffer) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(path))
    # f_type is the first member, a C long; mask to the unsigned 32-bit magic.
    return ctypes.c_ulong.from_buffer(buffer).value & 0xFFFFFFFF


def fs_name(magic: int) -> str:
    return FS_NAMES.get(magic, f"unknown (0x{magic:x})")


def backing_filesystem(path: Path) -> str:
    """Docker's name for the file system ``path`` (which must exist) is on; raises OSError."""
    return fs_name(fs_magic(path))


#: ioctl(2) numbers and the flag of ext2/3/4's top-of-hierarchy directories (linux/fs.h).
FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_TOPDIR_FL = 0x00020000
EXTFS_MAGIC = 0xEF53


def mark_top_directory(path: Path) -> bool:
    """Tell ext4 that ``path`` is the top of a hierarchy (``chattr +T``), so that it spreads
    the directories made in it (a driver's layers) over its block groups, as for directories
    of the root: creating many files in a new layer is then much faster, above all soon after
    many were deleted. Best effort: False where it is not ext2/3/4 or not allowed."""
    try:
        if fs_magic(path) != EXTFS_MAGIC:
            return False
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        (flags,) = struct.unpack("i", fcntl.ioctl(fd, FS_IOC_GETFLAGS, bytes(4)))
        if not flags & FS_TOPDIR_FL:
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, struct.pack("i", flags | FS_TOPDIR_FL))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
