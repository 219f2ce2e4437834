"""JSON for the launcher side without the ``json`` package (which pulls in ``re`` and ``enum``
and costs a container's monitor 1.5 MiB): the C accelerator ``_json`` does the work."""

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


def loads(text: str | bytes) -> object:
    """One JSON document; ValueError when it is not one."""
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    start = len(text) - len(text.lstrip())
    try:
        value, end = _scan(text, start)
    except (StopIteration, SystemError):
        # SystemError: Python 3.11's scanner reports syntax errors with json.decoder's class,
        # which it finds only once ``json`` was imported.
        raise ValueError("not a JSON document") from None
    if text[end:].strip():
        raise ValueError("extra data after the JSON document")
    return value


def dumps(value: object) -> str:
    return "".join(_encode(value, 0))


def load_object(path: str) -> dict[str, object]:
    """A file holding one JSON object (FileNotFoundError when it is missing)."""
    with open(path, "rb") as f:
        value = loads(f.read())
    if not isinstance(value, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return value
