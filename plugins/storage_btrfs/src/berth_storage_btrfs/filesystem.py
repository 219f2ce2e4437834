"""Which file system a path is on, from ``/proc/self/mountinfo`` (the kernel's own table)."""

from __future__ import annotations

import os
import re
from pathlib import Path

#: A constant so tests can point it at a file of their own.
MOUNTINFO = Path("/proc/self/mountinfo")

_ESCAPED = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    """Mountinfo writes space, tab, newline and backslash in paths as ``\\ooo``."""
    return _ESCAPED.sub(lambda match: chr(int(match.group(1), 8)), field)


def mounts(text: str) -> list[tuple[str, str]]:
    """``(mount point, file system type)`` of each mountinfo line, in order (later on top)."""
    table: list[tuple[str, str]] = []
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            fs_type = fields[fields.index("-", 6) + 1]
        except (ValueError, IndexError):
            continue
        table.append((_unescape(fields[4]), _unescape(fs_type)))
    return table


def nearest_existing(path: Path) -> Path:
    """``path`` itself if it exists, else its closest existing ancestor."""
    existing = path
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    return existing


def filesystem_type(path: Path) -> str:
    """The type (``btrfs``, ``ext4``, …) of the file system ``path`` — or, if it does not
    exist yet, its nearest existing ancestor — is on. Raises OSError if mountinfo is unreadable.
    """
    resolved = Path(os.path.realpath(nearest_existing(path)))
    text = MOUNTINFO.read_text(encoding="utf-8", errors="surrogateescape")
    best_depth, best_type = -1, "unknown"
    for point, fs_type in mounts(text):
        mount_point = Path(point)
        depth = len(mount_point.parts)
        if depth >= best_depth and resolved.is_relative_to(mount_point):
            best_depth, best_type = depth, fs_type
    return best_type
