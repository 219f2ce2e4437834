"""A lean, streaming reader of tar archives (POSIX ustar and pax, GNU and old v7 headers).

It reads its input in large blocks into one reusable buffer, so that many small entries cost
one ``readinto`` of the stream between them, and hands out each entry's data without reading
it whole: a caller writes it to a file descriptor (:meth:`TarReader.copy_to`) or skips it.
What it understands: pax extended headers (``path``, ``linkpath``, ``size``, ``uid``, ``gid``,
``mtime``/``atime`` with nanoseconds, ``SCHILY.xattr.*``, ``LIBARCHIVE.xattr.*``,
``SCHILY.devmajor``/``devminor``, global headers), GNU long names and link names, base-256
numbers, and sparse files (GNU ``S`` entries and pax sparse formats 0.0, 0.1 and 1.0).
Anything malformed raises :class:`LayerError` with one line saying what.
"""

from __future__ import annotations

import base64
import os
import re
import struct
import urllib.parse
from collections.abc import Callable, Iterator
from typing import BinaryIO
from zlib import adler32

from berth.plugins.layers.errors import LayerError, show

BLOCK = 512
_ZERO_BLOCK = bytes(BLOCK)
#: The largest pax header or GNU long name accepted (as Go's archive/tar: 1 MiB).
MAX_META_SIZE = 1 << 20
#: The most segments a sparse file may have.
MAX_SPARSE_SEGMENTS = 1 << 20
_BUFSIZE = 1 << 20

# Entry types (the typeflag byte).
REG = ord("0")
LNK = ord("1")
SYM = ord("2")
CHR = ord("3")
BLK = ord("4")
DIR = ord("5")
FIFO = ord("6")
_CONT = ord("7")
_AREG = 0
_PAX = ord("x")
_PAX_GLOBAL = ord("g")
_GNU_LONGNAME = ord("L")
_GNU_LONGLINK = ord("K")
_GNU_SPARSE = ord("S")
_GNU_DUMPDIR = ord("D")
GNU_VOLHDR = ord("V")  # a volume label: no content

_HEADER_ONLY = frozenset((LNK, SYM, CHR, BLK, DIR, FIFO))
_META_KINDS = frozenset((_PAX, _PAX_GLOBAL, _GNU_LONGNAME, _GNU_LONGLINK))
# name, mode to checksum, typeflag, (linkname), magic; the rest is sliced when needed: linkname
# at 157, devmajor at 329, devminor at 337, the ustar prefix at 345 (GNU keeps other things
# where the prefix is).
_HEADER = struct.Struct("100s56sB100x6s")
# The numeric fields mode, uid, gid, size, mtime and checksum as every common writer formats
# them: zero-padded octal ended by a NUL or a space. Others go through _number one by one.
_NUMBERS = re.compile(
    rb"([0-7]{7})[\0 ]([0-7]{7})[\0 ]([0-7]{7})[\0 ]([0-7]{11})[\0 ]([0-7]{11})[\0 ]"
    rb"(?:([0-7]{6})[\0 ][\0 ]|([0-7]{7})[\0 ])"
)
_ZERO_ID = b"0000000"
_POSIX_MAGIC = b"ustar\x00"
_NS = 1_000_000_000


#: What :meth:`TarReader.next_plain` gives: name, mode, uid, gid, size, mtime_ns.
PlainFile = tuple[bytes, int, int, int, int, int]


class TarEntry:
    """One member of the archive, its data not yet read."""

    # What most entries do not have, as class defaults (cheaper than setting each).
    atime_ns: int | None = None
    linkname: bytes = b""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] | None = None
    sparse: list[tuple[int, int]] | None = None  # (offset, length) of the stored data

    def __init__(
        self, name: bytes, kind: int, mode: int, uid: int, gid: int, size: int, mtime_ns: int
    ) -> None:
        self.name = name  # as in the archive: maybe with "./", a trailing "/" or worse
        self.kind = kind  # REG, LNK, SYM, CHR, BLK, DIR or FIFO
        self.mode = mode  # permission bits, with setuid/setgid/sticky
        self.uid = uid
        self.gid = gid
        self.size = size  # bytes of data stored in the archive
        self.mtime_ns = mtime_ns
        self.realsize = size  # the file's size once unpacked (differs for sparse files)

    def __repr__(self) -> str:
        return f"TarEntry({self.name!r}, kind={chr(self.kind)!r}, size={self.size})"


def _number(field: bytes, what: str) -> int:
    """A numeric header field: octal text, or GNU base-256 (high bit set)."""
    try:  # the usual "0000644\0"; int() refuses NULs inside and base-256 bytes
        return int(field.rstrip(b" \0") or b"0", 8)
    except ValueError:
        pass
    if field and field[0] & 0x80:
        if field[0] == 0xFF:
            return int.from_bytes(field, "big", signed=True)
        return int.from_bytes(bytes([field[0] & 0x7F]) + field[1:], "big")
    text = field.split(b"\0", 1)[0].strip(b" ")
    if not text:
        return 0
    if text.isdigit():
        try:
            return int(text, 8)
        except ValueError:
            pass
    raise LayerError(f"layer tar has a bad {what} field {show(field)!r} (not a tar archive?)")


def _checksum(block: memoryview) -> int:
    """The sum of a header's bytes, its checksum field counted as spaces. adler32's low half
    is 1 + the byte sum modulo 65521: exact for up to 256 bytes at a time."""
    return (
        (adler32(block[:148]) & 0xFFFF)
        + (adler32(block[156:412]) & 0xFFFF)
        + (adler32(block[412:]) & 0xFFFF)
        + 253  # 8 spaces, minus the three 1s
    )


def _signed_checksum_ok(hdr: bytes, total: int, stored: int) -> bool:
    """Some old tars summed the header's bytes as signed chars."""
    high = sum(1 for b in hdr[:148] if b >= 0x80) + sum(1 for b in hdr[156:] if b >= 0x80)
    return total - 256 * high == stored


def _cstring(field: bytes) -> bytes:
    end = field.find(b"\0")
    return field if end < 0 else field[:end]


def _pax_time(value: bytes) -> int:
    """A pax time ("1700000000.123456789", maybe negative) in nanoseconds."""
    text = value.decode("ascii", "replace")
    negative = text.startswith("-")
    if negative:
        text = text[1:]
    whole, _, frac = text.partition(".")
    if not whole.isdigit() or (frac and not frac.isdigit()):
        raise LayerError(f"layer tar has a bad pax time {show(value)!r}")
    ns = int(whole) * _NS + int((frac + "000000000")[:9])
    return -ns if negative else ns


def _pax_int(value: bytes, key: bytes) -> int:
    if not value.isdigit():
        raise LayerError(f"layer tar has a bad pax {show(key)} value {show(value)!r}")
    return int(value)


def parse_pax(data: bytes) -> list[tuple[bytes, bytes]]:
    """The records ``"<length> <key>=<value>\\n"`` of a pax extended header, in order."""
    records: list[tuple[bytes, bytes]] = []
    pos = 0
    end = len(data)
    while pos < end:
        if data[pos] == 0:  # padding after the last record
            if data[pos:].strip(b"\0"):
                break
            return records
        space = data.find(b" ", pos, min(end, pos + 24))
        length_text = data[pos:space] if space > pos else b""
        if not length_text.isdigit():
            break
        length = int(length_text)
        stop = pos + length
        if length <= len(length_text) + 1 or stop > end or data[stop - 1] != 0x0A:
            break
        key, eq, value = data[space + 1 : stop - 1].partition(b"=")
        if not eq or not key:
            break
        records.append((key, value))
        pos = stop
    else:
        return records
    raise LayerError("layer tar has a malformed pax extended header")


class TarReader:
    """Entries of a tar stream, one at a time: ``while (entry := reader.next()) is not None``.

    After :meth:`next` returns an entry, its data is written out with :meth:`copy_to` or
    skipped (the next call to :meth:`next` skips what is left).
    The whole stream is read, up to its end, past the end-of-archive marker.
    """

    def __init__(self, stream: BinaryIO, bufsize: int = _BUFSIZE) -> None:
        self._stream = stream
        self._readinto: Callable[[memoryview], int | None] | None = getattr(
            stream, "readinto", None
        )
        self._buf = bytearray(bufsize)
        self._view = memoryview(self._buf)
        self._pos = 0
        self._end = 0
        self._left = 0  # data bytes of the current entry not read yet
        self._pad = 0  # padding after them
        self._global: dict[bytes, bytes] = {}
        self._done = False
        #: bytes read from the stream so far
        self.total = 0

    # -- input -------------------------------------------------------------------------------

    def _more(self, where: memoryview) -> int:
        try:
            if self._readinto is not None:
                n = self._readinto(where)
            else:
                chunk = self._stream.read(len(where))
                n = len(chunk)
                where[:n] = chunk
        except LayerError:
            raise
        except OSError as exc:
            raise LayerError(f"cannot read the layer: {exc.strerror or exc}") from exc
        except Exception as exc:  # decompressors' own errors: zlib.error, EOFError, ZstdError...
            raise LayerError(f"cannot read the layer: {exc}") from exc
        if n is None:
            raise LayerError("cannot read the layer: the stream is non-blocking")
        self.total += n
        return int(n)

    def _fill(self, need: int) -> bool:
        """Make ``need`` bytes available at the read position; False at the end of input."""
        avail = self._end - self._pos
        if avail >= need:
            return True
        if self._pos:
            self._buf[:avail] = bytes(self._view[self._pos : self._end])
            self._pos = 0
            self._end = avail
        while self._end < need:
            n = self._more(self._view[self._end :])
            if not n:
                return False
            self._end += n
        return True

    def _skip(self, count: int) -> None:
        while count:
            avail = self._end - self._pos
            if not avail:
                self._pos = self._end = 0
                avail = self._end = self._more(self._view)
                if not avail:
                    raise LayerError("layer tar is truncated (it ends inside an entry's data)")
            take = min(avail, count)
            self._pos += take
            count -= take

    def _read_bytes(self, size: int) -> bytes:
        """``size`` bytes (at most the buffer's size), then the padding after them."""
        padded = -size % BLOCK + size
        if not self._fill(padded):
            raise LayerError("layer tar is truncated (it ends inside an extended header)")
        data = bytes(self._view[self._pos : self._pos + size])
        self._pos += padded
        return data

    # -- entries -----------------------------------------------------------------------------

    def next_plain(self) -> PlainFile | None:
        """The next entry if it is a plain regular file its header says all about (no pax or
        GNU record before it, no ustar prefix, the usual octal fields, a good checksum): its
        header is consumed and its data comes next. None, with nothing consumed, for anything
        else: then :meth:`next` reads it. (A short way for the most common entry.)"""
        pos = self._pos
        if self._left or self._pad or self._end - pos < BLOCK or self._global:
            return None
        name, numbers, kind, magic = _HEADER.unpack_from(self._view, pos)
        if kind != REG or not name[0]:
            return None
        match = _NUMBERS.fullmatch(numbers)
        if match is None:
            return None
        mode_f, uid_f, gid_f, size_f, mtime_f, chk6, chk7 = match.groups()
        block = self._view[pos : pos + BLOCK]
        if _checksum(block) != int(chk6 or chk7, 8) or (magic == _POSIX_MAGIC and block[345]):
            return None
        end = name.find(b"\0")
        if end >= 0:
            name = name[:end]
        size = int(size_f, 8)
        self._pos = pos + BLOCK
        self._left = size
        self._pad = -size % BLOCK
        return (
            name,
            int(mode_f, 8) & 0o7777,
            0 if uid_f == _ZERO_ID else int(uid_f, 8),
            0 if gid_f == _ZERO_ID else int(gid_f, 8),
            size,
            int(mtime_f, 8) * _NS,
        )

    def next(self) -> TarEntry | None:
        """The next entry, or None after the end-of-archive marker (the stream is then read to
        its end)."""
        if self._done:
            return None
        if self._left or self._pad:
            self._skip(self._left + self._pad)
            self._left = self._pad = 0
        pax: list[tuple[bytes, bytes]] | None = None
        long_name: bytes | None = None
        long_link: bytes | None = None
        view = self._view
        while True:
            pos = self._pos
            if self._end - pos < BLOCK:
                if not self._fill(BLOCK):
                    pending = pax is not None or long_name is not None or long_link is not None
                    if self._end == self._pos and not pending:
                        raise LayerError(
                            "layer tar ends without its end-of-archive marker (truncated?)"
                        )
                    raise LayerError("layer tar is truncated (it ends inside an entry header)")
                pos = self._pos
            self._pos = pos + BLOCK
            name, numbers, kind, magic = _HEADER.unpack_from(view, pos)
            block = view[pos : pos + BLOCK]
            if not name[0] and block == _ZERO_BLOCK:
                if pax is not None or long_name is not None or long_link is not None:
                    raise LayerError("layer tar ends right after an extended header")
                self._finish()
                return None
            match = _NUMBERS.fullmatch(numbers)
            if match is not None:
                mode_f, uid_f, gid_f, size_f, mtime_f, chk6, chk7 = match.groups()
                size = int(size_f, 8)
                stored = int(chk6 or chk7, 8)
            else:
                mode_f, uid_f, gid_f = numbers[:8], numbers[8:16], numbers[16:24]
                size_f, mtime_f = numbers[24:36], numbers[36:48]
                stored = _number(numbers[48:56], "checksum")
            total = _checksum(block)
            if total != stored and not _signed_checksum_ok(bytes(block), total, stored):
                raise LayerError(
                    "layer tar has a corrupt header (bad checksum) after "
                    f"{self.total - (self._end - pos)} bytes (not a tar archive?)"
                )
            if match is None:
                size = _number(size_f, "size")
            if size < 0:
                raise LayerError(f"layer tar has an entry with a negative size ({size})")
            if kind in _META_KINDS:
                if size > MAX_META_SIZE:
                    raise LayerError(
                        f"layer tar has an extended header of {size} bytes; "
                        f"at most {MAX_META_SIZE} are accepted"
                    )
                data = self._read_bytes(size)
                if kind == _PAX:
                    if pax is None:
                        pax = []
                    pax.extend(parse_pax(data))
                elif kind == _PAX_GLOBAL:
                    for key, value in parse_pax(data):
                        if value:
                            self._global[key] = value
                        else:
                            self._global.pop(key, None)
                elif kind == _GNU_LONGNAME:
                    long_name = _cstring(data)
                else:
                    long_link = _cstring(data)
                continue
            # The entry itself.
            if long_name is not None:
                name = long_name
            else:
                end = name.find(b"\0")
                if end >= 0:
                    name = name[:end]
                if magic == _POSIX_MAGIC and block[345]:
                    name = _cstring(bytes(block[345:500])) + b"/" + name
            typeflag = kind
            if kind == REG:
                pass
            elif kind == _AREG:
                kind = DIR if name.endswith(b"/") else REG
            elif kind == _CONT:
                kind = REG
            elif kind == _GNU_DUMPDIR:
                kind = DIR
            if match is not None:
                entry = TarEntry(
                    name,
                    kind,
                    int(mode_f, 8) & 0o7777,
                    0 if uid_f == _ZERO_ID else int(uid_f, 8),
                    0 if gid_f == _ZERO_ID else int(gid_f, 8),
                    size,
                    int(mtime_f, 8) * _NS,
                )
            else:
                entry = TarEntry(
                    name,
                    kind,
                    _number(mode_f, "mode") & 0o7777,
                    _number(uid_f, "uid"),
                    _number(gid_f, "gid"),
                    size,
                    _number(mtime_f, "mtime") * _NS,
                )
            if kind != REG:
                if kind in (SYM, LNK):
                    if long_link is None:
                        long_link = _cstring(bytes(block[157:257]))
                    entry.linkname = long_link
                elif kind in (CHR, BLK):
                    entry.devmajor = _number(bytes(block[329:337]), "devmajor")
                    entry.devminor = _number(bytes(block[337:345]), "devminor")
            if self._global:
                pax = [*self._global.items(), *(pax or ())]
            if pax is not None:
                self._apply_pax(entry, pax)
                if entry.sparse is not None and entry.kind == REG:
                    self._check_sparse(entry)
            if kind != REG:
                if kind == _GNU_SPARSE:
                    self._gnu_sparse(entry, bytes(block))
                elif entry.kind in _HEADER_ONLY and typeflag != _GNU_DUMPDIR:
                    entry.size = entry.realsize = 0  # no data follows, whatever size says (Go)
            if match is None and (entry.uid < 0 or entry.gid < 0):
                raise LayerError(f"layer entry '{show(entry.name)}' has a negative owner")
            size = entry.size
            self._left = size
            self._pad = -size % BLOCK
            return entry

    def _finish(self) -> None:
        """After the end-of-archive marker: read the rest of the stream (a hashing reader
        wrapped around the stream must see all of it)."""
        self._done = True
        self._pos = self._end = 0
        while self._more(self._view):
            pass

    def _apply_pax(self, entry: TarEntry, records: list[tuple[bytes, bytes]]) -> None:
        sparse_offsets: list[int] = []
        sparse_lengths: list[int] = []
        sparse_version: tuple[bytes, bytes] = (b"", b"")
        for key, value in records:
            if key == b"path":
                if value:
                    entry.name = value
            elif key == b"linkpath":
                entry.linkname = value
            elif key == b"size":
                entry.size = entry.realsize = _pax_int(value, key)
            elif key == b"uid":
                entry.uid = _pax_int(value, key)
            elif key == b"gid":
                entry.gid = _pax_int(value, key)
            elif key == b"mtime":
                entry.mtime_ns = _pax_time(value)
            elif key == b"atime":
                entry.atime_ns = _pax_time(value)
            elif key.startswith(b"SCHILY.xattr."):
                if entry.xattrs is None:
                    entry.xattrs = {}
                entry.xattrs[key[13:].decode("utf-8", "surrogateescape")] = value
            elif key.startswith(b"LIBARCHIVE.xattr."):
                if entry.xattrs is None:
                    entry.xattrs = {}
                xname = urllib.parse.unquote_to_bytes(key[17:])
                try:
                    xvalue = base64.b64decode(value + b"=" * (-len(value) % 4))
                except ValueError as exc:
                    raise LayerError("layer tar has a bad LIBARCHIVE.xattr value") from exc
                entry.xattrs.setdefault(xname.decode("utf-8", "surrogateescape"), xvalue)
            elif key == b"SCHILY.devmajor":
                entry.devmajor = _pax_int(value, key)
            elif key == b"SCHILY.devminor":
                entry.devminor = _pax_int(value, key)
            elif key.startswith(b"GNU.sparse."):
                field = key[11:]
                if field == b"name":
                    entry.name = value
                elif field in (b"size", b"realsize"):
                    entry.realsize = _pax_int(value, key)
                elif field == b"offset":
                    sparse_offsets.append(_pax_int(value, key))
                elif field == b"numbytes":
                    sparse_lengths.append(_pax_int(value, key))
                elif field == b"map":
                    numbers = [_pax_int(v, key) for v in value.split(b",")] if value else []
                    if len(numbers) % 2:
                        raise LayerError("layer tar has a bad GNU.sparse.map")
                    sparse_offsets = numbers[0::2]
                    sparse_lengths = numbers[1::2]
                    entry.sparse = []
                elif field == b"major":
                    sparse_version = (value, sparse_version[1])
                elif field == b"minor":
                    sparse_version = (sparse_version[0], value)
        if sparse_version == (b"1", b"0"):
            entry.sparse = [(-1, -1)]  # the map is at the start of the data: read it later
        elif sparse_offsets or sparse_lengths or entry.sparse is not None:
            if len(sparse_offsets) != len(sparse_lengths):
                raise LayerError("layer tar has a bad sparse map (offsets without lengths)")
            entry.sparse = list(zip(sparse_offsets, sparse_lengths, strict=True))
        if entry.sparse is not None and entry.kind == _GNU_SPARSE:
            raise LayerError("layer tar has a GNU sparse entry with a pax sparse map")

    def _gnu_sparse(self, entry: TarEntry, hdr: bytes) -> None:
        """An old GNU sparse entry: four map slots in the header, more in extension blocks."""
        entry.kind = REG
        segments: list[tuple[int, int]] = []
        block, slots, extended_at = hdr, range(386, 482, 24), 482
        while True:
            for at in slots:
                if block[at]:
                    segments.append(
                        (
                            _number(block[at : at + 12], "sparse offset"),
                            _number(block[at + 12 : at + 24], "sparse length"),
                        )
                    )
            if not block[extended_at]:
                break
            if len(segments) > MAX_SPARSE_SEGMENTS:
                raise LayerError("layer tar has a sparse file with too many segments")
            if not self._fill(BLOCK):
                raise LayerError("layer tar is truncated (it ends inside a sparse map)")
            block = bytes(self._view[self._pos : self._pos + BLOCK])
            self._pos += BLOCK
            slots, extended_at = range(0, 504, 24), 504
        entry.realsize = _number(hdr[483:495], "sparse size")
        entry.sparse = segments
        self._check_sparse(entry)

    def read_sparse_map(self, entry: TarEntry) -> None:
        """Pax sparse format 1.0 keeps its map at the start of the data; read it now."""
        if entry.sparse != [(-1, -1)]:
            return
        self._left, self._pad = entry.size, -entry.size % BLOCK
        numbers: list[int] = []
        text = b""
        used = 0
        count = -1
        while count < 0 or len(numbers) < 2 * count:
            if not text.count(b"\n"):
                if used + BLOCK > entry.size or used > MAX_META_SIZE:
                    raise LayerError("layer tar has a bad sparse map (pax format 1.0)")
                text += self._read_bytes(BLOCK)
                used += BLOCK
                continue
            line, _, text = text.partition(b"\n")
            value = _pax_int(line, b"GNU.sparse map")
            if count < 0:
                count = value
                if count > MAX_SPARSE_SEGMENTS:
                    raise LayerError("layer tar has a sparse file with too many segments")
            else:
                numbers.append(value)
        entry.size -= used
        self._left = entry.size
        self._pad = -entry.size % BLOCK
        entry.sparse = list(zip(numbers[0::2], numbers[1::2], strict=True))
        self._check_sparse(entry)

    @staticmethod
    def _check_sparse(entry: TarEntry) -> None:
        if entry.sparse == [(-1, -1)]:
            return
        assert entry.sparse is not None
        stored = 0
        last = 0
        for offset, length in entry.sparse:
            if offset < last or length < 0 or offset + length > entry.realsize:
                raise LayerError(f"layer entry '{show(entry.name)}' has a bad sparse map")
            last = offset + length
            stored += length
        if stored != entry.size:
            raise LayerError(
                f"layer entry '{show(entry.name)}' has a sparse map that does not match its data"
            )

    # -- data ---------------------------------------------------------------------------------

    def chunks(self) -> Iterator[memoryview]:
        """The rest of the current entry's data, as views into the reader's buffer (each
        valid until the next one is asked for): for a consumer that is not a file descriptor,
        e.g. one that hashes what it writes."""
        view = self._view
        while self._left:
            avail = self._end - self._pos
            if not avail:
                self._pos = self._end = 0
                avail = self._end = self._more(view)
                if not avail:
                    raise LayerError("layer tar is truncated (it ends inside an entry's data)")
            take = avail if avail < self._left else self._left
            pos = self._pos
            self._pos = pos + take
            self._left -= take
            yield view[pos : pos + take]

    def copy_to(self, fd: int, count: int) -> None:
        """Write the next ``count`` bytes of the current entry's data to ``fd``."""
        if count > self._left:
            raise LayerError("layer tar entry asked for more data than it has")
        self._left -= count
        view = self._view
        pos = self._pos
        if count + self._pad <= self._end - pos and not self._left:
            # All of it, and its padding, are in the buffer (most entries).
            written = os.write(fd, view[pos : pos + count])
            while written < count:
                written += os.write(fd, view[pos + written : pos + count])
            self._pos = pos + count + self._pad
            self._pad = 0
            return
        while count:
            avail = self._end - self._pos
            if not avail:
                self._pos = self._end = 0
                avail = self._end = self._more(view)
                if not avail:
                    raise LayerError("layer tar is truncated (it ends inside an entry's data)")
            take = avail if avail < count else count
            pos = self._pos
            written = os.write(fd, view[pos : pos + take])
            while written < take:
                written += os.write(fd, view[pos + written : pos + take])
            self._pos = pos + take
            count -= take
        if not self._left and self._pad <= self._end - self._pos:
            self._pos += self._pad  # the padding too, while it is at hand
            self._pad = 0
