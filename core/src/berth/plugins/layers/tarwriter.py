"""Tar headers for exported layers: POSIX ustar, with a pax extended header in front where
ustar cannot say it (long names, big numbers, nanosecond mtimes, xattrs)."""

from __future__ import annotations

from collections.abc import Mapping

BLOCK = 512
END_OF_ARCHIVE = bytes(2 * BLOCK)
_NS = 1_000_000_000
_PAX_NAME = b"././@PaxHeader"

REG = b"0"
LNK = b"1"
SYM = b"2"
CHR = b"3"
BLK = b"4"
DIR = b"5"
FIFO = b"6"
_PAX = b"x"


def padding(size: int) -> bytes:
    """The zeros that follow ``size`` bytes of entry data."""
    return bytes(-size % BLOCK)


def _octal(value: int, width: int) -> bytes | None:
    """``value`` as a NUL-terminated octal field of ``width`` bytes, or None if it does not fit."""
    if 0 <= value < 8 ** (width - 1):
        return b"%0*o\0" % (width - 1, value)
    return None


def _base256(value: int, width: int) -> bytes:
    """GNU's binary number field (high bit set), for device numbers too big for octal."""
    return bytes([0x80]) + value.to_bytes(width - 1, "big")


def _pax_record(key: bytes, value: bytes) -> bytes:
    body = b" " + key + b"=" + value + b"\n"
    size = len(body) + 1
    while len(b"%d" % size) + len(body) != size:
        size = len(b"%d" % size) + len(body)
    return b"%d" % size + body


def _pax_time(ns: int) -> bytes:
    sign = b"-" if ns < 0 else b""
    whole, frac = divmod(abs(ns), _NS)
    text = b"%d" % whole
    if frac:
        text += (b".%09d" % frac).rstrip(b"0")
    return sign + text


def header(
    name: bytes,
    kind: bytes,
    *,
    mode: int = 0,
    uid: int = 0,
    gid: int = 0,
    size: int = 0,
    mtime_ns: int = 0,
    linkname: bytes = b"",
    devmajor: int = 0,
    devminor: int = 0,
    xattrs: Mapping[str, bytes] | None = None,
) -> bytes:
    """The header block(s) of one entry: a pax header first when needed, then ustar."""
    pax: list[bytes] = []
    binary = False
    if len(name) > 100:
        pax.append(_pax_record(b"path", name))
        binary = binary or not _is_utf8(name)
        name = name[:100]
    if len(linkname) > 100:
        pax.append(_pax_record(b"linkpath", linkname))
        binary = binary or not _is_utf8(linkname)
        linkname = linkname[:100]
    uid_f = _octal(uid, 8)
    if uid_f is None:
        pax.append(_pax_record(b"uid", b"%d" % uid))
        uid_f = _octal(0, 8)
    gid_f = _octal(gid, 8)
    if gid_f is None:
        pax.append(_pax_record(b"gid", b"%d" % gid))
        gid_f = _octal(0, 8)
    size_f = _octal(size, 12)
    if size_f is None:
        pax.append(_pax_record(b"size", b"%d" % size))
        size_f = _octal(0, 12)
    seconds = mtime_ns // _NS
    mtime_f = _octal(seconds, 12)
    if mtime_f is None or mtime_ns % _NS:
        pax.append(_pax_record(b"mtime", _pax_time(mtime_ns)))
        if mtime_f is None:
            mtime_f = _octal(0, 12)
    if xattrs:
        for key in sorted(xattrs):
            pax.append(
                _pax_record(b"SCHILY.xattr." + key.encode("utf-8", "surrogateescape"), xattrs[key])
            )
    if binary:
        pax.insert(0, _pax_record(b"hdrcharset", b"BINARY"))
    block = _ustar(
        name,
        kind,
        _octal(mode & 0o7777, 8) or b"",
        uid_f or b"",
        gid_f or b"",
        size_f or b"",
        mtime_f or b"",
        linkname,
        _octal(devmajor, 8) or _base256(devmajor, 8),
        _octal(devminor, 8) or _base256(devminor, 8),
    )
    if not pax:
        return block
    data = b"".join(pax)
    pax_block = _ustar(
        _PAX_NAME,
        _PAX,
        b"0000644\0",
        b"0000000\0",
        b"0000000\0",
        _octal(len(data), 12) or b"",
        b"00000000000\0",
        b"",
        b"0000000\0",
        b"0000000\0",
    )
    return pax_block + data + padding(len(data)) + block


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _ustar(
    name: bytes,
    kind: bytes,
    mode: bytes,
    uid: bytes,
    gid: bytes,
    size: bytes,
    mtime: bytes,
    linkname: bytes,
    devmajor: bytes,
    devminor: bytes,
) -> bytes:
    block = bytearray(BLOCK)
    block[0 : len(name)] = name
    block[100:108] = mode
    block[108:116] = uid
    block[116:124] = gid
    block[124:136] = size
    block[136:148] = mtime
    block[148:156] = b"        "
    block[156:157] = kind
    block[157 : 157 + len(linkname)] = linkname
    block[257:265] = b"ustar\x0000"
    block[329:337] = devmajor
    block[337:345] = devminor
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)
