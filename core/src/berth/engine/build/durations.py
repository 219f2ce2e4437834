"""Go's ``time.ParseDuration`` (``1m30s``, ``1.5h``, ``300ms``), for HEALTHCHECK's options."""

from __future__ import annotations

import re
from fractions import Fraction

_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")


class DurationError(ValueError):
    """Not a Go duration."""


def parse_duration(text: str) -> int:
    """Nanoseconds in ``text``; raises :class:`DurationError` like Go's ``invalid duration``."""
    body = text.lstrip("+-")
    sign = -1 if text.startswith("-") else 1
    if body == "0":
        return 0
    if not body:
        raise DurationError(f"invalid duration {text!r}")
    total = Fraction(0)
    pos = 0
    while pos < len(body):
        match = _PART.match(body, pos)
        if match is None or match.group(1) in ("", "."):
            if match is None and re.fullmatch(r"[0-9.]+", body[pos:]):
                raise DurationError(f"missing unit in duration {text!r}")
            raise DurationError(f"invalid duration {text!r}")
        total += Fraction(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return sign * int(total)
