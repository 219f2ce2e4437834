"""Docker's time arguments (`--since`, `--until`) and how event times are printed.

Accepted, as the docker CLI accepts them: Unix seconds (`1700000000`, `1700000000.5`), RFC 3339
dates and times (`2026-11-28`, `2026-11-28T10:15`, `2026-11-28T10:15:00.5Z`, `...+01:00`;
without a zone it is local time), and Go durations before now (`10m`, `1h30m`, `1.5h`, `300ms`).
The API takes `seconds.nanoseconds`.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

_DURATION_PART = r"(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h)"
_DURATION = re.compile(rf"[-+]?(?:{_DURATION_PART})+")
_DURATION_PARTS = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DATETIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:T(?P<hour>\d{2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<frac>\d{1,9}))?)?)?)?"
    r"(?P<zone>[Zz]|[+-]\d{2}:\d{2})?"
)
_UNIX = re.compile(r"\d+(?:\.\d{1,9})?")

HINT = "use Unix seconds, an RFC 3339 time such as 2026-11-28T10:15:00Z, or a duration such as 10m"


def parse_duration_ns(text: str) -> int | None:
    """A Go duration (`1h30m`, `-2.5s`) in nanoseconds, or None when it is not one."""
    if not _DURATION.fullmatch(text):
        return None
    sign = -1 if text.startswith("-") else 1
    total = 0
    for number, unit in _DURATION_PARTS.findall(text):
        whole, _, frac = number.partition(".")
        scale = _UNIT_NS[unit]
        total += int(whole or 0) * scale
        if frac:
            total += int(frac) * scale // 10 ** len(frac)
    return sign * total


def _format_ns(ns: int) -> str:
    seconds, nanos = divmod(ns, 1_000_000_000)
    return f"{seconds}.{nanos:09d}"


def api_timestamp(value: str, now_ns: int | None = None) -> str:
    """Convert a user's time to the API's `seconds.nanoseconds`; ValueError says why not."""
    text = value.strip()
    if not text:
        raise ValueError(f'"{value}" is empty: {HINT}')
    now = time.time_ns() if now_ns is None else now_ns
    if text != "0":
        duration = parse_duration_ns(text)
        if duration is not None:
            return _format_ns(now - duration)
    if _UNIX.fullmatch(text):
        return text
    match = _DATETIME.fullmatch(text)
    if match is None:
        raise ValueError(f'"{value}" is not a time or a duration: {HINT}')
    try:
        year, month, day = (int(part) for part in match["date"].split("-"))
        naive = datetime(
            year,
            month,
            day,
            int(match["hour"] or 0),
            int(match["minute"] or 0),
            int(match["second"] or 0),
        )
    except ValueError as exc:
        raise ValueError(f'"{value}" is not a valid time ({exc}): {HINT}') from None
    zone = match["zone"]
    if zone is None:
        seconds = int(naive.timestamp())  # a naive time is local time
    else:
        offset = timedelta(0)
        if zone not in ("Z", "z"):
            hours, minutes = int(zone[1:3]), int(zone[4:6])
            offset = timedelta(hours=hours, minutes=minutes) * (1 if zone[0] == "+" else -1)
        seconds = int(naive.replace(tzinfo=timezone(offset)).timestamp())
    nanos = int((match["frac"] or "").ljust(9, "0"))
    return f"{seconds}.{nanos:09d}"


def format_event_time(time_ns: int, tz: timezone | None = None) -> str:
    """Docker's RFC3339NanoFixed in local time (or `tz`): 2026-11-28T10:15:00.123456789Z."""
    seconds, nanos = divmod(time_ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, tz) if tz else datetime.fromtimestamp(seconds)
    if moment.tzinfo is None:
        moment = moment.astimezone()
    offset = moment.utcoffset() or timedelta(0)
    if offset == timedelta(0):
        zone = "Z"
    else:
        minutes = int(offset.total_seconds()) // 60
        sign = "+" if minutes >= 0 else "-"
        zone = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{nanos:09d}{zone}"
