"""Attached clients: the bytes between a hijacked API connection and a monitor's stream.

A client may attach before the container runs (``docker run`` attaches, then starts): the
attachment then reads and keeps the client's stdin (and its end) until the service connects
it to the monitor at start. Output from the monitor comes in frames — stream byte (1 stdout,
2 stderr, 3 system), three zero bytes, a big-endian 32-bit length — and goes to the client
unchanged without a TTY, or as raw bytes with one. Stdin is watched for the detach keys
(ctrl-p ctrl-q unless the client chose others): they end the attachment, not the container.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from berth.engine.errors import BadParameter

SYSTEM = 3
READ_SIZE = 65536
DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
#: docker-py loses output that arrives in the same read as the 101 head: the first output
#: waits this long after the hijack began.
FIRST_OUTPUT_DELAY = 0.005


class ClientStream(Protocol):
    """The hijacked connection (berth.daemon.http.RawStream)."""

    async def read(self, n: int = READ_SIZE) -> bytes: ...

    async def write(self, data: bytes) -> None: ...


@dataclass(frozen=True)
class AttachOptions:
    stream: bool = False
    logs: bool = False
    stdin: bool = False
    stdout: bool = False
    stderr: bool = False
    detach_keys: str = ""


def parse_detach_keys(text: str) -> bytes:
    """Docker's detach key syntax: ``ctrl-p,ctrl-q``, ``a,b``, ``ctrl-@``, ``ctrl-\\\\``."""
    keys = bytearray()
    for part in text.split(","):
        key = part.strip()
        if len(key) == 1:
            keys.append(ord(key))
            continue
        lowered = key.lower()
        if lowered.startswith("ctrl-") and len(key) == 6:
            char = lowered[5]
            if "a" <= char <= "z":
                keys.append(ord(char) - ord("a") + 1)
                continue
            special = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}
            if char in special:
                keys.append(special[char])
                continue
        raise BadParameter(f"Invalid detach keys ({text}) provided")
    if not keys:
        raise BadParameter(f"Invalid detach keys ({text}) provided")
    return bytes(keys)


class EscapeScanner:
    """Finds the detach sequence in stdin; holds back a partial match until it is decided."""

    def __init__(self, sequence: bytes) -> None:
        self.sequence = sequence
        self._held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        """The bytes to pass on, and whether the sequence was completed (the rest is dropped)."""
        out = bytearray()
        for byte in data:
            candidate = self._held + bytes((byte,))
            if self.sequence.startswith(candidate):
                if candidate == self.sequence:
                    self._held = b""
                    return bytes(out), True
                self._held = candidate
                continue
            # no longer a prefix: release what was held, then look at this byte again
            out += self._held
            self._held = b""
            if self.sequence.startswith(bytes((byte,))):
                if len(self.sequence) == 1:
                    return bytes(out), True
                self._held = bytes((byte,))
            else:
                out.append(byte)
        return bytes(out), False

    def flush(self) -> bytes:
        held, self._held = self._held, b""
        return held


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes] | None:
    """The next frame from a monitor stream; None at its end."""
    try:
        head = await reader.readexactly(8)
        data = await reader.readexactly(int.from_bytes(head[4:8], "big"))
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    return head[0], data


class MonitorStream:
    """One connection to a monitor after an ``attach`` or ``exec`` request was accepted."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, data: bytes) -> None:
        if data and not self.writer.is_closing():
            self.writer.write(data)
            with contextlib.suppress(ConnectionError):
                await self.writer.drain()

    def end_input(self) -> None:
        """Half-close: the container's (or exec's) stdin reached its end."""
        with contextlib.suppress(OSError, RuntimeError):
            if self.writer.can_write_eof() and not self.writer.is_closing():
                self.writer.write_eof()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class Attachment:
    """One client attached to a container (or to an exec): runs as the hijack handler."""

    def __init__(
        self,
        options: AttachOptions,
        tty: bool,
        escape: bytes | None,
        on_detach: Callable[[], None] | None = None,
    ) -> None:
        self.options = options
        self.tty = tty
        self._escape = EscapeScanner(escape) if escape and options.stdin else None
        self._monitor: asyncio.Future[MonitorStream | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._stdin = bytearray()
        self._stdin_ended = False
        #: The monitor's stream once the stdin held until then went out: only then does new
        #: stdin go straight to it (so nothing overtakes what was held).
        self._live: MonitorStream | None = None
        self._detached = asyncio.Event()
        self._on_detach = on_detach
        self.system_frames: list[bytes] = []
        self.done = asyncio.Event()

    # --- the service's side ------------------------------------------------------------------

    @property
    def waiting(self) -> bool:
        return not self._monitor.done()

    def connect(self, stream: MonitorStream) -> None:
        """Join the monitor's stream; buffered stdin (and its end) goes first."""
        if self._monitor.done():
            stream.close()
            return
        self._monitor.set_result(stream)

    def abandon(self) -> None:
        """The container will not run for this client (start failed, removed): end it."""
        if not self._monitor.done():
            self._monitor.set_result(None)

    # --- the hijack handler ----------------------------------------------------------------

    async def run(
        self, client: ClientStream, before: Callable[[ClientStream], Awaitable[None]] | None = None
    ) -> None:
        began = time.monotonic()
        reader = asyncio.ensure_future(self._read_client(client))
        try:
            if before is not None:
                await before(client)
            waiting: asyncio.Future[Any] = asyncio.ensure_future(self._detached.wait())
            monitor: asyncio.Future[Any] = self._monitor
            done, _ = await asyncio.wait({monitor, waiting}, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            if self._monitor not in done:  # detached before the container started
                self.abandon()
                return
            stream = self._monitor.result()
            if stream is None:
                return
            try:
                await self._copy_out(stream, client, began)
            finally:
                stream.close()
        finally:
            reader.cancel()
            with contextlib.suppress(BaseException):
                await reader
            self.done.set()

    async def _read_client(self, client: ClientStream) -> None:
        while True:
            data = await client.read()
            if not data:
                break
            if not self.options.stdin:
                continue
            detached = False
            if self._escape is not None:
                data, detached = self._escape.feed(data)
            await self._to_monitor(data)
            if detached:
                self._detached.set()
                if self._on_detach is not None:
                    self._on_detach()
                return
        if self._escape is not None:
            await self._to_monitor(self._escape.flush())
        self._stdin_ended = True
        stream = self._connected()
        if stream is not None and self.options.stdin:
            stream.end_input()

    def _connected(self) -> MonitorStream | None:
        return self._live

    async def _to_monitor(self, data: bytes) -> None:
        if not data:
            return
        stream = self._live
        if stream is None:
            self._stdin += data
        else:
            await stream.send(data)

    async def _copy_out(self, stream: MonitorStream, client: ClientStream, began: float) -> None:
        while self._stdin:  # more may come in while this is sent
            data, self._stdin = bytes(self._stdin), bytearray()
            await stream.send(data)
        self._live = stream
        if self._stdin_ended and self.options.stdin:
            stream.end_input()
        first = True
        detached = asyncio.ensure_future(self._detached.wait())
        try:
            while True:
                nxt = asyncio.ensure_future(read_frame(stream.reader))
                done, _ = await asyncio.wait({nxt, detached}, return_when=asyncio.FIRST_COMPLETED)
                if nxt not in done:
                    nxt.cancel()
                    return
                frame = nxt.result()
                if frame is None:
                    return
                kind, data = frame
                if kind == SYSTEM:
                    self.system_frames.append(data)
                    continue
                if first:
                    first = False
                    pause = FIRST_OUTPUT_DELAY - (time.monotonic() - began)
                    if pause > 0:
                        await asyncio.sleep(pause)
                out = (
                    data
                    if self.tty
                    else bytes((kind, 0, 0, 0)) + len(data).to_bytes(4, "big") + data
                )
                try:
                    await client.write(out)
                except (ConnectionError, RuntimeError):
                    return
        finally:
            detached.cancel()
