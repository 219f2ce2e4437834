"""The one error the layer functions raise for bad layers and impossible requests."""

from __future__ import annotations


class LayerError(ValueError):
    """A layer could not be unpacked, compared or exported; ``str(e)`` is one clear line.

    Raised for malformed or truncated tar streams, entries that would escape the layer root,
    device nodes where they are not allowed, and file system errors while unpacking (the
    message names the entry). The caller removes the partly written layer.
    """


def show(path: bytes | str, limit: int = 200) -> str:
    """A path as an error message shows it: decoded, control characters escaped, shortened."""
    text = path.decode("utf-8", "backslashreplace") if isinstance(path, bytes) else path
    if not text.isprintable():
        text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text
