"""The frames of an attach or exec stream, monitor to daemon: Docker's multiplexed format.

Each frame is an 8-byte header — the stream (1 stdout, 2 stderr, 3 system), three zero bytes,
the payload's length as a big-endian 32-bit number — then the payload. Without a TTY berthd can
pass frames through to a Docker client as they are; with a TTY it sends only the payloads.
An exec stream ends with a system frame whose payload is ``{"exit_code": N}``.
"""

from __future__ import annotations

STDOUT, STDERR, SYSTEM = 1, 2, 3
HEADER_SIZE = 8
#: A frame never carries more than this; larger writes are split.
MAX_PAYLOAD = 1 << 20


def header(stream: int, length: int) -> bytes:
    return bytes((stream, 0, 0, 0)) + length.to_bytes(4, "big")


def frame(stream: int, payload: bytes) -> bytes:
    """One or more frames carrying ``payload`` on ``stream``."""
    if len(payload) <= MAX_PAYLOAD:
        return header(stream, len(payload)) + payload
    parts = []
    for start in range(0, len(payload), MAX_PAYLOAD):
        chunk = payload[start : start + MAX_PAYLOAD]
        parts.append(header(stream, len(chunk)) + chunk)
    return b"".join(parts)


def parse_header(data: bytes) -> tuple[int, int]:
    """``(stream, length)`` of an 8-byte header; ValueError when it is not one."""
    if len(data) != HEADER_SIZE or data[1:4] != b"\0\0\0" or data[0] not in (1, 2, 3):
        raise ValueError(f"not a stream frame header: {data!r}")
    return data[0], int.from_bytes(data[4:8], "big")
