"""The json-file log: Docker's format and rotation, written by the monitor, read by berthd.

One JSON object per line::

    {"log":"hi\\n","stream":"stdout","time":"2026-11-28T10:00:00.123456789Z"}

A line of output is one entry, its newline included; a line longer than 16 KiB is cut into
entries without newlines, and so is an unfinished last line. With ``max-size`` the file is
rotated before an entry is written once it has reached that size: ``<id>-json.log`` becomes
``<id>-json.log.1``, ``.1`` becomes ``.2`` and so on up to ``max-file - 1`` (older ones are
dropped); with ``max-file`` 1 the file is emptied instead.
"""

from __future__ import annotations

import os

from berth.monitor.jsonlite import quote
from berth.monitor.system import rename, timestamp

#: A line longer than this is logged in pieces (Docker's copier buffer).
MAX_LINE = 16 * 1024
STREAM_NAMES = {1: "stdout", 2: "stderr"}
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_size(text: str) -> int:
    """``10m`` → 10485760: a number with an optional unit k, m, g, t, p (binary multiples), as
    Docker's ``max-size`` takes it (``10m``, ``10M``, ``10mb``, ``10 MiB``, ``1.5g``)."""
    value = text.strip()
    digits = len(value) - len(value.lstrip("0123456789."))
    number, rest = value[:digits], value[digits:].removeprefix(" ").lower()
    unit = rest[:1] if rest[:1] in ("k", "m", "g", "t", "p") else ""
    rest = rest[len(unit) :].removeprefix("i").removeprefix("b")
    parts = number.split(".")
    if rest or not all(part.isdigit() for part in parts) or len(parts) > 2:
        raise ValueError(f"invalid size: {text!r}")
    return int(float(number) * _UNITS[unit])


def parse_log_options(options: dict[str, str]) -> tuple[int, int]:
    """``(max_size, max_file)`` from json-file ``log-opts``; ValueError with a one-line reason.

    ``max_size`` is -1 when unlimited; ``max_file`` is at least 1.
    """
    max_size, max_file = -1, 1
    for key, value in options.items():
        if key == "max-size":
            try:
                max_size = parse_size(value)
            except ValueError:
                raise ValueError(
                    f"invalid max-size {value!r} for json-file log driver: use a size like 10m"
                ) from None
            if max_size <= 0:
                raise ValueError(f"max-size {value!r} for json-file log driver must be positive")
        elif key == "max-file":
            if not value.strip().isdigit() or int(value) < 1:
                raise ValueError(
                    f"invalid max-file {value!r} for json-file log driver: use a number >= 1"
                )
            max_file = int(value)
        elif key == "compress":
            if value.strip().lower() not in ("false", "0", ""):
                raise ValueError("compress is not supported by berth's json-file log driver")
        else:
            raise ValueError(f"unknown log opt {key!r} for json-file log driver")
    if max_file > 1 and max_size == -1:
        raise ValueError("max-file cannot be used without max-size for json-file log driver")
    return max_size, max_file


def entry(stream: int, data: bytes, when: str) -> bytes:
    """One log line (``data`` is one line of output or a piece of one)."""
    text = data.decode("utf-8", "replace")
    name = STREAM_NAMES[stream]
    return f'{{"log":{quote(text)},"stream":"{name}","time":"{when}"}}\n'.encode()


class JsonFileLog:
    """The log file of one container, with its rotation and per-stream line buffers."""

    def __init__(self, path: str, max_size: int = -1, max_file: int = 1) -> None:
        self.path = path
        self.max_size = max_size
        self.max_file = max(1, max_file)
        self.fd = self._open(truncate=False)
        self.size = os.fstat(self.fd).st_size
        self._partial: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
        self.errors = 0

    def _open(self, truncate: bool) -> int:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        return os.open(self.path, flags | (os.O_TRUNC if truncate else 0), 0o640)

    def write(self, stream: int, data: bytes) -> None:
        """Log output of ``stream`` (1 or 2): complete lines now, the rest when it completes."""
        buffer = self._partial[stream]
        buffer += data
        pieces = []
        start = 0
        while True:
            end = buffer.find(b"\n", start, start + MAX_LINE)
            if end >= 0:
                pieces.append(bytes(buffer[start : end + 1]))
                start = end + 1
            elif len(buffer) - start >= MAX_LINE:
                pieces.append(bytes(buffer[start : start + MAX_LINE]))
                start += MAX_LINE
            else:
                break
        if pieces:
            del buffer[:start]
            when = timestamp()
            self._append([entry(stream, piece, when) for piece in pieces])

    def flush(self) -> None:
        """Log unfinished lines as they are (the stream ended)."""
        when = timestamp()
        for stream, buffer in self._partial.items():
            if buffer:
                self._append([entry(stream, bytes(buffer), when)])
                buffer.clear()

    def _append(self, entries: list[bytes]) -> None:
        pending: list[bytes] = []
        pending_size = 0
        for line in entries:
            if 0 < self.max_size <= self.size + pending_size:
                self._write(b"".join(pending))
                pending, pending_size = [], 0
                self._rotate()
            pending.append(line)
            pending_size += len(line)
        self._write(b"".join(pending))

    def _write(self, data: bytes) -> None:
        if not data:
            return
        try:
            view = memoryview(data)
            while view:
                written = os.write(self.fd, view)
                self.size += written
                view = view[written:]
        except OSError:
            # A full disk must not stop the container: count the loss, keep serving.
            self.errors += 1

    def _rotate(self) -> None:
        os.close(self.fd)
        if self.max_file > 1:
            for number in range(self.max_file - 1, 1, -1):
                rename(f"{self.path}.{number - 1}", f"{self.path}.{number}")
            rename(self.path, f"{self.path}.1")
        self.fd = self._open(truncate=True)
        self.size = 0

    def close(self) -> None:
        self.flush()
        os.close(self.fd)
