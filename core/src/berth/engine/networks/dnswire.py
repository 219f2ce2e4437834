"""A small DNS wire-format codec (RFC 1035): enough for the embedded resolver.

It parses queries and the answers it builds (names with compression pointers, the fixed
header, questions and resource records) and encodes replies. Record data of the types that hold
a name (PTR, CNAME, NS) is stored expanded, so a parsed message can be encoded again; other
record data is kept as raw bytes. Anything malformed raises :class:`DnsFormatError`.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field, replace

TYPE_A = 1
TYPE_NS = 2
TYPE_CNAME = 5
TYPE_PTR = 12
TYPE_AAAA = 28
TYPE_OPT = 41
TYPE_ANY = 255
CLASS_IN = 1

NOERROR = 0
FORMERR = 1
SERVFAIL = 2
NXDOMAIN = 3
NOTIMP = 4
REFUSED = 5

FLAG_QR = 0x8000
FLAG_AA = 0x0400
FLAG_TC = 0x0200
FLAG_RD = 0x0100
FLAG_RA = 0x0080
OPCODE_QUERY = 0

HEADER = struct.Struct("!HHHHHH")
MAX_UDP_SIZE = 512  # without EDNS, a UDP reply must fit in 512 bytes (RFC 1035 4.2.1)
_NAME_TYPES = (TYPE_PTR, TYPE_CNAME, TYPE_NS)
_MAX_POINTERS = 64


class DnsFormatError(ValueError):
    """The bytes are not a well-formed DNS message."""


@dataclass(frozen=True)
class Question:
    name: str  # lower-case, without the trailing dot ("" is the root)
    qtype: int
    qclass: int = CLASS_IN


@dataclass(frozen=True)
class Record:
    name: str
    rtype: int
    rclass: int
    ttl: int
    rdata: bytes  # names (PTR, CNAME, NS) as uncompressed wire names

    def address(self) -> str:
        """The address of an A or AAAA record."""
        return str(ipaddress.ip_address(self.rdata))

    def target(self) -> str:
        """The name of a PTR, CNAME or NS record."""
        return decode_name(self.rdata, 0)[0]


@dataclass(frozen=True)
class Message:
    id: int
    flags: int
    questions: tuple[Question, ...] = ()
    answers: tuple[Record, ...] = ()
    authority: tuple[Record, ...] = ()
    additional: tuple[Record, ...] = field(default=())

    @property
    def rcode(self) -> int:
        return self.flags & 0x000F

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0x0F

    @property
    def is_response(self) -> bool:
        return bool(self.flags & FLAG_QR)

    @property
    def truncated(self) -> bool:
        return bool(self.flags & FLAG_TC)


def decode_name(data: bytes, offset: int) -> tuple[str, int]:
    """The name at ``offset`` (following compression pointers) and the offset after it."""
    labels: list[str] = []
    end = -1  # where the name ends in the original position, once a pointer was followed
    jumps = 0
    length_total = 0
    while True:
        if offset >= len(data):
            raise DnsFormatError("name runs past the end of the message")
        size = data[offset]
        if size & 0xC0 == 0xC0:
            if offset + 1 >= len(data):
                raise DnsFormatError("truncated compression pointer")
            jumps += 1
            if jumps > _MAX_POINTERS:
                raise DnsFormatError("compression pointer loop")
            if end < 0:
                end = offset + 2
            offset = ((size & 0x3F) << 8) | data[offset + 1]
            continue
        if size & 0xC0:
            raise DnsFormatError(f"unsupported label type 0x{size & 0xC0:02x}")
        offset += 1
        if size == 0:
            break
        label = data[offset : offset + size]
        if len(label) != size:
            raise DnsFormatError("label runs past the end of the message")
        length_total += size + 1
        if length_total > 255:
            raise DnsFormatError("name longer than 255 bytes")
        labels.append(label.decode("ascii", errors="replace").lower())
        offset += size
    return ".".join(labels), (end if end >= 0 else offset)


def encode_name(name: str) -> bytes:
    """A name in wire format, uncompressed; raises DnsFormatError for bad labels."""
    name = name.rstrip(".")
    out = bytearray()
    if name:
        for label in name.split("."):
            raw = label.encode("ascii", errors="strict") if label.isascii() else b""
            if not raw or len(raw) > 63:
                raise DnsFormatError(f"bad label {label!r} in {name!r}")
            out.append(len(raw))
            out += raw
    out.append(0)
    if len(out) > 255:
        raise DnsFormatError(f"name longer than 255 bytes: {name!r}")
    return bytes(out)


def _decode_record(data: bytes, offset: int) -> tuple[Record, int]:
    name, offset = decode_name(data, offset)
    if offset + 10 > len(data):
        raise DnsFormatError("truncated resource record")
    rtype, rclass, ttl, size = struct.unpack_from("!HHIH", data, offset)
    offset += 10
    rdata = data[offset : offset + size]
    if len(rdata) != size:
        raise DnsFormatError("record data runs past the end of the message")
    if rtype in _NAME_TYPES:
        rdata = encode_name(decode_name(data, offset)[0])
    return Record(name, rtype, rclass, ttl, rdata), offset + size


def parse_message(data: bytes) -> Message:
    """Parse a whole message; raises DnsFormatError."""
    if len(data) < HEADER.size:
        raise DnsFormatError("message shorter than its header")
    ident, flags, qdcount, ancount, nscount, arcount = HEADER.unpack_from(data)
    offset = HEADER.size
    questions = []
    for _ in range(qdcount):
        name, offset = decode_name(data, offset)
        if offset + 4 > len(data):
            raise DnsFormatError("truncated question")
        qtype, qclass = struct.unpack_from("!HH", data, offset)
        offset += 4
        questions.append(Question(name, qtype, qclass))
    sections: list[list[Record]] = [[], [], []]
    for section, count in zip(sections, (ancount, nscount, arcount), strict=True):
        for _ in range(count):
            record, offset = _decode_record(data, offset)
            section.append(record)
    return Message(
        ident, flags, tuple(questions), tuple(sections[0]), tuple(sections[1]), tuple(sections[2])
    )


def peek_id(data: bytes) -> int:
    """The ID of a message that may not parse (to answer FORMERR to it); -1 if too short."""
    return int.from_bytes(data[:2], "big") if len(data) >= 2 else -1


def encode_message(message: Message) -> bytes:
    out = bytearray(
        HEADER.pack(
            message.id,
            message.flags,
            len(message.questions),
            len(message.answers),
            len(message.authority),
            len(message.additional),
        )
    )
    for question in message.questions:
        out += encode_name(question.name) + struct.pack("!HH", question.qtype, question.qclass)
    for record in (*message.answers, *message.authority, *message.additional):
        out += encode_name(record.name)
        out += struct.pack("!HHIH", record.rtype, record.rclass, record.ttl, len(record.rdata))
        out += record.rdata
    return bytes(out)


def query(name: str, qtype: int = TYPE_A, ident: int = 0, recursion: bool = True) -> bytes:
    """A one-question query, as a stub resolver sends it."""
    flags = FLAG_RD if recursion else 0
    return encode_message(Message(ident, flags, (Question(name.rstrip(".").lower(), qtype),)))


def address_record(name: str, address: str, ttl: int) -> Record:
    ip = ipaddress.ip_address(address)
    rtype = TYPE_A if ip.version == 4 else TYPE_AAAA
    return Record(name, rtype, CLASS_IN, ttl, ip.packed)


def ptr_record(name: str, target: str, ttl: int) -> Record:
    return Record(name, TYPE_PTR, CLASS_IN, ttl, encode_name(target))


def reply(
    request: Message, rcode: int, answers: tuple[Record, ...] = (), authoritative: bool = True
) -> Message:
    """The response to ``request``: its ID, question and RD bit, recursion available."""
    flags = FLAG_QR | (request.flags & (0x7800 | FLAG_RD)) | FLAG_RA | (rcode & 0x0F)
    if authoritative:
        flags |= FLAG_AA
    return Message(request.id, flags, request.questions, answers)


def error_reply(data: bytes, rcode: int) -> bytes | None:
    """A bare header-only error reply to bytes that did not parse (None if there is no ID)."""
    ident = peek_id(data)
    if ident < 0:
        return None
    flags = FLAG_QR | FLAG_RA | (rcode & 0x0F)
    if len(data) >= 4:
        flags |= int.from_bytes(data[2:4], "big") & (0x7800 | FLAG_RD)
    return HEADER.pack(ident, flags, 0, 0, 0, 0)


def fit_udp(message: Message, limit: int = MAX_UDP_SIZE) -> bytes:
    """Encode for UDP: when the answer does not fit, send the question alone with TC set, so
    the client asks again over TCP."""
    wire = encode_message(message)
    if len(wire) <= limit:
        return wire
    return encode_message(replace(message, flags=message.flags | FLAG_TC, answers=()))


def udp_limit(message: Message) -> int:
    """The reply size the client accepts over UDP: its EDNS buffer size, else 512."""
    for record in message.additional:
        if record.rtype == TYPE_OPT:
            return max(MAX_UDP_SIZE, min(record.rclass, 4096))
    return MAX_UDP_SIZE
