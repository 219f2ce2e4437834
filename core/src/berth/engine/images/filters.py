"""Filters of ``GET /images/json`` and ``POST /images/prune``, with Docker's rules: OR
within a key (reference), AND across keys and across label values."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping

from berth.engine.errors import BadParameter
from berth.engine.images import patterns
from berth.engine.images.imageconfig import parse_time
from berth.engine.images.reference import Reference

LIST_KEYS = frozenset({"before", "dangling", "label", "reference", "since", "until"})
PRUNE_KEYS = frozenset({"dangling", "label", "label!", "until"})
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATIONS = re.compile(rf"(?:{_DURATION.pattern})+")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def validate(filters: Mapping[str, list[str]], allowed: frozenset[str]) -> None:
    for key in filters:
        if key not in allowed:
            raise BadParameter(f"invalid filter '{key}'")


def boolean(filters: Mapping[str, list[str]], key: str, default: bool) -> bool:
    values = filters.get(key) or []
    if not values:
        return default
    result = None
    for value in values:
        lowered = value.lower()
        if lowered in ("true", "1"):
            this = True
        elif lowered in ("false", "0"):
            this = False
        else:
            raise BadParameter(f"invalid filter '{key}={value}'")
        if result is not None and result != this:
            raise BadParameter(f"invalid filter '{key}': conflicting values")
        result = this
    return bool(result)


def labels_match(wanted: Iterable[str], labels: Mapping[str, str]) -> bool:
    """Every ``key`` or ``key=value`` in ``wanted`` holds."""
    for item in wanted:
        key, eq, value = item.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


def labels_exclude(unwanted: Iterable[str], labels: Mapping[str, str]) -> bool:
    """No ``key`` or ``key=value`` in ``unwanted`` holds (``label!=``)."""
    for item in unwanted:
        key, eq, value = item.partition("=")
        if key in labels and (not eq or labels[key] == value):
            return False
    return True


def reference_match(pattern: str, ref: Reference) -> bool:
    """Docker's FamiliarMatch: the pattern against ``name:tag``, then against the name."""
    return patterns.match(pattern, ref.familiar) or patterns.match(pattern, ref.familiar_name)


def parse_until(value: str, now: float | None = None) -> float:
    """``until``: unix seconds, an RFC 3339 time, or a Go duration ago (``24h``, ``1h30m``)."""
    now = time.time() if now is None else now
    text = value.strip()
    if _DURATIONS.fullmatch(text):
        seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION.findall(text))
        return now - seconds
    try:
        return float(text)
    except ValueError:
        pass
    stamp = parse_time(text if "T" in text else f"{text}T00:00:00Z")
    if stamp is None:
        raise BadParameter(f"invalid filter 'until={value}': not a timestamp or duration")
    return stamp
