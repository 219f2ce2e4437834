"""The host side of `berth cp`, with the docker CLI's rules (its archive package's CopyTo,
PrepareArchiveCopy and friends): which directory the daemon unpacks into, how the archive's
entries are renamed so that `cp SRC DST` makes DST (a new name, into a directory, or the
content of a `dir/.`), and unpacking on the host with every entry kept below its destination.

Imported only by `cp` when it runs, and light itself: tarfile is imported only where it is
needed (unpacking on the host, the rare header that needs pax).
"""

from __future__ import annotations

import io
import os
import stat

from berth.chunkstream import ChunkStream
from berth.cli.errors import CliError

ERR_CANNOT_COPY_DIR = "cannot copy directory"
ERR_DIR_NOT_EXISTS = "no such directory"
_MAX_LINKS = 10


# typing stays off the lean `cp`'s start-up path (berth.cli.fileops_fast): ~10 ms
TYPE_CHECKING = False
if TYPE_CHECKING:
    import tarfile
    from collections.abc import Iterator
    from typing import Any, BinaryIO

# tar entry kinds (tarfile's constants, without importing tarfile)
_REG, _LNK, _SYM, _CHR, _BLK, _DIR, _FIFO = b"0", b"1", b"2", b"3", b"4", b"5", b"6"


class CopyInfo:
    """A copy's source or destination: its path, whether it exists and is a directory, and
    the name its entries take when following a link renamed it. (A plain class: dataclasses
    costs ~10 ms to import, a fifth of the client's start.)"""

    def __init__(
        self, path: str, exists: bool = False, is_dir: bool = False, rebase_name: str = ""
    ) -> None:
        self.path = path
        self.exists = exists
        self.is_dir = is_dir
        self.rebase_name = rebase_name

    def __repr__(self) -> str:
        return (
            f"CopyInfo({self.path!r}, exists={self.exists}, is_dir={self.is_dir}, "
            f"rebase_name={self.rebase_name!r})"
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CopyInfo):
            return NotImplemented
        return (self.path, self.exists, self.is_dir, self.rebase_name) == (
            other.path,
            other.exists,
            other.is_dir,
            other.rebase_name,
        )


def split_cp_arg(arg: str) -> tuple[str, str]:
    """`CONTAINER:PATH` or a local path (absolute, `./x:y` or without a colon)."""
    if arg.startswith("/"):
        return "", arg
    container, sep, path = arg.partition(":")
    if not sep or container.startswith("."):
        return "", arg
    return container, path


def has_trailing_separator(path: str) -> bool:
    return path.endswith("/")


def specifies_current_dir(path: str) -> bool:
    return os.path.basename(path) == "."


def split_path_dir_entry(path: str) -> tuple[str, str]:
    """Go's SplitPathDirEntry: the directory and last entry, a trailing `/.` kept as `.`."""
    cleaned = os.path.normpath(path)
    if specifies_current_dir(path) and cleaned != ".":
        cleaned += "/."
    return os.path.dirname(cleaned) or ".", os.path.basename(cleaned) or cleaned


def rebase_name(path: str, resolved: str) -> tuple[str, str]:
    """Go's GetRebaseName: the resolved path with the original's trailing `/` or `/.`, and the
    name its entries must take when following a link changed the last component."""
    if specifies_current_dir(path) and not specifies_current_dir(resolved):
        resolved += "/."
    if has_trailing_separator(path) and not has_trailing_separator(resolved):
        resolved += "/"
    name = ""
    if os.path.basename(path.rstrip("/")) != os.path.basename(resolved.rstrip("/")):
        name = os.path.basename(path.rstrip("/")) or os.path.basename(path)
    return resolved, name


def source_info(path: str, follow_link: bool) -> CopyInfo:
    """What a host source is (CopyInfoSourcePath); the user's own symlinks are followed as
    docker does: the parent's always, the last one with -L."""
    if follow_link:
        resolved, name = rebase_name(path, os.path.realpath(path))
    else:
        parent, base = os.path.split(path)
        resolved = os.path.join(os.path.realpath(parent or "."), base)
        name = ""
        if has_trailing_separator(path) and os.path.basename(path.rstrip("/")) != os.path.basename(
            resolved.rstrip("/")
        ):
            name = os.path.basename(path.rstrip("/"))
    try:
        st = os.lstat(resolved)
    except OSError as exc:
        raise CliError(f"lstat {resolved}: {_reason(exc)}") from None
    return CopyInfo(resolved, True, stat.S_ISDIR(st.st_mode), name)


def destination_info(path: str) -> CopyInfo:
    """What a host destination is (CopyInfoDestinationPath): symlinks followed, a missing
    path fine when its parent directory exists."""
    original = path
    try:
        st: os.stat_result | None = os.lstat(path)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise CliError(f"lstat {path}: {_reason(exc)}") from None
    links = 0
    while st is not None and stat.S_ISLNK(st.st_mode):
        links += 1
        if links > _MAX_LINKS:
            raise CliError(f"too many symlinks in {original}")
        target = os.readlink(path)
        if not target.startswith("/"):
            target = os.path.join(split_path_dir_entry(path)[0], target)
        path = target
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            st = None
    if st is not None:
        return CopyInfo(path, True, stat.S_ISDIR(st.st_mode))
    parent = split_path_dir_entry(path)[0]
    try:
        parent_st = os.stat(parent)
    except OSError as exc:
        raise CliError(f"stat {parent}: {_reason(exc)}") from None
    if not stat.S_ISDIR(parent_st.st_mode):
        raise CliError(f"stat {parent}: not a directory")
    return CopyInfo(path)


def prepare(src: CopyInfo, dst: CopyInfo) -> tuple[str, tuple[str, str] | None]:
    """PrepareArchiveCopy: the directory to unpack into and the (old, new) first component to
    rename the archive's entries by, if any."""
    dst_dir, dst_base = split_path_dir_entry(dst.path)
    src_base = src.rebase_name or split_path_dir_entry(src.path)[1]
    if dst.exists and dst.is_dir:
        return dst.path, None
    if dst.exists and src.is_dir:
        raise CliError(ERR_CANNOT_COPY_DIR)
    if not dst.exists and not src.is_dir and has_trailing_separator(dst.path):
        raise CliError(ERR_DIR_NOT_EXISTS)
    return dst_dir, (src_base, dst_base)


def rebase(name: str, renaming: tuple[str, str] | None) -> str:
    """An entry's name with its first component renamed (RebaseArchiveEntries)."""
    if renaming is None:
        return name
    old, new = renaming
    if old == "/":
        old = ""
    if name == old or name == old + "/":
        return new + name[len(old) :]
    if name.startswith(old + "/"):
        return new + name[len(old) :]
    return name


# --- to the container: a tar of a host path ---------------------------------------------------

_CHUNK = 1 << 20
_BLOCK = 512


def tar_source(src: CopyInfo, renaming: tuple[str, str] | None) -> BinaryIO:
    """A readable tar stream of the host source, made as it is read (by the upload): entries
    named from the source's last component (or as renamed for the destination), owners
    numeric, mtimes in whole seconds as docker's archives have them; sockets left out."""
    source_dir, source_base = split_path_dir_entry(src.path)
    top = src.rebase_name or source_base
    if renaming is not None:
        top = rebase(top, renaming)
    source = TarSource(_tar_chunks(os.path.join(source_dir, source_base), top))
    return source  # type: ignore[return-value]  # a raw stream, read as a binary file


class TarSource(io.RawIOBase):
    """A readable stream over generated chunks; ``read(n)`` gathers up to n bytes."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes: small chunks gathered (to about a quarter of it), a large
        one passed on whole where it fits (no copy)."""
        limit = _CHUNK if size is None or size < 0 else size
        parts: list[bytes] = []
        have = 0
        if self._pending:
            parts.append(self._pending[:limit])
            self._pending = self._pending[limit:]
            have = len(parts[0])
        while have < limit // 4 and not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            if have + len(chunk) > limit:
                cut = limit - have
                chunk, self._pending = chunk[:cut], chunk[cut:]
            parts.append(chunk)
            have += len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    read1 = read

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)


def _ustar(
    name: bytes, st: os.stat_result, kind: bytes, size: int, linkname: bytes = b""
) -> bytes | None:
    """A plain ustar header when nothing needs pax (short ASCII names, small numbers), else
    None. (tarfile's own costs ~100 µs a header, and ~10 ms to import.)"""
    mtime = int(st.st_mtime)
    if (
        len(name) > 99
        or len(linkname) > 99
        or not name.isascii()
        or not linkname.isascii()
        or max(st.st_uid, st.st_gid) >= 0o7777777
        or size >= 0o77777777777
        or not 0 <= mtime < 0o77777777777
    ):
        return None
    block = bytearray(_BLOCK)
    block[0 : len(name)] = name
    block[100:108] = b"%07o\0" % stat.S_IMODE(st.st_mode)
    block[108:116] = b"%07o\0" % st.st_uid
    block[116:124] = b"%07o\0" % st.st_gid
    block[124:136] = b"%011o\0" % size
    block[136:148] = b"%011o\0" % mtime
    block[148:156] = b"        "
    block[156:157] = kind
    block[157 : 157 + len(linkname)] = linkname
    block[257:265] = b"ustar\x0000"
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def _header(name: str, st: os.stat_result, kind: bytes, linkname: str = "") -> bytes:
    if kind in (_REG, _DIR, _SYM, _LNK):
        size = st.st_size if kind == _REG else 0
        encoded = name.encode("utf-8", "surrogateescape")
        fast = _ustar(encoded, st, kind, size, linkname.encode("utf-8", "surrogateescape"))
        if fast is not None:
            return fast
    import tarfile

    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = stat.S_IMODE(st.st_mode)
    info.uid, info.gid = st.st_uid, st.st_gid
    info.mtime = int(st.st_mtime)
    info.linkname = linkname
    if kind == _REG:
        info.size = st.st_size
    if kind in (_CHR, _BLK):
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _tar_chunks(path: str, top: str) -> Iterator[bytes]:
    links: dict[tuple[int, int], str] = {}
    todo = [(path, top)]
    while todo:
        here, name = todo.pop()
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            continue  # removed while being copied
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            yield _header(name + "/", st, _DIR)
            children = sorted(os.listdir(here), reverse=True)
            todo.extend((os.path.join(here, c), f"{name}/{c}") for c in children)
        elif stat.S_ISREG(mode):
            yield from _file_chunks(here, name, st, links)
        elif stat.S_ISLNK(mode):
            yield _header(name, st, _SYM, os.readlink(here))
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            yield _header(name, st, _CHR if stat.S_ISCHR(mode) else _BLK)
        elif stat.S_ISFIFO(mode):
            yield _header(name, st, _FIFO)
    yield bytes(2 * _BLOCK)


def _file_chunks(
    path: str, name: str, st: os.stat_result, links: dict[tuple[int, int], str]
) -> Iterator[bytes]:
    if st.st_nlink > 1:
        first = links.get((st.st_dev, st.st_ino))
        if first is not None:
            yield _header(name, st, _LNK, first)
            return
        links[(st.st_dev, st.st_ino)] = name
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        opened = os.fstat(fd)
        size = opened.st_size
        yield _header(name, opened, _REG)
        left = size
        while left:
            chunk = os.read(fd, min(left, _CHUNK))
            if not chunk:  # it shrank while being read: keep the header's promise
                yield bytes(left)
                break
            left -= len(chunk)
            yield chunk
        if size % _BLOCK:
            yield bytes(-size % _BLOCK)
    finally:
        os.close(fd)


# --- from the container: unpacking on the host -----------------------------------------------


def untar_to_host(chunks: Iterator[bytes], src: CopyInfo, dst_path: str, keep_owners: bool) -> int:
    """Unpack the container's archive at ``dst_path`` (CopyTo); return the bytes read.
    Entries that would land outside the destination directory are refused."""
    import tarfile

    dst = destination_info(dst_path)
    dst_dir, renaming = prepare(src, dst)
    # -L: the archive is named after the link's target; its entries take the link's name.
    first = (split_path_dir_entry(src.path)[1], src.rebase_name) if src.rebase_name else None
    euid, egid = os.geteuid(), os.getegid()

    def checked(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
        name = rebase(rebase(member.name, first), renaming)
        renamed = member.replace(name=name, deep=False)
        if renamed.islnk():
            renamed.linkname = rebase(rebase(renamed.linkname, first), renaming)
        safe = tarfile.tar_filter(renamed, dest)  # refuses names and links that leave dest
        owner: dict[str, Any] = {} if keep_owners else {"uid": euid, "gid": egid}
        return safe.replace(mode=member.mode, uname="", gname="", deep=False, **owner)

    reader = ChunkStream(chunks)
    try:
        with tarfile.open(fileobj=io.BufferedReader(reader, 1 << 20), mode="r|") as tar:
            for member in tar:
                try:
                    tar.extract(member, dst_dir, numeric_owner=True, filter=checked)
                except tarfile.FilterError as exc:
                    raise CliError(f"refusing to unpack {member.name}: {exc}") from None
    except tarfile.ReadError as exc:
        raise CliError(f"the archive from the daemon is not a valid tar: {exc}") from None
    except OSError as exc:
        raise CliError(f"cannot write to {dst_path}: {_reason(exc)}") from None
    return reader.count


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()
