"""A small root file system made from the host's static busybox, for containers in tests.

Debian's ``busybox-static`` installs ``/bin/busybox``; a directory with it in ``/bin``, a link
per applet (``busybox --list``) and a few files in ``/etc`` is a complete little image.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

#: Where Debian's busybox-static puts the binary.
HOST_BUSYBOX = Path("/bin/busybox")

#: The files of /etc the images' users and groups come from.
PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "berth:x:1000:1000:berth test user:/home/berth:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
GROUP = "root:x:0:\ndaemon:x:1:\nwheel:x:10:berth\nberth:x:1000:\nnogroup:x:65534:\n"

_PT_INTERP = 3


def is_static_elf(path: Path) -> bool:
    """Whether ``path`` is a 64-bit little-endian ELF file without a program interpreter."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(64)
            if len(header) < 64 or header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
                return False
            (phoff,) = struct.unpack_from("<Q", header, 32)
            phentsize, phnum = struct.unpack_from("<HH", header, 54)
            handle.seek(phoff)
            table = handle.read(phentsize * phnum)
    except OSError:
        return False
    return all(
        struct.unpack_from("<I", table, i * phentsize)[0] != _PT_INTERP for i in range(phnum)
    )


def busybox_unavailable(busybox: Path = HOST_BUSYBOX) -> str | None:
    """Why a busybox root file system cannot be made here, or ``None``."""
    if not busybox.is_file():
        return f"{busybox} is missing (install Debian's busybox-static)"
    if not is_static_elf(busybox):
        return f"{busybox} is not a static x86-64 binary (install Debian's busybox-static)"
    return None


def applets(busybox: Path = HOST_BUSYBOX) -> list[str]:
    done = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True, timeout=30
    )
    return [name for name in done.stdout.split() if name and "/" not in name]


def make_busybox_rootfs(dest: Path, busybox: Path = HOST_BUSYBOX) -> Path:
    """Write the root file system into ``dest`` (created) and return it."""
    (dest / "bin").mkdir(parents=True)
    shutil.copy2(busybox, dest / "bin" / "busybox")
    for name in applets(busybox):
        if name != "busybox":
            (dest / "bin" / name).symlink_to("busybox")
    for directory, mode in (
        ("etc", 0o755),
        ("tmp", 0o1777),
        ("root", 0o700),
        ("home/berth", 0o755),
        ("proc", 0o555),
        ("sys", 0o555),
        ("dev", 0o755),
        ("mnt", 0o755),
    ):
        (dest / directory).mkdir(parents=True, exist_ok=True)
        os.chmod(dest / directory, mode)
    (dest / "etc" / "passwd").write_text(PASSWD)
    (dest / "etc" / "group").write_text(GROUP)
    (dest / "etc" / "hostname").write_text("busybox\n")
    return dest


def clone_rootfs(template: Path, dest: Path) -> Path:
    """A cheap copy of a root file system made by :func:`make_busybox_rootfs`: the busybox
    binary is hard-linked (or copied across file systems), everything else copied."""

    def link_or_copy(src: str, dst: str) -> object:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)
        return dst

    shutil.copytree(template, dest, symlinks=True, copy_function=link_or_copy)
    return dest
