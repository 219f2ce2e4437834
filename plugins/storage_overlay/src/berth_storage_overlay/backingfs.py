"""Names of the file systems a data root can sit on, as ``docker info`` shows them."""

from __future__ import annotations

from pathlib import Path

from berth_storage_overlay.syscalls import fs_magic

#: statfs magic numbers (linux/magic.h) → Docker's "Backing Filesystem" names.
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


def fs_name(magic: int) -> str:
    return FS_NAMES.get(magic, f"unknown (0x{magic:x})")


def backing_fs(path: Path) -> str:
    """The name of the file system ``path`` (which must exist) is on."""
    return fs_name(fs_magic(path))
