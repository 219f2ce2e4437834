"""A blocking file object over a request's streamed body, for work done in a worker thread.

The worker reads; each read that needs more bytes asks the event loop for the body's next
pieces (up to BUFFER bytes of them), so a large upload is never held in memory.
"""

from __future__ import annotations

import asyncio
import io
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from berth.engine.errors import BadParameter

BUFFER = 1 << 20


class BodyReader(io.RawIOBase):
    def __init__(self, chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._chunks = chunks.__aiter__()
        self._loop = loop
        self._pending = memoryview(b"")
        self._queued: deque[bytes] = deque()
        self._eof = False
        self.count = 0

    def readable(self) -> bool:
        return True

    async def _next(self) -> list[bytes]:
        """The body's next pieces, up to BUFFER bytes of them at once: a client sending small
        chunks (the docker CLI's are 32 KiB) costs one hand-over to the worker per BUFFER,
        not one per chunk. Kept apart, not joined: joining would copy every byte once more.
        Empty at the end."""
        parts: list[bytes] = []
        size = 0
        while size < BUFFER:
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                break
            if chunk:
                parts.append(chunk)
                size += len(chunk)
        return parts

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._eof:
            if self._queued:
                self._pending = memoryview(self._queued.popleft())
                break
            future = asyncio.run_coroutine_threadsafe(self._next(), self._loop)
            try:
                parts = future.result()
            except Exception as exc:
                raise BadParameter(
                    f"the request body could not be read to its end: {exc or type(exc).__name__}"
                ) from None
            self._queued.extend(parts)
            self._eof = not parts
        view = memoryview(buffer).cast("B")
        n = min(len(view), len(self._pending))
        view[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self.count += n
        return n


def body_file(chunks: AsyncIterator[bytes]) -> io.BufferedReader:
    """A buffered reader of ``chunks``; call from the loop, read from a worker thread."""
    return io.BufferedReader(BodyReader(chunks, asyncio.get_running_loop()), BUFFER)
