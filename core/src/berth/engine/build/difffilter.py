"""The changes a RUN step made, without what the engine itself put into the container.

A container's writable layer also holds the mount points the engine creates at start
(``/etc/hosts``, ``/proc``, ``/dev/pts``, …); Docker keeps them in a separate init layer, so
they never reach a built image. This filter copies a layer tar entry by entry, raw, leaving out
those paths, and the directories (``/etc``, ``/dev``) that appear only because of them.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO

from berth.chunkstream import ChunkStream
from berth.engine.containers.service import INIT_PATHS
from berth.plugins.layers.tarwriter import BLOCK, END_OF_ARCHIVE

if TYPE_CHECKING:
    pass

_DROPPED = frozenset(p.lstrip("/") for p in INIT_PATHS)
_MOUNT_TREES = ("proc/", "sys/", "dev/pts/", "dev/shm/", "dev/mqueue/")
#: Directories that hold init paths: kept only when something else in them changed.
_HOLDERS = frozenset(p.rpartition("/")[0] for p in _DROPPED if "/" in p)
_META = frozenset(b"xgLK")  # pax (per entry, global), GNU long name / long link


def _size(header: bytes) -> int:
    field = header[124:136]
    if field[0] & 0x80:
        return int.from_bytes(field[1:], "big")
    text = field.rstrip(b"\0 ").strip()
    return int(text, 8) if text else 0


def _name(header: bytes, meta: list[tuple[int, bytes]]) -> str:
    for kind, data in meta:
        if kind == ord("x"):
            for record in _pax_records(data):
                key, _, value = record.partition(b"=")
                if key == b"path":
                    return value.decode("utf-8", "surrogateescape")
        elif kind == ord("L"):
            return data.rstrip(b"\0").decode("utf-8", "surrogateescape")
    name = header[0:100].split(b"\0", 1)[0]
    if header[257:262] == b"ustar":
        prefix = header[345:500].split(b"\0", 1)[0]
        if prefix:
            name = prefix + b"/" + name
    return name.decode("utf-8", "surrogateescape")


def _pax_records(data: bytes) -> Iterator[bytes]:
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos)
        if space < 0:
            return
        try:
            length = int(data[pos:space])
        except ValueError:
            return
        if length <= 0:
            return
        yield data[space + 1 : pos + length].rstrip(b"\n")
        pos += length


def _clean(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/").rstrip("/")


def _dropped(name: str) -> bool:
    return name in _DROPPED or any(
        (name + "/").startswith(t) and name + "/" != t for t in _MOUNT_TREES
    )


class _Reader:
    def __init__(self, raw: BinaryIO) -> None:
        self.raw = raw

    def exactly(self, size: int) -> bytes:
        parts, got = [], 0
        while got < size:
            chunk = self.raw.read(min(size - got, 1 << 20))
            if not chunk:
                raise ValueError("the container's changes ended in the middle of an entry")
            parts.append(chunk)
            got += len(chunk)
        return b"".join(parts)


def _entries(raw: BinaryIO) -> Iterator[bytes]:
    reader = _Reader(raw)
    held: dict[str, bytes] = {}  # holder directories not yet known to be needed
    while True:
        block = raw.read(BLOCK)
        if not block or len(block) < BLOCK or block == bytes(BLOCK):
            break
        meta: list[tuple[int, bytes]] = []
        prefix = b""
        while block[156] in _META:
            size = _size(block)
            data = reader.exactly(size + (-size % BLOCK))
            meta.append((block[156], data[:size]))
            prefix += block + data
            block = reader.exactly(BLOCK)
        size = _size(block)
        kind = block[156]
        has_data = kind not in b"12345"  # links, devices, directories carry no data
        body_size = size + (-size % BLOCK) if has_data else 0
        name = _clean(_name(block, meta))
        if _dropped(name):
            _skip(reader, body_size)
            continue
        whole = prefix + block
        if name in _HOLDERS and kind == ord("5"):
            held[name] = whole  # a directory entry: no data
            continue
        for holder in [h for h in held if name.startswith(h + "/")]:
            yield held.pop(holder)
        yield whole
        left = body_size
        while left:
            chunk = raw.read(min(left, 1 << 20))
            if not chunk:
                raise ValueError("the container's changes ended in the middle of a file")
            left -= len(chunk)
            yield chunk
    yield END_OF_ARCHIVE


def _skip(reader: _Reader, size: int) -> None:
    while size:
        chunk = reader.raw.read(min(size, 1 << 20))
        if not chunk:
            return
        size -= len(chunk)


def filtered_diff(raw: BinaryIO) -> BinaryIO:
    return io.BufferedReader(ChunkStream(_entries(raw), raw.close), 1 << 20)
