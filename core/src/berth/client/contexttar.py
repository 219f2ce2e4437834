"""The build context the client sends: a directory tarred on the fly, or a tar from stdin.

As the docker CLI prepares it:

- a directory: walked in name order, files that ``.dockerignore`` leaves out skipped (an ignored
  directory is not entered unless an exception names something under it), the Dockerfile and
  ``.dockerignore`` always kept; symlinks stored as symlinks (never followed), hard links as
  links, sockets skipped, owners 0:0. The tar is produced while it is sent: a stream that reads
  one file at a time, never the whole context in memory;
- ``-f`` is relative to the current directory; a Dockerfile outside the context, or one from
  stdin (``-f -``), is added to the context as ``.dockerfile.<random>`` and named in
  ``.dockerignore``, so the daemon leaves it out of what COPY sees;
- ``-`` as the context: stdin is a tar (plain or compressed, sent as is) or a Dockerfile (sent
  as a context holding only that ``Dockerfile``).
"""

from __future__ import annotations

import io
import os
import stat

from berth.chunkstream import ChunkStream
from berth.dockerignore import DockerignoreError, Matcher, keep_build_files, read_patterns

# typing stays off the client's start-up path (see berth.client.transport)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import BinaryIO

DEFAULT_DOCKERFILE = "Dockerfile"
_BLOCK = 512
_CHUNK = 1 << 20
_MAX_DOCKERFILE = 16 << 20
# Magic numbers of the compressions a context may come in (gzip, bzip2, xz, zstd).
_COMPRESSED = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00", b"\x28\xb5\x2f\xfd")


class ContextError(Exception):
    """The context cannot be prepared; ``str()`` is the line to show."""


class BuildContext:
    """What to send: ``stream`` (the tar) and ``dockerfile`` (its path inside the context)."""

    __slots__ = ("dockerfile", "stream")

    def __init__(self, stream: BinaryIO, dockerfile: str) -> None:
        self.stream = stream
        self.dockerfile = dockerfile


def from_directory(
    directory: str, dockerfile: str | None = None, dockerfile_text: bytes | None = None
) -> BuildContext:
    """The context of a local directory; ``dockerfile_text`` is a Dockerfile read from stdin."""
    try:
        root = os.path.realpath(directory, strict=True)
    except OSError:
        raise ContextError(f"unable to prepare context: path {directory!r} not found") from None
    if not os.path.isdir(root):
        raise ContextError(f"unable to prepare context: {directory!r} is not a directory")
    extra: tuple[str, bytes] | None = None
    if dockerfile_text is not None:
        relative = _random_dockerfile_name()
        extra = (relative, dockerfile_text)
    else:
        relative, outside = _locate_dockerfile(root, dockerfile)
        if outside is not None:
            extra = (_random_dockerfile_name(), _read_dockerfile(outside))
            relative = extra[0]
    patterns = _read_dockerignore(root)
    try:
        matcher = Matcher(keep_build_files(patterns, "" if extra else relative))
    except DockerignoreError as exc:
        raise ContextError(f"error checking context: .dockerignore: {exc}") from None
    entries = list(_walk(root, matcher))
    blocks = _tar_blocks(entries, extra, name_extra_in_dockerignore=True)
    return BuildContext(_binary(ChunkStream(blocks)), relative)


def from_stdin(stdin: BinaryIO, dockerfile: str | None = None) -> BuildContext:
    """The context read from stdin: a tar (any compression) as is, or a lone Dockerfile."""
    head = _read_up_to(stdin, _BLOCK)
    if _is_archive(head):
        return BuildContext(_binary(_Prefixed(head, stdin)), dockerfile or DEFAULT_DOCKERFILE)
    text = head + _read_limited(stdin, _MAX_DOCKERFILE - len(head), "the Dockerfile on stdin")
    blocks = _tar_blocks([], (DEFAULT_DOCKERFILE, text), name_extra_in_dockerignore=False)
    return BuildContext(_binary(ChunkStream(blocks)), DEFAULT_DOCKERFILE)


def read_dockerfile_stdin(stdin: BinaryIO) -> bytes:
    """A Dockerfile given as ``-f -``."""
    return _read_limited(stdin, _MAX_DOCKERFILE, "the Dockerfile on stdin")


# ---- the Dockerfile and .dockerignore ----


def _locate_dockerfile(root: str, given: str | None) -> tuple[str, str | None]:
    """(path inside the context, None) or (random name, path of a Dockerfile outside it)."""
    if given:
        path = os.path.abspath(given)  # -f is relative to the current directory, as docker's
    else:
        path = os.path.join(root, DEFAULT_DOCKERFILE)
        lower = os.path.join(root, DEFAULT_DOCKERFILE.lower())
        if not os.path.lexists(path) and os.path.lexists(lower):
            path = lower
    try:
        path = os.path.realpath(path, strict=True)
    except OSError:
        raise ContextError(
            f"unable to prepare context: Cannot locate specified Dockerfile: {given or path}"
        ) from None
    if not os.path.isfile(path):
        raise ContextError(f"unable to prepare context: the Dockerfile {path} is not a file")
    relative = os.path.relpath(path, root)
    if relative == ".." or relative.startswith("../"):
        return "", path
    return relative.replace(os.sep, "/"), None


def _read_dockerfile(path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return _read_limited(file, _MAX_DOCKERFILE, path)
    except OSError as exc:
        raise ContextError(f"unable to open Dockerfile: {exc.strerror}: {path}") from None


def _read_dockerignore(root: str) -> list[str]:
    try:
        with open(os.path.join(root, ".dockerignore"), "rb") as file:
            text = file.read().decode("utf-8", "surrogateescape")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ContextError(f"error checking context: .dockerignore: {exc.strerror}") from None
    return read_patterns(text)


def _random_dockerfile_name() -> str:
    return ".dockerfile." + os.urandom(10).hex()


# ---- walking the directory ----


class _Entry:
    __slots__ = ("info", "name", "path")

    def __init__(self, name: str, path: str, info: os.stat_result) -> None:
        self.name = name  # inside the context, "/"-separated
        self.path = path  # on this machine
        self.info = info


def _walk(root: str, matcher: Matcher) -> Iterator[_Entry]:
    """Entries to send, depth first, names in byte order (as Go's filepath.Walk)."""
    stack: list[Iterator[str]] = [iter(_names(root, ""))]
    while stack:
        relative = next(stack[-1], None)
        if relative is None:
            stack.pop()
            continue
        path = os.path.join(root, relative)
        try:
            info = os.lstat(path)
        except OSError as exc:
            raise ContextError(
                f"error checking context: can't stat '{path}': {exc.strerror}"
            ) from None
        is_dir = stat.S_ISDIR(info.st_mode)
        if matcher.ignored(relative):
            if is_dir and matcher.has_exceptions and matcher.may_include_below(relative):
                stack.append(iter(_names(root, relative)))
            continue
        if stat.S_ISSOCK(info.st_mode):
            continue
        if stat.S_ISREG(info.st_mode) and not os.access(path, os.R_OK):
            # found now, not half-way through sending, as docker's check of the context
            raise ContextError(f"error checking context: no permission to read from '{path}'")
        yield _Entry(relative, path, info)
        if is_dir:
            stack.append(iter(_names(root, relative)))


def _names(root: str, relative_dir: str) -> list[str]:
    directory = os.path.join(root, relative_dir)
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        raise ContextError(f"error checking context: {exc.strerror}: {directory}") from None
    return [f"{relative_dir}/{name}" if relative_dir else name for name in names]


# ---- the tar ----


def _tar_blocks(
    entries: list[_Entry], extra: tuple[str, bytes] | None, name_extra_in_dockerignore: bool
) -> Iterator[bytes]:
    """The tar of ``entries`` plus ``extra`` (a Dockerfile from elsewhere: name, text), in
    pieces. Only OSError may escape: the upload thread reports that one."""
    links: dict[tuple[int, int], str] = {}
    saw_dockerignore = False
    for entry in entries:
        if extra is not None and name_extra_in_dockerignore and entry.name == ".dockerignore":
            saw_dockerignore = True
            with open(entry.path, "rb") as file:
                content = file.read() + b"\n" + extra[0].encode() + b"\n"
            yield from _file_blocks(_header(entry), content)
            continue
        yield from _entry_blocks(entry, links)
    if extra is not None:
        name, content = extra
        if name_extra_in_dockerignore and not saw_dockerignore:
            ignore = b".dockerignore\n" + name.encode() + b"\n"
            yield from _file_blocks(_generated_header(".dockerignore"), ignore)
        # docker writes a Dockerfile from stdin to a file (0644) when it is the whole context
        mode = 0o600 if name_extra_in_dockerignore else 0o644
        yield from _file_blocks(_generated_header(name, mode), content)
    yield b"\0" * (2 * _BLOCK)


# Entry types of a tar header.
REGTYPE, LNKTYPE, SYMTYPE, CHRTYPE, BLKTYPE, DIRTYPE, FIFOTYPE = (b"%d" % n for n in range(7))
_OCTAL_LIMITS = {8: 8**7, 12: 8**11}


class _Header:
    """One tar header (tarfile is imported only for what plain ustar cannot say: it costs
    more start-up time than a small build takes)."""

    __slots__ = ("devmajor", "devminor", "linkname", "mode", "mtime", "name", "size", "type")

    def __init__(self, name: str, type_: bytes, mode: int, mtime: int) -> None:
        self.name = name
        self.type = type_
        self.mode = mode
        self.mtime = mtime
        self.size = 0
        self.linkname = ""
        self.devmajor = self.devminor = 0

    def encode(self) -> bytes:
        """Plain ustar when it fits (nearly always), else tarfile's PAX headers."""
        return self._ustar() or self._pax()

    def _ustar(self) -> bytes | None:
        name = self.name + ("/" if self.type == DIRTYPE else "")
        if not (name.isascii() and self.linkname.isascii()) or "\0" in name:
            return None
        raw_name, raw_link = name.encode(), self.linkname.encode()
        numbers = (
            (self.mode, 8),
            (self.size, 12),
            (self.mtime, 12),
            (self.devmajor, 8),
            (self.devminor, 8),
        )
        if len(raw_name) > 100 or len(raw_link) > 100:
            return None
        if any(not 0 <= value < _OCTAL_LIMITS[width] for value, width in numbers):
            return None
        device = self.type in (CHRTYPE, BLKTYPE)
        zero = b"0000000\0"
        block = b"".join(
            (
                raw_name.ljust(100, b"\0"),
                b"%07o\0" % self.mode,
                zero,  # uid
                zero,  # gid
                b"%011o\0" % self.size,
                b"%011o\0" % self.mtime,
                b" " * 8,  # the checksum, counted as spaces
                self.type,
                raw_link.ljust(100, b"\0"),
                b"ustar\x0000",
                b"\0" * 64,  # owner and group names
                b"%07o\0" % self.devmajor if device else b"\0" * 8,  # as tarfile writes them
                b"%07o\0" % self.devminor if device else b"\0" * 8,
                b"\0" * 167,  # prefix and padding
            )
        )
        return block[:148] + b"%06o\0 " % sum(block) + block[156:]

    def _pax(self) -> bytes:
        import tarfile

        info = tarfile.TarInfo(self.name)
        info.type, info.mode, info.mtime, info.size = self.type, self.mode, self.mtime, self.size
        info.linkname, info.devmajor, info.devminor = self.linkname, self.devmajor, self.devminor
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _header(entry: _Entry) -> _Header:
    mode = entry.info.st_mode
    header = _Header(entry.name, REGTYPE, stat.S_IMODE(mode), int(entry.info.st_mtime))
    if stat.S_ISDIR(mode):
        header.type = DIRTYPE
    elif stat.S_ISLNK(mode):
        header.type = SYMTYPE
        header.linkname = os.readlink(entry.path)
    elif stat.S_ISFIFO(mode):
        header.type = FIFOTYPE
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        header.type = CHRTYPE if stat.S_ISCHR(mode) else BLKTYPE
        header.devmajor = os.major(entry.info.st_rdev)
        header.devminor = os.minor(entry.info.st_rdev)
    else:
        header.size = entry.info.st_size
    return header


def _generated_header(name: str, mode: int = 0o600) -> _Header:
    import time

    return _Header(name, REGTYPE, mode, int(time.time()))


def _file_blocks(info: _Header, content: bytes) -> Iterator[bytes]:
    info.size = len(content)
    yield info.encode()
    yield content + _padding(len(content))


def _padding(size: int) -> bytes:
    return b"\0" * (-size % _BLOCK)


def _entry_blocks(entry: _Entry, links: dict[tuple[int, int], str]) -> Iterator[bytes]:
    info = _header(entry)
    if info.type == REGTYPE and entry.info.st_nlink > 1:
        key = (entry.info.st_dev, entry.info.st_ino)
        first = links.setdefault(key, entry.name)
        if first != entry.name:
            info.type = LNKTYPE
            info.linkname = first
            info.size = 0
    yield info.encode()
    if info.type != REGTYPE:
        return
    remaining = info.size
    with open(entry.path, "rb") as file:
        while remaining:
            data = file.read(min(_CHUNK, remaining))
            if not data:
                raise OSError(5, "the file shrank while the context was being sent", entry.path)
            remaining -= len(data)
            yield data
    yield _padding(info.size)


# ---- streams ----


class _Prefixed(io.RawIOBase):
    """``head`` (bytes already read to sniff the stream) then the rest of ``stream``."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = memoryview(head)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            count = min(len(buffer), len(self._head))
            buffer[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _binary(stream: io.RawIOBase) -> BinaryIO:
    """A raw stream where a binary file is expected (what `typing.cast` says, without typing)."""
    return stream  # type: ignore[return-value]


def _read_up_to(stream: BinaryIO, size: int) -> bytes:
    parts: list[bytes] = []
    wanted = size
    while wanted > 0:
        data = stream.read(wanted)
        if not data:
            break
        parts.append(data)
        wanted -= len(data)
    return b"".join(parts)


def _read_limited(stream: BinaryIO, limit: int, what: str) -> bytes:
    data = _read_up_to(stream, limit + 1)
    if len(data) > limit:
        raise ContextError(f"{what} is larger than {limit >> 20} MiB")
    return data


def _is_archive(head: bytes) -> bool:
    """Compressed, or a first block that is a tar header (its checksum is right), as docker
    decides whether stdin is an archive or a Dockerfile."""
    if head.startswith(_COMPRESSED):
        return True
    if len(head) < _BLOCK or not head.strip(b"\0"):
        return False
    field = head[148:156].replace(b"\0", b" ").strip()
    try:
        recorded = int(field, 8)
    except ValueError:
        return False
    block = head[:148] + b" " * 8 + head[156:_BLOCK]
    unsigned = sum(block)
    signed = sum(byte - 256 if byte > 127 else byte for byte in block)
    return recorded in (unsigned, signed)
