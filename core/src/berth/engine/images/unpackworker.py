"""Unpacking a layer in a worker process, fed while it downloads.

Inflating, hashing the diff ID and applying the tar hold the GIL for much of their time: in
the daemon, a pull's layers would unpack one at a time on one core. A worker process per
layer uses the others. Workers fork from a small fork server that has this module imported
(started at the first pull, a few hundred ms in the background; a worker then starts in
milliseconds). The daemon sends a layer's compressed bytes down a pipe as they arrive; the
worker unpacks them into a directory of its own (a driver layer that does not need its
parent's content, e.g. an overlay upper directory) and answers the content size and the diff
ID, or one line saying what was wrong.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from berth.engine.errors import BerthError
from berth.engine.images import compression
from berth.engine.images.errors import InvalidContent
from berth.engine.images.streams import GuardedReader, HashingReader, Reader
from berth.plugins.layers import apply_layer
from berth.plugins.layers.whiteouts import WhiteoutFormat

_context_lock = threading.Lock()
_context: Any = None


def _forkserver() -> Any:
    global _context
    with _context_lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([__name__])
            _context = context
        return _context


def warm_up() -> None:
    """Start the fork server now, in the background, so the first layer does not wait."""

    def start() -> None:
        from multiprocessing import forkserver

        _forkserver()
        with contextlib.suppress(OSError):  # the first UnpackJob reports it
            forkserver.ensure_running()

    threading.Thread(target=start, name="unpack-warm-up", daemon=True).start()


class _Incoming(Reader):
    """The bytes the daemon sends, as a stream; the daemon closing its end is the end."""

    def __init__(self, source: Connection) -> None:
        super().__init__()
        self._source = source
        self._pending = memoryview(b"")

    def _read(self, size: int) -> bytes:
        if not self._pending:
            try:
                message = self._source.recv_bytes()
            except EOFError:
                return b""
            if size >= len(message):
                return message
            self._pending = memoryview(message)
        data = self._pending[:size].tobytes()  # only what is asked is copied
        self._pending = self._pending[size:]
        return data


def _unpack(source: Connection, answer: Connection, target: str, whiteouts: str, what: str) -> None:
    """The worker: unpack what ``source`` brings into ``target``; answer on ``answer``."""
    incoming = _Incoming(source)
    # the other layers' workers keep the other cores busy: no inflating thread of its own
    plain, _ = compression.decompressed(incoming, what, threaded=False)  # type: ignore[arg-type]
    hashing = HashingReader(plain)
    try:
        size = apply_layer(
            hashing,  # type: ignore[arg-type]
            Path(target),
            whiteouts=WhiteoutFormat(whiteouts),
        )
        hashing.drain()
        answer.send(("ok", size, hashing.digest(), time.process_time()))
    except Exception as exc:
        guard = plain if isinstance(plain, GuardedReader) else None
        if guard is not None and guard.error is not None:
            answer.send(("invalid", str(guard.error)))
        elif isinstance(exc, BerthError):
            answer.send(("invalid", str(exc)))
        else:
            answer.send(("invalid", f"{what} cannot be unpacked: {exc}"))
    finally:
        plain.close()
        source.close()
        answer.close()


class UnpackJob:
    """One layer being unpacked by a worker: :meth:`feed` it, then :meth:`finish` (or
    :meth:`abort`)."""

    def __init__(self, target: Path, whiteouts: WhiteoutFormat, what: str) -> None:
        context = _forkserver()
        self.what = what
        receive, self._send = context.Pipe(duplex=False)
        self._answer, reply = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_unpack,
            args=(receive, reply, str(target), whiteouts.value, what),
            name="berth-unpack",
            daemon=True,
        )
        self._process.start()
        receive.close()
        reply.close()
        #: the worker's CPU time, once finished
        self.cpu_seconds = 0.0
        self._refused = False  # the worker stopped reading (it failed): its answer says why

    def feed(self, data: bytes) -> None:
        if self._refused or not data:
            return
        try:
            self._send.send_bytes(data)
        except (BrokenPipeError, ConnectionResetError):
            self._refused = True

    def finish(self) -> tuple[int, str]:
        """Wait for the worker: (content size, diff ID); InvalidContent when it failed."""
        self._send.close()
        try:
            reply = self._answer.recv()
        except EOFError:
            reply = ("invalid", f"{self.what} cannot be unpacked: the unpacking process died")
        finally:
            self._answer.close()
            self._process.join()
        if reply[0] != "ok":
            raise InvalidContent(str(reply[1]))
        self.cpu_seconds = float(reply[3])
        return int(reply[1]), str(reply[2])

    def abort(self) -> None:
        """Stop the worker without waiting for its answer (the pull failed elsewhere)."""
        self._send.close()
        self._process.kill()
        self._process.join()
        self._answer.close()
