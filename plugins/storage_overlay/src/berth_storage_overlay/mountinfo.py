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


def escape(path: str) -> str:
    """A path as mountinfo writes it (the inverse of :func:`unescape`)."""
    for char in "\\ \t\n":  # backslash first
        path = path.replace(char, f"\\{ord(char):03o}")
    return path


def mounted_under(root: Path, text: str | None = None) -> list[MountEntry]:
    """Mounts at or below ``root`` (an absolute, resolved path), innermost last, as listed.

    Called on every container removal: the lines are picked by their escaped mount point
    (escaping keeps prefixes) before any is parsed, not by a Path per mount of the host."""
    if text is None:
        text = MOUNTINFO.read_text(encoding="utf-8", errors="surrogateescape")
    exact = escape(str(root))
    inside = exact.rstrip("/") + "/"
    picked: list[str] = []
    for line in text.splitlines():
        fields = line.split(" ", 5)
        if len(fields) > 4 and (fields[4] == exact or fields[4].startswith(inside)):
            picked.append(line)
    return parse("\n".join(picked))


def is_mount_point(path: Path) -> bool:
    return any(m.mount_point == path for m in mounts())
