"""A blob being downloaded: read as a stream; a dropped or stalled connection is resumed
with a byte range from where it stopped, a few times, before the read fails."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

from berth.plugins import RegistryUnavailable

from berth_registry_hub.transport import NETWORK_ERRORS, Response

#: open(offset) → a response whose body starts at ``offset`` (206) or at 0 (200)
Opener = Callable[[int], Response]


class BlobStream(io.RawIOBase):
    def __init__(self, opener: Opener, first: Response, attempts: int, what: str) -> None:
        super().__init__()
        self._open = opener
        self._response: Response | None = first
        self._attempts = attempts
        self.what = what
        length = first.header("Content-Length")
        self.size: int | None = int(length) if length.isdigit() else None
        self.offset = 0
        self.resumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        failures = 0
        while True:
            if self._response is None:
                self._response = self._reopen()
            try:
                n = self._response.raw.readinto(view)
            except NETWORK_ERRORS as exc:
                failures += 1
                self._drop()
                if failures >= self._attempts:
                    raise self._failed(exc) from None
                time.sleep(min(0.1 * 2**failures, 2.0))
                continue
            if n == 0 and len(view) and self.size is not None and self.offset < self.size:
                failures += 1  # closed early without an error
                self._drop()
                if failures >= self._attempts:
                    raise RegistryUnavailable(f"{self.what}: the connection kept dropping")
                continue
            self.offset += n
            return n

    def _failed(self, exc: BaseException) -> RegistryUnavailable:
        if isinstance(exc, TimeoutError):
            return RegistryUnavailable(
                f"{self.what}: the registry stalled (no data for too long, "
                f"{self.offset} bytes received)"
            )
        return RegistryUnavailable(f"{self.what}: download failed: {exc or type(exc).__name__}")

    def _reopen(self) -> Response:
        self.resumed += 1
        response = self._open(self.offset)
        if response.status == 206:
            return response
        # the registry ignored the range: skip what we already have
        left = self.offset
        while left > 0:
            chunk = response.raw.read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)
        return response

    def _drop(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            if self.size is not None and self.offset >= self.size:
                response.close()
            else:
                response.discard()

    def close(self) -> None:
        self._drop()
        super().close()
