"""Request bodies read straight off the connection's stream, in large pieces.

h11 parses request heads only: its chunked-body reader copies every byte about three times,
which costs a 100 MB upload more daemon CPU than the unpacking it feeds. Here a chunk head is
one ``readuntil`` and chunk data is handed on as the stream's buffer holds it, so a body costs
one copy out of that buffer.
"""

from __future__ import annotations

import asyncio
import re

from berth.engine.errors import BadParameter

#: Bodies are handed on in pieces of up to this many bytes (fewer only at the end).
PIECE_SIZE = 1 << 20
#: A chunk head (size, extensions, CRLF) or trailer line longer than this is refused.
MAX_CHUNK_LINE = 4096
#: Trailers are read and ignored, up to this many bytes in all.
MAX_TRAILERS = 64 * 1024
#: Up to 16 hex digits: a size that fits 64 bits, as Go's net/http allows.
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")


class BodyError(BadParameter):
    """The request body is malformed or ended early: answered with a 400, then the
    connection is closed, since where the next request starts is unknown."""


class StreamInput:
    """The connection's incoming bytes: the asyncio stream, plus bytes that were read ahead
    (a client's next request noticed while a stream response was running) and put back."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader
        self._pending = b""

    def unread(self, data: bytes) -> None:
        self._pending = data + self._pending

    def take_pending(self) -> bytes:
        data, self._pending = self._pending, b""
        return data

    async def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; ``b""`` at the end."""
        if self._pending:
            data, self._pending = self._pending[:n], self._pending[n:]
            return data
        try:
            return await self.reader.read(n)
        except ConnectionError:
            return b""

    async def readexactly(self, n: int) -> bytes:
        """``n`` bytes; IncompleteReadError if the stream ends first."""
        if not self._pending:
            return await self.reader.readexactly(n)
        head = self._pending[:n]
        self._pending = self._pending[n:]
        if len(head) == n:
            return head
        return head + await self.reader.readexactly(n - len(head))

    async def readuntil(self, separator: bytes, limit: int) -> bytes:
        """Bytes up to and including ``separator``. LimitOverrunError if there are more than
        ``limit`` before it, IncompleteReadError if the stream ends first."""
        if not self._pending:
            line = await self.reader.readuntil(separator)
        else:  # rare: read on in small steps until the put-back bytes hold a separator
            while separator not in self._pending:
                if len(self._pending) > limit:
                    raise asyncio.LimitOverrunError("separator not found", len(self._pending))
                data = await self.reader.read(READ_STEP)
                if not data:
                    raise asyncio.IncompleteReadError(self.take_pending(), None)
                self._pending += data
            end = self._pending.index(separator) + len(separator)
            line, self._pending = self._pending[:end], self._pending[end:]
        if len(line) > limit:
            raise asyncio.LimitOverrunError("separator found too far", len(line))
        return line


READ_STEP = 65536


class RequestBody:
    """One request's body: ``length`` bytes, or chunked when ``length`` is None."""

    def __init__(self, source: StreamInput, length: int | None) -> None:
        self._source = source
        self._chunked = length is None
        self._remaining = 0 if length is None else length  # of the body, or the current chunk
        self._chunk_open = False  # chunk data was read: its CRLF comes next
        self.done = length == 0
        self.failed = False

    async def next_piece(self) -> bytes | None:
        """The body's next bytes (up to PIECE_SIZE, never across a chunk's end); None once it
        has all been read."""
        if self.done:
            return None
        try:
            return await self._read_piece()
        except BodyError:
            self.failed = True
            raise
        except (asyncio.IncompleteReadError, ConnectionError):
            self.failed = True
            raise BodyError(
                "the request body ended early: the client closed the connection"
            ) from None

    async def _read_piece(self) -> bytes | None:
        if self._remaining == 0:
            if not self._chunked:
                self.done = True
                return None
            self._remaining = await self._next_chunk()
            if self._remaining == 0:
                self.done = True
                return None
        # What the stream holds (up to the chunk's end), not a fixed size: filling a piece
        # would copy the bytes once more; BodyReader gathers pieces for its worker instead.
        data = await self._source.read(min(self._remaining, PIECE_SIZE))
        if not data:
            raise asyncio.IncompleteReadError(b"", self._remaining)
        self._remaining -= len(data)
        self._chunk_open = True
        if self._remaining == 0 and not self._chunked:
            self.done = True
        return data

    async def _next_chunk(self) -> int:
        """Reads the end of the previous chunk and the next chunk's head; its size (0: the
        last chunk, whose trailers are read and ignored)."""
        if self._chunk_open:
            if await self._source.readexactly(2) != b"\r\n":
                raise BodyError("bad chunked request body: chunk data not followed by CRLF")
            self._chunk_open = False
        line = await self._line("chunk head")
        size_field = line[:-2].split(b";", 1)[0].strip(b" \t")
        if not _CHUNK_SIZE.fullmatch(size_field):
            shown = size_field[:40].decode("latin-1")
            raise BodyError(f"bad chunked request body: invalid chunk size {shown!r}")
        size = int(size_field, 16)
        if size == 0:
            await self._skip_trailers()
        return size

    async def _skip_trailers(self) -> None:
        total = 0
        while (line := await self._line("trailer")) != b"\r\n":
            total += len(line)
            if total > MAX_TRAILERS:
                raise BodyError(f"bad chunked request body: trailers over {MAX_TRAILERS} bytes")

    async def _line(self, what: str) -> bytes:
        try:
            return await self._source.readuntil(b"\r\n", MAX_CHUNK_LINE)
        except asyncio.LimitOverrunError:
            raise BodyError(
                f"bad chunked request body: {what} longer than {MAX_CHUNK_LINE} bytes"
            ) from None
