"""COPY and ADD: which files a step copies, their checksum (the cache key), and the layer tar
that puts them at their destination.

Sources are found inside a root (the build context, or the root file system of a stage or
image for ``COPY --from``): globs match one path component at a time, as Go's filepath.Match
does; a source that is a symlink is followed inside the root; what is inside a copied
directory is copied as it is (symlinks stay symlinks). The checksum covers names, types,
modes, sizes, link targets and file contents, never mtimes, so touching a file keeps the cache.

The layer tar is written from the sources while the storage driver reads it: the directories
leading to the destination first (existing ones with the metadata they have in the image, so
the layer does not change them; new ones ``0755``), then the copied entries, owned by root or
by ``--chown``, with ``--chmod`` applied.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import os
import posixpath
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from berth.chunkstream import ChunkStream
from berth.engine.build.paths import lstat_in, resolve_in_root
from berth.engine.errors import BadParameter
from berth.plugins.layers import tarwriter

if TYPE_CHECKING:
    pass

CHUNK = 1 << 20
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True)
class Source:
    """One thing to copy: ``path`` inside ``root``; ``name`` is what it is called at the
    destination when the destination is a directory."""

    root: Path
    path: str  # normalised, relative to root
    name: str
    is_dir: bool
    keep_owner: bool = False  # an extracted archive keeps its owners


@dataclass(frozen=True)
class Ownership:
    uid: int
    gid: int


class CopyError(BadParameter):
    """A COPY/ADD that cannot be done (no such source, outside the context, …)."""


# --- finding sources ----------------------------------------------------------------------


def find_sources(root: Path, pattern: str, what: str = "build context") -> list[Source]:
    """The sources ``pattern`` names inside ``root``; none is an error."""
    if _climbs(pattern):
        raise CopyError(f"forbidden path outside the build context: {pattern} ()")
    clean = posixpath.normpath("/" + pattern).lstrip("/")
    if not any(c in _GLOB_CHARS for c in clean):
        real = resolve_in_root(root, clean)
        st = lstat_in(root, real)
        if st is None:
            raise CopyError(
                f"file not found in {what}"
                + (" or excluded by .dockerignore" if what == "build context" else "")
                + f": stat {clean or '.'}: file does not exist"
            )
        name = posixpath.basename(clean) if clean else ""
        return [Source(root, real, name, stat.S_ISDIR(st.st_mode))]
    found = [
        Source(root, rel, posixpath.basename(rel), is_dir)
        for rel, is_dir in _glob(root, clean.split("/"))
    ]
    if not found:
        raise CopyError("no source files were specified")
    return found


def _climbs(path: str) -> bool:
    depth = 0
    for part in path.lstrip("/").split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _glob(root: Path, parts: list[str], prefix: str = "") -> Iterator[tuple[str, bool]]:
    """Paths under ``prefix`` matching the components ``parts`` (symlinks not followed except
    to tell whether a final match is a directory)."""
    head, rest = parts[0], parts[1:]
    here = root / prefix if prefix else root
    if not any(c in _GLOB_CHARS for c in head):
        names = [head]
    else:
        try:
            names = sorted(n for n in os.listdir(here) if fnmatch.fnmatchcase(n, head))
        except OSError:
            return
        if not head.startswith("."):
            names = [n for n in names if not n.startswith(".")] or names
    for name in names:
        rel = f"{prefix}/{name}" if prefix else name
        st = lstat_in(root, rel)
        if st is None:
            continue
        if rest:
            if stat.S_ISDIR(st.st_mode):
                yield from _glob(root, rest, rel)
        else:
            yield rel, stat.S_ISDIR(st.st_mode)


# --- walking and checksums ----------------------------------------------------------------


def walk(source: Source) -> Iterator[tuple[str, os.stat_result]]:
    """``(relative name, lstat)`` of a source: ``""`` for the source itself, then, for a
    directory, everything inside it, sorted, a directory before its content."""
    top = source.root / source.path if source.path else source.root
    st = os.stat(top) if not source.path else os.lstat(top)
    yield "", st
    if stat.S_ISDIR(st.st_mode):
        yield from _walk_dir(top, "")


def _walk_dir(directory: Path, prefix: str) -> Iterator[tuple[str, os.stat_result]]:
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        raise CopyError(f"cannot read {prefix or '.'}: {exc.strerror}") from None
    for entry in entries:
        rel = f"{prefix}/{entry.name}" if prefix else entry.name
        st = entry.stat(follow_symlinks=False)
        yield rel, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk_dir(Path(entry.path), rel)


def checksum(sources: Sequence[Source]) -> str:
    """A digest of what the sources hold: names, kinds, modes, sizes, link targets, contents."""
    digest = hashlib.sha256()
    for source in sources:
        digest.update(b"source\0" + source.name.encode("utf-8", "surrogateescape") + b"\0")
        top = source.root / source.path if source.path else source.root
        for rel, st in walk(source):
            path = top / rel if rel else top
            kind = stat.S_IFMT(st.st_mode)
            owner = f"{st.st_uid}:{st.st_gid}" if source.keep_owner else ""
            digest.update(
                f"{rel}\0{kind:o}\0{stat.S_IMODE(st.st_mode):o}\0{owner}\0".encode(
                    "utf-8", "surrogateescape"
                )
            )
            if stat.S_ISREG(kind):
                digest.update(b"%d\0" % st.st_size)
                with open(path, "rb") as handle:
                    while chunk := handle.read(CHUNK):
                        digest.update(chunk)
            elif stat.S_ISLNK(kind):
                digest.update(os.fsencode(os.readlink(path)))
            digest.update(b"\n")
    return digest.hexdigest()


# --- the layer tar ------------------------------------------------------------------------


@dataclass(frozen=True)
class CopyPlan:
    sources: Sequence[Source]
    dest: str  # absolute; ends with "/" when it names a directory
    owner: Ownership | None
    chmod: int | None


def target_paths(plan: CopyPlan, rootfs: Path | None) -> list[tuple[Source, str]]:
    """Where each source goes (absolute, unresolved) — Docker's rules: several sources need a
    directory destination (ending in ``/``); a directory's content goes into the
    destination; a file goes to ``dest/name`` when ``dest`` is a directory (ends in ``/`` or
    is one in the image), else to ``dest``."""
    sources = plan.sources
    dest = plan.dest
    if len(sources) > 1 and not dest.endswith("/"):
        raise CopyError(
            "When using COPY with more than one source file, the destination must be a "
            "directory and end with a /"
        )
    out: list[tuple[Source, str]] = []
    for source in sources:
        if source.is_dir:
            out.append((source, dest.rstrip("/") or "/"))
            continue
        into_dir = dest.endswith("/")
        if not into_dir and rootfs is not None:
            real = resolve_in_root(rootfs, dest)
            st = lstat_in(rootfs, real)
            into_dir = st is not None and stat.S_ISDIR(st.st_mode)
        if into_dir:
            out.append((source, posixpath.join(dest, source.name)))
        else:
            out.append((source, dest))
    return out


def layer_tar(plan: CopyPlan, rootfs: Path | None) -> BinaryIO:
    """The tar of the new layer (produced while it is read)."""
    targets = target_paths(plan, rootfs)
    return io.BufferedReader(ChunkStream(_entries(plan, targets, rootfs)), CHUNK)


def _entries(
    plan: CopyPlan, targets: list[tuple[Source, str]], rootfs: Path | None
) -> Iterator[bytes]:
    emitted: set[str] = set()
    for source, target in targets:
        if source.is_dir and rootfs is not None:
            real_target = resolve_in_root(rootfs, target)
        else:
            real_target = _resolve_parent(rootfs, target)
        parent = posixpath.dirname(real_target)
        yield from _parents(parent, rootfs, plan.owner, emitted)
        top = source.root / source.path if source.path else source.root
        for rel, st in walk(source):
            name = posixpath.join(real_target, rel) if rel else real_target
            if not name:  # the root itself: only its content
                continue
            if not rel and source.is_dir and _is_dir_in(rootfs, name):
                continue  # an existing destination directory keeps its metadata
            yield from _entry(name, top / rel if rel else top, st, plan, source.keep_owner)
            emitted.add(name)
    yield tarwriter.END_OF_ARCHIVE


def directory_tar(path: str, rootfs: Path | None) -> BinaryIO | None:
    """The layer tar that makes the directory ``path`` (and its missing parents, root-owned,
    ``0755``) in the image; None when the image has it already."""
    real = resolve_in_root(rootfs, path) if rootfs is not None else path.strip("/")
    if not real or _is_dir_in(rootfs, real):
        return None

    def entries() -> Iterator[bytes]:
        yield from _parents(real, rootfs, None, set())
        yield tarwriter.END_OF_ARCHIVE

    return io.BufferedReader(ChunkStream(entries()), CHUNK)


def _resolve_parent(rootfs: Path | None, target: str) -> str:
    """The target with the symlinks of its parent directories resolved in the image."""
    parent, base = posixpath.split(target.rstrip("/"))
    resolved = resolve_in_root(rootfs, parent) if rootfs is not None else parent.strip("/")
    return posixpath.join(resolved, base) if base else resolved


def _is_dir_in(rootfs: Path | None, rel: str) -> bool:
    if rootfs is None:
        return False
    st = lstat_in(rootfs, rel)
    return st is not None and stat.S_ISDIR(st.st_mode)


def _parents(
    directory: str, rootfs: Path | None, owner: Ownership | None, emitted: set[str]
) -> Iterator[bytes]:
    parts = [p for p in directory.split("/") if p]
    for i in range(1, len(parts) + 1):
        rel = "/".join(parts[:i])
        if rel in emitted:
            continue
        emitted.add(rel)
        st = lstat_in(rootfs, rel) if rootfs is not None else None
        if st is not None and stat.S_ISDIR(st.st_mode):
            yield tarwriter.header(
                os.fsencode(rel) + b"/",
                tarwriter.DIR,
                mode=stat.S_IMODE(st.st_mode),
                uid=st.st_uid,
                gid=st.st_gid,
                mtime_ns=st.st_mtime_ns,
            )
        else:
            yield tarwriter.header(
                os.fsencode(rel) + b"/",
                tarwriter.DIR,
                mode=0o755,
                uid=owner.uid if owner else 0,
                gid=owner.gid if owner else 0,
            )


def _entry(
    name: str, path: Path, st: os.stat_result, plan: CopyPlan, keep_owner: bool
) -> Iterator[bytes]:
    mode = stat.S_IMODE(st.st_mode)
    if plan.chmod is not None and not stat.S_ISLNK(st.st_mode):
        mode = plan.chmod
    if plan.owner is not None:
        uid, gid = plan.owner.uid, plan.owner.gid
    elif keep_owner:
        uid, gid = st.st_uid, st.st_gid
    else:
        uid = gid = 0
    encoded = os.fsencode(name)
    common = _Meta(mode, uid, gid, st.st_mtime_ns)
    if stat.S_ISDIR(st.st_mode):
        yield common.header(encoded + b"/", tarwriter.DIR)
    elif stat.S_ISLNK(st.st_mode):
        yield common.header(encoded, tarwriter.SYM, linkname=os.fsencode(os.readlink(path)))
    elif stat.S_ISREG(st.st_mode):
        yield from _file(encoded, path, common)
    elif stat.S_ISFIFO(st.st_mode):
        yield common.header(encoded, tarwriter.FIFO)
    # sockets and devices are not copied (a context never holds devices)


@dataclass(frozen=True)
class _Meta:
    mode: int
    uid: int
    gid: int
    mtime_ns: int

    def header(self, name: bytes, kind: bytes, size: int = 0, linkname: bytes = b"") -> bytes:
        return tarwriter.header(
            name,
            kind,
            mode=self.mode,
            uid=self.uid,
            gid=self.gid,
            size=size,
            mtime_ns=self.mtime_ns,
            linkname=linkname,
        )


def _file(name: bytes, path: Path, common: _Meta) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        st = os.fstat(handle.fileno())
        size = st.st_size
        yield common.header(name, tarwriter.REG, size=size)
        left = size
        while left:
            chunk = handle.read(min(left, CHUNK))
            if not chunk:
                yield bytes(left)  # the file shrank: keep the header's promise
                break
            left -= len(chunk)
            yield chunk
        yield tarwriter.padding(size)
