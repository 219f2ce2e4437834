"""A container's root file system, opened so that every path stays inside it.

A running container is reached through ``/proc/<pid>/root`` (its own view: its volumes and
mounts included); a stopped one through the storage driver's mount of its writable layer,
held for as long as the root is open. Paths are then resolved by the kernel relative to that
directory (``openat2`` with ``RESOLVE_IN_ROOT``, via :mod:`berth.plugins.layers.rootfs`): a
symlink in the container that points at ``/`` or climbs with ``..`` resolves inside the
container, as it would for a process in it, never on the host. The last component is then used
with the ``*at`` calls and ``O_NOFOLLOW``, so a symlink swapped in meanwhile is not followed.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from berth.engine.containers.model import Container
from berth.engine.errors import BerthError, NotFound
from berth.plugins import StorageDriver
from berth.plugins.layers.rootfs import DIR_FLAGS, READ_DIR_FLAGS, open_dir

_MAX_LINKS = 40
#: Pseudo file systems whose content ``cp`` of a running container never walks into (Docker
#: reads the root file system without them, where these are empty directories).
PSEUDO_FILESYSTEMS = frozenset(
    {
        "proc",
        "sysfs",
        "cgroup",
        "cgroup2",
        "devpts",
        "mqueue",
        "debugfs",
        "tracefs",
        "securityfs",
        "pstore",
        "bpf",
        "configfs",
        "fusectl",
        "binfmt_misc",
    }
)


class PathNotFound(NotFound):
    def __init__(self, path: str, container: str) -> None:
        super().__init__(f"Could not find the file {path} in container {container}")


class ContainerRoot:
    """An open root directory of a container; close it (or use ``with``) to release it.

    ``at`` is where this directory sits in the container: ``/`` for its root file system, a
    mount point (``/data``) for a volume or bind of a stopped container, reached directly.
    ``read_only`` says why writes are refused there (empty: they are not).
    """

    def __init__(
        self,
        fd: int,
        release: Callable[[], None] | None,
        pid: int = 0,
        at: str = "/",
        read_only: str = "",
    ) -> None:
        self.fd = fd
        self.pid = pid  # of the container's init when opened through /proc, else 0
        self.at = at
        self.read_only = read_only
        self._release = release

    def __enter__(self) -> ContainerRoot:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        release, self._release = self._release, None
        if release is not None:
            release()

    @property
    def live(self) -> bool:
        return self.pid > 0

    def inner(self, path: str) -> str:
        """An absolute container path (under :attr:`at`) as a path in this directory, keeping a
        trailing ``/`` or ``/.``."""
        if self.at == "/":
            return path
        rest = path[len(self.at) :]
        return "/" + rest.lstrip("/") if rest.strip("/") else ("/." if rest.endswith(".") else "/")

    def outer(self, path: str) -> str:
        """A path in this directory as a container path."""
        if self.at == "/":
            return path
        return self.at + ("" if path == "/" else path)

    def pseudo_mounts(self) -> set[str]:
        """Mount points (container paths) of pseudo file systems, for a running container."""
        if not self.pid:
            return set()
        found: set[str] = set()
        try:
            with open(f"/proc/{self.pid}/mountinfo", encoding="utf-8", errors="replace") as info:
                for line in info:
                    fields, _, rest = line.partition(" - ")
                    parts = fields.split()
                    kind = rest.split(" ", 1)[0]
                    if len(parts) > 4 and kind in PSEUDO_FILESYSTEMS:
                        found.add(_unescape(parts[4]))
        except OSError:
            pass
        return found


def _unescape(text: str) -> str:
    """mountinfo's octal escapes (``\\040`` for a space)."""
    if "\\" not in text:
        return text
    return bytes(text, "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8")


def open_root(container: Container, driver: StorageDriver, use_live: bool = True) -> ContainerRoot:
    """The root of ``container``: the live one when it runs (and ``use_live``), else its
    writable layer mounted by the storage driver. Raises BerthError when neither can be had."""
    state = container.state
    if use_live and state.running and not state.restarting and state.pid:
        try:
            fd = os.open(f"/proc/{state.pid}/root", DIR_FLAGS)
        except OSError:
            pass  # it just exited: fall back to its layer
        else:
            return ContainerRoot(fd, None, state.pid)
    try:
        path = driver.mount(container.rw_layer)
    except Exception as exc:
        raise BerthError(
            f"cannot mount the file system of container {container.short_id}: {exc}"
        ) from exc
    try:
        fd = os.open(Path(path), DIR_FLAGS)
    except OSError as exc:
        driver.unmount(container.rw_layer)
        raise BerthError(
            f"cannot open the file system of container {container.short_id}: {exc.strerror}"
        ) from exc
    return ContainerRoot(fd, lambda: driver.unmount(container.rw_layer))


def absolute(path: str) -> str:
    """``path`` as an absolute container path, cleaned, keeping a trailing ``/`` or ``/.``
    (they mean "a directory" and "its content" to cp)."""
    cleaned = posixpath.normpath("/" + path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    if cleaned != "/" and (path.endswith("/.") or path == "."):
        return cleaned + "/."
    if cleaned != "/" and path.endswith("/"):
        return cleaned + "/"
    return cleaned


def split(path: str) -> tuple[str, str]:
    """An absolute path's directory and last component (``""`` for the root, ``"."`` for
    a trailing ``/.``; a trailing ``/`` is dropped)."""
    if path.endswith("/."):
        return path[:-2] or "/", "."
    trimmed = path.rstrip("/") or "/"
    if trimmed == "/":
        return "/", ""
    parent, _, base = trimmed.rpartition("/")
    return parent or "/", base


def relative(path: str) -> bytes:
    """An absolute container path as the relative name ``open_dir`` takes."""
    return os.fsencode(path.strip("/"))


def open_parent(root: ContainerRoot, path: str, container: str, shown: str = "") -> tuple[int, str]:
    """The directory holding ``path`` (a path in ``root``; symlinks on the way resolved inside
    it), open for reading, and the last component; PathNotFound (naming ``shown``, the path
    the user gave) when the directory is missing."""
    parent, base = split(path)
    try:
        return open_dir(root.fd, relative(parent), follow=True, flags=READ_DIR_FLAGS), base
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            raise PathNotFound(shown or path, container) from None
        raise BerthError(
            f"cannot open {shown or parent} in container {container}: {exc.strerror}"
        ) from exc


def mount_point_of(mount_points: dict[str, Any], path: str) -> tuple[str, dict[str, Any]] | None:
    """The mount point (destination, its record) under which the absolute container path
    ``path`` lies, the deepest one; None when it is on the root file system. Lexical: a
    symlink on the way that leads into a mount point is not seen."""
    found: tuple[str, dict[str, Any]] | None = None
    for destination, point in mount_points.items():
        if not isinstance(point, dict) or not destination.startswith("/"):
            continue
        top = destination.rstrip("/") or "/"
        if top == "/" or (path != top and not path.startswith(top + "/")):
            continue
        if found is None or len(top) > len(found[0]):
            found = (top, point)
    return found


def resolve(root: ContainerRoot, path: str) -> str:
    """``path`` with every symlink resolved inside the root (as the container would see it);
    components that do not exist are kept as they are. For a stat's ``linkTarget``."""
    todo = [p for p in reversed(path.split("/")) if p and p != "."]
    done: list[str] = []
    links = 0
    while todo:
        part = todo.pop()
        if part == "..":
            if done:
                done.pop()
            continue
        here = "/" + "/".join(done)
        try:
            fd = open_dir(root.fd, relative(here), follow=False, flags=DIR_FLAGS)
        except OSError:
            done.append(part)
            continue
        try:
            st = os.lstat(part, dir_fd=fd)
            target = os.readlink(part, dir_fd=fd) if stat.S_ISLNK(st.st_mode) else None
        except OSError:
            target = None
        finally:
            os.close(fd)
        if target is None:
            done.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise BerthError(f"too many levels of symbolic links in {path}")
        if target.startswith("/"):
            done = []
        todo.extend(p for p in reversed(target.split("/")) if p and p != ".")
    return "/" + "/".join(done)
