"""JSON for the client's fast paths, on the C accelerator `_json` alone.

`import json` costs about 8 ms of start-up here because `json.decoder` imports `re`; the C
scanner and string encoder underneath need neither. This covers what the fast paths send and
read (objects, arrays, strings, numbers, booleans, null); anything else is a TypeError.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_CONSTANTS = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}
_WHITESPACE = " \t\n\r"


class _ScannerSettings:
    """What `_json.make_scanner` reads off a `json.JSONDecoder`: the defaults of one."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = _CONSTANTS.__getitem__
    memo: dict[str, str] = {}


_scan = _json.make_scanner(_ScannerSettings())  # type: ignore[arg-type]  # duck-typed
_quote = _json.encode_basestring_ascii


def raw_decode(text: str, start: int = 0) -> tuple[Any, int]:
    """The JSON value that begins at `start` and the index just past it (like
    `json.JSONDecoder.raw_decode`); ValueError when none begins there or it is cut short."""
    try:
        value, end = _scan(text, start)
    except StopIteration as stop:
        raise ValueError(f"no JSON value at character {stop.value}") from None
    return value, end


def loads(text: str | bytes) -> Any:
    """The value `text` holds; ValueError when it is not one JSON document."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    value, end = raw_decode(text, len(text) - len(text.lstrip(_WHITESPACE)))
    if text[end:].strip(_WHITESPACE):
        raise ValueError(f"extra data after the JSON value at character {end}")
    return value


def dumps(value: Any) -> str:
    """Compact JSON text (ASCII, like `json.dumps(value, separators=(",", ":"))`)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return str(_quote(value))
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{value!r} has no JSON form")
        return float.__repr__(value)
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    if isinstance(value, dict):
        parts = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be strings, not {type(key).__name__}")
            parts.append(f"{_quote(key)}:{dumps(item)}")
        return "{" + ",".join(parts) + "}"
    raise TypeError(f"{type(value).__name__} has no JSON form")
