"""What is mounted where, from ``/proc/self/mountinfo`` (the kernel's view, not a cached one)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: A constant so tests can point it at a file of their own.
MOUNTINFO = Path("/proc/self/mountinfo")

_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class MountEntry:
    mount_point: Path
    fs_type: str
    source: str


def unescape(field: str) -> str:
    """Mountinfo writes space, tab, newline and backslash in paths as ``\\ooo``."""
    return _OCTAL_ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), field)


def parse(text: str) -> list[MountEntry]:
    """``36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw`` lines, in order."""
    entries: list[MountEntry] = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            separator = fields.index("-", 6)
            fs_type, source = fields[separator + 1], fields[separator + 2]
        except (ValueError, IndexError):
            continue  # not a mountinfo line
        entries.append(MountEntry(Path(unescape(fields[4])), unescape(fs_type), unescape(source)))
    return entries


def mounts() -> list[MountEntry]:
    return parse(MOUNTINFO.read_text(encoding="utf-8", errors="surrogateescape"))


def mounted_under(root: Path) -> list[MountEntry]:
    """Mounts at or below ``root`` (an absolute, resolved path), innermost last, as listed."""
    return [m for m in mounts() if m.mount_point == root or m.mount_point.is_relative_to(root)]


def is_mount_point(path: Path) -> bool:
    return any(m.mount_point == path for m in mounts())
