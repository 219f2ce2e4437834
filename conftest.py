"""Settings for every test path of the repository (core/tests, plugins/*/tests, tests/)."""

from __future__ import annotations

from typing import Any


def pytest_make_parametrize_id(config: Any, val: object, argname: str) -> str | None:
    """Short, stable IDs for bytes parameters.

    pytest would spell the bytes out in the test ID; bytes that embed a time (a gzip header,
    a tar member's mtime) then give each xdist worker different IDs, and the run aborts with
    "Different tests were collected". Length is stable; pytest numbers any duplicates.
    """
    if isinstance(val, bytes | bytearray):
        return f"{argname}-{len(val)}B"
    return None
