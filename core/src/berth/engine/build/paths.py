"""Paths inside a root directory (a build context, an image's root file system), resolved the
way a process chrooted there would see them: symlinks followed, ``..`` stopping at the root.
Nothing here reads or writes outside the root."""

from __future__ import annotations

import os
import posixpath
import stat
from pathlib import Path

from berth.engine.errors import BadParameter

MAX_SYMLINKS = 40


def resolve_in_root(root: Path, path: str, follow_last: bool = True) -> str:
    """``path`` (absolute or relative to the root) with every symlink on the way resolved
    inside ``root``; returns a normalised relative path (``""`` is the root). Components that do
    not exist are kept as they are."""
    todo = [p for p in path.split("/") if p not in ("", ".")]
    todo.reverse()
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop()
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = [*done, part]
        if not todo and not follow_last:
            done = candidate
            break
        try:
            st = os.lstat(root.joinpath(*candidate))
        except (FileNotFoundError, NotADirectoryError):
            done = candidate
            continue
        if not stat.S_ISLNK(st.st_mode):
            done = candidate
            continue
        links += 1
        if links > MAX_SYMLINKS:
            raise BadParameter(f"too many levels of symbolic links in {path}")
        target = os.readlink(root.joinpath(*candidate))
        if target.startswith("/"):
            done = []
        todo.extend(reversed([p for p in target.split("/") if p not in ("", ".")]))
    return "/".join(done)


def lstat_in(root: Path, rel: str) -> os.stat_result | None:
    try:
        return os.lstat(root / rel if rel else root)
    except (FileNotFoundError, NotADirectoryError):
        return None


def absolute(path: str, workdir: str) -> str:
    """A destination made absolute against the working directory; a trailing ``/`` is kept."""
    trailing = path.endswith("/") or path.endswith("/.") or path in (".", "")
    joined = posixpath.normpath(posixpath.join(workdir or "/", path))
    if joined.startswith("//"):
        joined = joined[1:]
    return joined.rstrip("/") + "/" if trailing else joined
