"""JSON without the ``json`` package (which imports ``re`` and ``enum``: ~8 ms and a few MiB
in the monitor that imports this backend's launcher). ``_json``, the C accelerator ``json``
itself uses, does the work."""

from __future__ import annotations

import _json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class _Decoding:
    """The attributes ``_json.make_scanner`` reads from a ``json.JSONDecoder``."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int

    @staticmethod
    def parse_constant(name: str) -> float:
        raise ValueError(f"{name} is not JSON")


def _unserializable(value: object) -> object:
    raise TypeError(f"a {type(value).__name__} cannot be written as JSON")


_scan: Callable[[str, int], tuple[Any, int]] = _json.make_scanner(_Decoding())  # type: ignore[arg-type]
_encode: Callable[[object, int], list[str]] = _json.make_encoder(
    None, _unserializable, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True
)


def loads(text: str | bytes) -> Any:
    """One JSON document (whitespace around it allowed); ``ValueError`` if it is not one."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    start = len(text) - len(text.lstrip())
    try:
        value, end = _scan(text, start)
    except (StopIteration, SystemError):
        # 3.11's scanner raises json.decoder's error class, found only if json was imported
        raise ValueError("not valid JSON") from None
    except ValueError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    if text[end:].strip():
        raise ValueError(f"not valid JSON: extra data at character {end}")
    return value


def dumps(value: object) -> str:
    """JSON text (ASCII, like ``json.dumps``)."""
    return "".join(_encode(value, 0))
