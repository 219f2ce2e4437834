"""Small readers: a prefix put back in front of a stream, a sha256-hashing reader, and a
guard that turns a decompressor's failure into one clear line."""

from __future__ import annotations

import contextlib
import hashlib
import io
from typing import Any, BinaryIO

from berth.engine.images.errors import InvalidContent

CHUNK = 1 << 20


class Reader(io.RawIOBase):
    """Base of the readers here: ``read``/``readinto`` over :meth:`_read`."""

    def readable(self) -> bool:
        return True

    def _read(self, size: int) -> bytes:
        raise NotImplementedError

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while chunk := self._read(CHUNK):
                parts.append(chunk)
            return b"".join(parts)
        return self._read(size)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._read(len(view))
        view[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return self.read(-1)


class PrefixedReader(Reader):
    """``prefix`` then the rest of ``raw`` (used to sniff magic bytes without seeking)."""

    def __init__(self, prefix: bytes, raw: BinaryIO) -> None:
        super().__init__()
        self._prefix = prefix
        self._raw = raw

    def _read(self, size: int) -> bytes:
        if self._prefix:
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        return self._raw.read(size)


def read_exactly(raw: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes, fewer only at the end of the stream."""
    parts, got = [], 0
    while got < size:
        chunk = raw.read(size - got)
        if not chunk:
            break
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


class HashingReader(Reader):
    """Passes ``raw`` through, hashing (sha256) and counting what was read."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        self._raw = raw
        self._hash = hashlib.sha256()
        self.count = 0

    def _read(self, size: int) -> bytes:
        data = self._raw.read(size)
        if data:
            self._hash.update(data)
            self.count += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        raw_readinto = getattr(self._raw, "readinto", None)
        if raw_readinto is None:
            return super().readinto(buffer)
        view = memoryview(buffer).cast("B")
        n = raw_readinto(view)
        if n:
            self._hash.update(view[:n])
            self.count += n
        return n or 0

    def drain(self) -> None:
        """Read (and hash) whatever the consumer left, e.g. a tar's zero padding."""
        while self._read(CHUNK):
            pass

    def digest(self) -> str:
        return f"sha256:{self._hash.hexdigest()}"


class GuardedReader(Reader):
    """Wraps a decompressor: its errors (truncated or corrupt data) become InvalidContent,
    remembered in :attr:`error` so a caller that sees a consumer's wrapped error can tell."""

    def __init__(self, raw: BinaryIO, what: str) -> None:
        super().__init__()
        self._raw = raw
        self.what = what
        self.error: InvalidContent | None = None

    def _read(self, size: int) -> bytes:
        if self.error is not None:
            raise self.error
        try:
            return self._raw.read(size)
        except InvalidContent as exc:
            self.error = exc
            raise
        except (EOFError, OSError, ValueError, RuntimeError) as exc:
            detail = str(exc) or type(exc).__name__
            self.error = InvalidContent(f"{self.what} is truncated or corrupt: {detail}")
            raise self.error from None
        except Exception as exc:  # zstandard.ZstdError and other decompressor errors
            detail = str(exc) or type(exc).__name__
            self.error = InvalidContent(f"{self.what} is truncated or corrupt: {detail}")
            raise self.error from None

    def close(self) -> None:
        with contextlib.suppress(Exception):  # a decompressor's thread may re-raise here
            self._raw.close()
        super().close()
