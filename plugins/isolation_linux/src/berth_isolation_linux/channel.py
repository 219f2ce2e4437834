"""Messages between the launcher and the processes it forks.

- *report* pipe (child → launcher): one JSON object per line. End of file means the children
  are gone — or, after ``start``, that ``execve`` succeeded (the pipe is close-on-exec).
- *go* pipe (launcher → child): tagged messages, ``tag:1 byte, length:u32 LE, payload``:
  :data:`GO_FILTER` (the compiled seccomp filter, possibly empty), :data:`GO_CGROUP_JOINED`,
  :data:`GO_START`. The child takes them in the order it needs them (:class:`GoReader`).
"""

from __future__ import annotations

import os
import struct

from berth_isolation_linux import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

GO_FILTER = b"f"
GO_CGROUP_JOINED = b"c"
GO_START = b"s"


def send(fd: int, message: dict[str, Any]) -> None:
    data = jsonio.dumps(message).encode() + b"\n"
    while data:
        data = data[os.write(fd, data) :]


class Reader:
    """Reads messages from a pipe, one line at a time."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = b""

    def next(self) -> dict[str, Any] | None:
        """The next message, or ``None`` at end of file."""
        while b"\n" not in self._buffer:
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        message: dict[str, Any] = jsonio.loads(line)
        return message

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def send_go(fd: int, tag: bytes, payload: bytes = b"") -> None:
    data = tag + struct.pack("<I", len(payload)) + payload
    while data:
        data = data[os.write(fd, data) :]


class GoReader:
    """The child's end of the go pipe."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._seen: dict[bytes, bytes] = {}
        self.taken: set[bytes] = set()

    def _exact(self, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            chunk = os.read(self.fd, size - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def expect(self, tag: bytes) -> bytes | None:
        """The payload of the message ``tag`` (earlier messages are kept for later); ``None``
        when the launcher closed the pipe first (its caller went away)."""
        while tag not in self._seen:
            head = self._exact(5)
            if head is None:
                return None
            size = struct.unpack("<I", head[1:])[0]
            payload = self._exact(size) if size else b""
            if payload is None:
                return None
            self._seen[head[:1]] = payload
        self.taken.add(tag)
        return self._seen.pop(tag)
