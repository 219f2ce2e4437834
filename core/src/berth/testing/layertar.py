"""Layer tars for storage tests: described as :class:`Node` records, built with ``tarfile``.

A test describes what a layer holds (files, directories, links, devices, whiteouts, with modes,
owners, times and xattrs), builds the tar of it, and compares what a driver shows with what the
nodes say (:func:`expected_tree`)::

    nodes = [Node.dir("etc"), Node.file("etc/hostname", b"box\\n", mode=0o600)]
    driver.apply_diff(layer, None, io.BytesIO(layer_tar(nodes)))

Diff streams a driver returns are read back with :func:`read_tar`.
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO, Literal

from berth.testing.trees import TreeEntry

NodeKind = Literal["dir", "file", "symlink", "hardlink", "fifo", "char", "block"]

#: A fixed time stamp (2020-09-13), far from "now", so a lost mtime shows.
MTIME = 1_600_000_000
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"

_TAR_TYPES: dict[NodeKind, bytes] = {
    "dir": tarfile.DIRTYPE,
    "file": tarfile.REGTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "fifo": tarfile.FIFOTYPE,
    "char": tarfile.CHRTYPE,
    "block": tarfile.BLKTYPE,
}


@dataclass(frozen=True)
class Node:
    """One entry of a layer: ``path`` is relative (``etc/passwd``); ``target`` is a symlink's
    target or, for a hard link, the path of the file it links to."""

    path: str
    kind: NodeKind
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    data: bytes = b""
    target: str = ""
    device: tuple[int, int] = (0, 0)
    mtime: int = MTIME
    xattrs: Mapping[str, bytes] = field(default_factory=dict)

    @classmethod
    def dir(
        cls,
        path: str,
        mode: int = 0o755,
        *,
        uid: int = 0,
        gid: int = 0,
        mtime: int = MTIME,
        xattrs: Mapping[str, bytes] | None = None,
    ) -> Node:
        return cls(path, "dir", mode, uid, gid, mtime=mtime, xattrs=dict(xattrs or {}))

    @classmethod
    def file(
        cls,
        path: str,
        data: bytes = b"",
        mode: int = 0o644,
        *,
        uid: int = 0,
        gid: int = 0,
        mtime: int = MTIME,
        xattrs: Mapping[str, bytes] | None = None,
    ) -> Node:
        return cls(path, "file", mode, uid, gid, data, mtime=mtime, xattrs=dict(xattrs or {}))

    @classmethod
    def symlink(
        cls, path: str, target: str, *, uid: int = 0, gid: int = 0, mtime: int = MTIME
    ) -> Node:
        return cls(path, "symlink", 0o777, uid, gid, target=target, mtime=mtime)

    @classmethod
    def hardlink(cls, path: str, target: str) -> Node:
        """Another name of the file ``target`` (given earlier in the same tar)."""
        return cls(path, "hardlink", target=target)

    @classmethod
    def fifo(cls, path: str, mode: int = 0o644, *, uid: int = 0, gid: int = 0) -> Node:
        return cls(path, "fifo", mode, uid, gid)

    @classmethod
    def chardev(
        cls, path: str, major: int, minor: int, mode: int = 0o660, *, uid: int = 0, gid: int = 0
    ) -> Node:
        return cls(path, "char", mode, uid, gid, device=(major, minor))

    @classmethod
    def blockdev(
        cls, path: str, major: int, minor: int, mode: int = 0o660, *, uid: int = 0, gid: int = 0
    ) -> Node:
        return cls(path, "block", mode, uid, gid, device=(major, minor))

    @classmethod
    def whiteout(cls, path: str) -> Node:
        """Deletes ``path`` of the layers below (an empty file named ``.wh.<name>``)."""
        head, _, name = path.rpartition("/")
        return cls(f"{head}/{WHITEOUT_PREFIX}{name}".lstrip("/"), "file", 0o600)

    @classmethod
    def opaque(cls, directory: str) -> Node:
        """Hides what the layers below have in ``directory`` (``<dir>/.wh..wh..opq``)."""
        return cls(f"{directory}/{OPAQUE_MARKER}", "file", 0o600)


def layer_tar(nodes: Iterable[Node]) -> bytes:
    """An uncompressed PAX tar of ``nodes``, in the order given (directories before contents)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for node in nodes:
            info = tarfile.TarInfo(node.path + ("/" if node.kind == "dir" else ""))
            info.type = _TAR_TYPES[node.kind]
            info.mode = node.mode
            info.uid, info.gid = node.uid, node.gid
            info.uname = info.gname = ""
            info.mtime = node.mtime
            if node.kind in ("symlink", "hardlink"):
                info.linkname = node.target
            if node.kind in ("char", "block"):
                info.devmajor, info.devminor = node.device
            if node.xattrs:
                info.pax_headers = {
                    f"SCHILY.xattr.{name}": value.decode("utf-8", "surrogateescape")
                    for name, value in node.xattrs.items()
                }
            if node.kind == "file":
                info.size = len(node.data)
                tar.addfile(info, io.BytesIO(node.data))
            else:
                tar.addfile(info)
    return buffer.getvalue()


def expected_tree(nodes: Iterable[Node]) -> dict[str, TreeEntry]:
    """What a layer made of ``nodes`` (no whiteouts) looks like, as :func:`trees.snapshot`
    describes it; hard links take their target's entry."""
    tree: dict[str, TreeEntry] = {}
    for node in nodes:
        if node.kind == "hardlink":
            tree[node.path] = tree[node.target]
            continue
        tree[node.path] = TreeEntry.of_node(
            node.kind,
            mode=node.mode,
            uid=node.uid,
            gid=node.gid,
            data=node.data,
            target=node.target,
            device=node.device,
            mtime=node.mtime,
            xattrs=node.xattrs,
        )
    return tree


@dataclass(frozen=True)
class TarMember:
    """An entry of a diff stream, its name normalised (no ``./``, no trailing ``/``)."""

    name: str
    info: tarfile.TarInfo
    data: bytes
    xattrs: Mapping[str, bytes]


def normalise(name: str) -> str:
    while name.startswith(("./", "/")):
        name = name[2:] if name.startswith("./") else name[1:]
    return name.rstrip("/")


def read_tar(stream: BinaryIO | bytes) -> dict[str, TarMember]:
    """Every member of a tar stream, by normalised name (the last one wins, as on unpacking)."""
    source = io.BytesIO(stream) if isinstance(stream, bytes) else stream
    members: dict[str, TarMember] = {}
    with tarfile.open(fileobj=source, mode="r|") as tar:
        for info in tar:
            data = b""
            if info.isreg():
                extracted = tar.extractfile(info)
                data = extracted.read() if extracted is not None else b""
            xattrs = {
                key.removeprefix("SCHILY.xattr."): value.encode("utf-8", "surrogateescape")
                for key, value in info.pax_headers.items()
                if key.startswith("SCHILY.xattr.")
            }
            name = normalise(info.name)
            if name:
                members[name] = TarMember(name, info, data, xattrs)
    return members
