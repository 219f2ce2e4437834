"""JSON for the monitor without the ``json`` package (which pulls in ``re`` and ``enum``).

The C accelerator ``_json`` that ``json`` itself uses does the work; this module only gives it
the settings ``json`` would.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


class _Settings:
    """What ``_json.make_scanner`` reads from a ``json.JSONDecoder``."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name: str) -> float:
        raise ValueError(f"{name} is not valid JSON")


def _refuse(value: object) -> object:
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# make_scanner reads only the attributes of _Settings (typeshed wants a JSONDecoder).
_scan: Callable[[str, int], tuple[object, int]] = _json.make_scanner(_Settings())  # type: ignore[arg-type]
_encode: Callable[[object, int], list[str]] = _json.make_encoder(
    None, _refuse, _json.encode_basestring, None, ":", ",", False, False, False
)
quote: Callable[[str], str] = _json.encode_basestring


def loads(text: str | bytes) -> object:
    """Parse one JSON document (surrounding whitespace allowed); ValueError when it is not."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    start = len(text) - len(text.lstrip())
    try:
        value, end = _scan(text, start)
    except StopIteration:
        raise ValueError("not a JSON document") from None
    except SystemError:
        # Python 3.11's scanner reports a syntax error with json.decoder's exception class,
        # and only finds that class when ``json`` was imported: without it, a SystemError.
        raise ValueError("not a JSON document") from None
    if text[end:].strip():
        raise ValueError(f"extra data after the JSON document at character {end}")
    return value


def dumps(value: object) -> str:
    """Compact JSON, non-ASCII text kept as it is."""
    return "".join(_encode(value, 0))
