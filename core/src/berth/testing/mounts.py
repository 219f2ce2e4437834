"""What the kernel has mounted, for tests that check a driver leaves no mount behind."""

from __future__ import annotations

import os
import re
from pathlib import Path

#: The mount table of this process's mount namespace.
MOUNTINFO = Path("/proc/self/mountinfo")

_ESCAPED = re.compile(r"\\([0-7]{3})")


def _unescape(field: str) -> str:
    """Mountinfo writes space, tab, newline and backslash in paths as ``\\ooo``."""
    return _ESCAPED.sub(lambda match: chr(int(match.group(1), 8)), field)


def mount_table() -> list[tuple[Path, str]]:
    """Every ``(mount point, file system type)``, in the kernel's order (later ones on top)."""
    table: list[tuple[Path, str]] = []
    text = MOUNTINFO.read_text(encoding="utf-8", errors="surrogateescape")
    for line in text.splitlines():
        fields = line.split(" ")
        try:
            fs_type = fields[fields.index("-", 6) + 1]
        except (ValueError, IndexError):
            continue
        table.append((Path(_unescape(fields[4])), _unescape(fs_type)))
    return table


def mounts_under(root: Path) -> list[Path]:
    """Mount points at or below ``root`` (resolved first), in the kernel's order."""
    resolved = Path(os.path.realpath(root))
    return [point for point, _ in mount_table() if point.is_relative_to(resolved)]


def filesystem_of(path: Path) -> str:
    """The type of the file system ``path`` (which must exist) is on, as mountinfo names it."""
    resolved = Path(os.path.realpath(path))
    best: tuple[int, str] = (-1, "")
    for point, fs_type in mount_table():
        depth = len(point.parts)
        if resolved.is_relative_to(point) and depth >= best[0]:
            best = (depth, fs_type)
    return best[1]
