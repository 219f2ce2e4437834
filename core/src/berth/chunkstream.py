"""A readable raw stream over an iterator of byte chunks.

Archives are made on the fly as generators — a context or `cp` tar in the client, a layer
export, a build step's files or filtered diff in the engine — and read as files (wrapped in
`io.BufferedReader`). One class for all of them; no imports beyond `io`, because the client's
start-up is budgeted.
"""

from __future__ import annotations

import io

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


class ChunkStream(io.RawIOBase):
    """Reads copy out of the current chunk (no joining); `count` is the bytes read so far.

    Closing closes the iterator (a generator's `finally` blocks run), then calls `on_close`
    once.
    """

    def __init__(self, chunks: Iterator[bytes], on_close: Callable[[], None] | None = None) -> None:
        super().__init__()
        self._chunks = chunks
        self._pending = memoryview(b"")
        self._on_close = on_close
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        if self.closed:
            raise ValueError("read from a closed stream")
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = memoryview(chunk)
        view = memoryview(buffer).cast("B")
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self.count += n
        return n

    def close(self) -> None:
        if self.closed:
            return
        try:
            close = getattr(self._chunks, "close", None)
            if close is not None:
                close()
        finally:
            super().close()
            on_close, self._on_close = self._on_close, None
            if on_close is not None:
                on_close()
