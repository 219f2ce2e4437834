"""Reading a container's json-file log (what ``GET /containers/{id}/logs`` serves).

The monitor writes Docker's format, one JSON object per line —
``{"log":"hi\\n","stream":"stdout","time":"2026-11-28T10:00:00.123456789Z"}`` — to
``<id>-json.log`` and rotates it to ``<id>-json.log.1`` … ``.N`` (``.gz`` when compressed).
This module reads those files: the last ``tail`` entries, entries between ``since`` and
``until``, and with ``follow`` the entries written later, across rotations, until the
container stops. Times are kept as integer nanoseconds (Docker's precision).
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import gzip
import json
import os
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from berth.engine.errors import BadParameter

STDOUT, STDERR = 1, 2
STREAMS = {"stdout": STDOUT, "stderr": STDERR}
BLOCK = 64 * 1024
FOLLOW_POLL = 0.05  # seconds between looks at a quiet log while following

_TIME = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")


@dataclass(frozen=True)
class LogEntry:
    stream: int  # STDOUT or STDERR
    time_ns: int
    data: bytes


@dataclass(frozen=True)
class LogQuery:
    """What a client asked for: streams, the last ``tail`` entries (None: all), a time window
    in nanoseconds (0: open), RFC 3339 timestamps in front of each entry."""

    stdout: bool = True
    stderr: bool = True
    tail: int | None = None
    since_ns: int = 0
    until_ns: int = 0
    timestamps: bool = False
    follow: bool = False

    def wants(self, entry: LogEntry) -> bool:
        if entry.stream == STDOUT and not self.stdout:
            return False
        if entry.stream == STDERR and not self.stderr:
            return False
        return not (self.since_ns and entry.time_ns < self.since_ns)

    def past_until(self, entry: LogEntry) -> bool:
        return bool(self.until_ns) and entry.time_ns > self.until_ns


# --- times -----------------------------------------------------------------------------------


def parse_time_ns(text: str) -> int | None:
    """Nanoseconds since the epoch of an RFC 3339 time (up to nine fraction digits)."""
    match = _TIME.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        seconds = calendar.timegm(
            (int(year), int(month), int(day), int(hour), int(minute), int(second), 0, 0, 0)
        )
    except (ValueError, OverflowError):
        return None
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    nanos = int((fraction or "0").ljust(9, "0"))
    return seconds * 1_000_000_000 + nanos


def format_time_ns(nanos: int) -> str:
    """Docker's fixed-width RFC 3339 with nanoseconds (``2026-11-28T10:00:00.123456789Z``)."""
    whole, frac = divmod(nanos, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{frac:09d}Z"


def parse_api_time(value: str | None, name: str) -> int:
    """``since``/``until`` of the logs API: UNIX seconds with an optional fraction
    (``1700000000.123456789``, what the docker CLI sends) or an RFC 3339 time; 0 if absent."""
    if value is None or value.strip() in ("", "0"):
        return 0
    text = value.strip()
    if re.fullmatch(r"-?\d+(\.\d{1,9})?", text):
        whole, _, frac = text.partition(".")
        return int(whole) * 1_000_000_000 + int(frac.ljust(9, "0") if frac else 0)
    parsed = parse_time_ns(text)
    if parsed is None:
        raise BadParameter(
            f"invalid value for {name}: {value!r} is not a UNIX timestamp or an RFC 3339 time"
        )
    return parsed


def parse_tail(value: str | None) -> int | None:
    """``tail``: ``all`` (or absent, or negative) means everything, else a count."""
    if value is None or value.strip() in ("", "all"):
        return None
    try:
        count = int(value)
    except ValueError:
        raise BadParameter(f"invalid value for tail: {value!r} is not a number or 'all'") from None
    return None if count < 0 else count


# --- one line ----------------------------------------------------------------------------------


def parse_line(line: bytes) -> LogEntry | None:
    """One json-file line; None for a line that is not a log entry (torn, garbage)."""
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    log, stream, stamp = doc.get("log"), doc.get("stream"), doc.get("time")
    if not isinstance(log, str) or not isinstance(stamp, str):
        return None
    when = parse_time_ns(stamp)
    if when is None:
        return None
    kind = STREAMS.get(stream if isinstance(stream, str) else "", STDOUT)
    return LogEntry(kind, when, log.encode("utf-8", "surrogateescape"))


def render(entry: LogEntry, timestamps: bool, tty: bool) -> bytes:
    """An entry as the API sends it: raw with a TTY, else with the 8-byte stream header."""
    data = entry.data
    if timestamps:
        data = format_time_ns(entry.time_ns).encode() + b" " + data
    if tty:
        return data
    return frame(entry.stream, data)


def frame(stream: int, data: bytes) -> bytes:
    """Docker's multiplexed-stream frame: stream id, three zero bytes, big-endian length."""
    return bytes((stream, 0, 0, 0)) + len(data).to_bytes(4, "big") + data


# --- files -------------------------------------------------------------------------------------


def log_files(path: Path) -> list[Path]:
    """The rotated files of a log, oldest first, then the current one (if it exists)."""
    rotated: list[tuple[int, Path]] = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(path.parent):
            name = entry.name
            if not name.startswith(path.name + "."):
                continue
            suffix = name[len(path.name) + 1 :].removesuffix(".gz")
            if suffix.isdigit():
                rotated.append((int(suffix), Path(entry.path)))
    files = [p for _, p in sorted(rotated, reverse=True)]
    if path.exists():
        files.append(path)
    return files


def _lines_forward(handle: BinaryIO, end: int | None = None) -> Iterator[bytes]:
    """Complete lines from the handle's position up to ``end`` bytes (None: to EOF)."""
    pending = b""
    left = end
    while left is None or left > 0:
        chunk = handle.read(BLOCK if left is None else min(BLOCK, left))
        if not chunk:
            break
        if left is not None:
            left -= len(chunk)
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from lines
    if pending:
        yield pending  # a last line without its newline (a writer cut short)


def _lines_backward(handle: BinaryIO, end: int) -> Iterator[bytes]:
    """Lines from byte ``end`` back to the start of the file, last line first."""
    position = end
    pending = b""
    while position > 0:
        size = min(BLOCK, position)
        position -= size
        handle.seek(position)
        pending = handle.read(size) + pending
        parts = pending.split(b"\n")
        pending = parts[0]
        for line in reversed(parts[1:]):
            if line:
                yield line
    if pending:
        yield pending


def _open(path: Path) -> BinaryIO:
    if path.name.endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _file_entries(path: Path, end: int | None = None) -> Iterator[LogEntry]:
    try:
        handle = _open(path)
    except (FileNotFoundError, NotADirectoryError):
        return
    with handle:
        for line in _lines_forward(handle, end):
            entry = parse_line(line)
            if entry is not None:
                yield entry


def _tail_entries(files: list[Path], current_end: int | None, count: int) -> list[LogEntry]:
    """The last ``count`` entries over the files (oldest first), reading backwards."""
    found: deque[LogEntry] = deque()
    for index in range(len(files) - 1, -1, -1):
        if len(found) >= count:
            break
        path = files[index]
        is_current = index == len(files) - 1 and current_end is not None
        try:
            handle = _open(path)
        except (FileNotFoundError, NotADirectoryError):
            continue
        with handle:
            if path.name.endswith(".gz"):
                entries = [e for line in _lines_forward(handle) if (e := parse_line(line))]
                for entry in reversed(entries):
                    if len(found) >= count:
                        break
                    found.appendleft(entry)
                continue
            end = current_end if is_current else os.fstat(handle.fileno()).st_size
            for line in _lines_backward(handle, end or 0):
                if len(found) >= count:
                    break
                parsed = parse_line(line)
                if parsed is not None:
                    found.appendleft(parsed)
    return list(found)


def _history(path: Path, query: LogQuery, current_end: int | None) -> Iterator[LogEntry]:
    files = log_files(path)
    if current_end is not None and path not in files:
        files.append(path)
    if query.tail is not None:
        if query.tail == 0:
            return
        yield from _tail_entries(files, current_end, query.tail)
        return
    for file in files:
        yield from _file_entries(file, current_end if file == path else None)


def read_log(path: Path, query: LogQuery) -> Iterator[LogEntry]:
    """The entries already written that ``query`` wants (no following)."""
    for entry in _history(path, query, None):
        if query.past_until(entry):
            return
        if query.wants(entry):
            yield entry


async def follow_log(
    path: Path,
    query: LogQuery,
    stopped: Callable[[], bool],
    poll: float = FOLLOW_POLL,
) -> AsyncIterator[LogEntry]:
    """The entries ``query`` wants: those written so far, then (``follow``) new ones as they
    come, across rotations, until ``stopped()`` says the container is down and the log is
    read to its end, or ``until`` passes."""
    handle: BinaryIO | None = None
    with contextlib.suppress(FileNotFoundError):
        handle = path.open("rb")
    try:
        end = os.fstat(handle.fileno()).st_size if handle is not None else None
        for count, entry in enumerate(_history(path, query, end), 1):
            if query.past_until(entry):
                return
            if query.wants(entry):
                yield entry
            if count % 512 == 0:
                await asyncio.sleep(0)
        if not query.follow:
            return
        if handle is not None:
            handle.seek(end or 0)
        pending = b""
        done = False
        while True:
            if query.until_ns and time.time_ns() > query.until_ns:
                return
            was_stopped = done or stopped()
            if handle is None:
                with contextlib.suppress(FileNotFoundError):
                    handle = path.open("rb")
            chunk = handle.read(BLOCK) if handle is not None else b""
            if chunk:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    fresh = parse_line(line)
                    if fresh is None:
                        continue
                    if query.past_until(fresh):
                        return
                    if query.wants(fresh):
                        yield fresh
                continue
            if handle is not None and os.fstat(handle.fileno()).st_size < handle.tell():
                handle.seek(0)  # emptied in place (max-file 1): start again from the top
                pending = b""
                continue
            if handle is not None and _rotated(handle, path):
                handle.close()
                handle = None
                pending = b""
                continue
            if was_stopped:
                if done:
                    return
                done = True  # one more look: what the monitor wrote just before the exit
                continue
            await asyncio.sleep(poll)
    finally:
        if handle is not None:
            handle.close()


def _rotated(handle: BinaryIO, path: Path) -> bool:
    """Whether ``path`` is now another file than the one ``handle`` reads (after a rotation)."""
    try:
        current = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(handle.fileno())
    return (current.st_ino, current.st_dev) != (mine.st_ino, mine.st_dev)
