"""The content-addressed blob store: ``blobs/sha256/<hex>``, verified while written.

A blob is written to ``blobs/tmp/`` while its sha256 is computed, checked against the digest
it was announced with, fsynced, and renamed into place: a blob file under ``sha256/`` always
holds exactly the bytes its name says. Stale temporary files are removed at start.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from berth.engine.errors import NotFound
from berth.engine.images import digests
from berth.engine.images.errors import InvalidContent


class BlobWriter:
    """One blob being written; :meth:`commit` checks and stores it, :meth:`abort` drops it."""

    def __init__(
        self, store: BlobStore, expected: str | None, expected_size: int | None, what: str
    ) -> None:
        self._store = store
        self.expected = expected
        self.expected_size = expected_size
        self.what = what
        fd, name = tempfile.mkstemp(prefix="blob-", dir=store.tmp_dir)
        self._file = os.fdopen(fd, "wb")
        self._tmp = Path(name)
        self._hash = hashlib.sha256()
        self.size = 0
        self.digest: str | None = None

    def write(self, data: bytes | memoryview) -> int:
        self._hash.update(data)
        self.size += len(data)
        if self.expected_size is not None and self.size > self.expected_size:
            raise InvalidContent(
                f"{self.what} is larger than the {self.expected_size} bytes announced"
            )
        return self._file.write(data)

    def copy_from(self, source: BinaryIO, limit: int | None = None) -> int:
        """Write ``source`` (or its first ``limit`` bytes) into the blob."""
        left = limit
        copied = 0
        while left is None or left > 0:
            chunk = source.read(1 << 20 if left is None else min(1 << 20, left))
            if not chunk:
                break
            self.write(chunk)
            copied += len(chunk)
            if left is not None:
                left -= len(chunk)
        if left:
            raise InvalidContent(f"{self.what} ended {left} bytes early")
        return copied

    def commit(self) -> str:
        digest = f"sha256:{self._hash.hexdigest()}"
        try:
            if self.expected is not None and digest != self.expected:
                raise InvalidContent(
                    f"{self.what} has digest {digest}, not the expected {self.expected}"
                )
            if self.expected_size is not None and self.size != self.expected_size:
                raise InvalidContent(
                    f"{self.what} has {self.size} bytes, not the {self.expected_size} announced"
                )
            self._file.flush()
            if self._store.durable:
                os.fsync(self._file.fileno())
            self._file.close()
            final = self._store.path(digest)
            os.chmod(self._tmp, 0o644)
            os.replace(self._tmp, final)
        except BaseException:
            self.abort()
            raise
        self.digest = digest
        return digest

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None or self.digest is None:
            self.abort()


class BlobStore:
    def __init__(self, root: Path, durable: bool = True) -> None:
        self.root = root
        self.durable = durable
        self.blob_dir = root / "sha256"
        self.tmp_dir = root / "tmp"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.tmp_dir.iterdir():  # left by a crash mid-write
            with contextlib.suppress(OSError):
                stale.unlink()

    def path(self, digest: str) -> Path:
        if not digests.is_digest(digest):
            raise InvalidContent(f"not a sha256 digest: {digest!r}")
        return self.blob_dir / digests.hex_of(digest)

    def exists(self, digest: str) -> bool:
        return digests.is_digest(digest) and self.path(digest).is_file()

    def size(self, digest: str) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is not in the store") from None

    def open(self, digest: str) -> BinaryIO:
        try:
            return self.path(digest).open("rb")
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is not in the store") from None

    def read(self, digest: str, limit: int = 64 << 20) -> bytes:
        """A small blob's bytes (manifests, configs), checked against its digest."""
        with self.open(digest) as handle:
            data = handle.read(limit + 1)
        if len(data) > limit:
            raise InvalidContent(f"blob {digest} is larger than {limit} bytes")
        if digests.of_bytes(data) != digest:
            raise InvalidContent(f"blob {digest} is corrupt on disk (its digest differs)")
        return data

    def writer(
        self, expected: str | None = None, size: int | None = None, what: str = "blob"
    ) -> BlobWriter:
        if expected is not None:
            expected = digests.content_digest(expected, what)
        return BlobWriter(self, expected, size, what)

    def put(self, data: bytes, expected: str | None = None, what: str = "blob") -> str:
        digest = digests.of_bytes(data)
        if expected is not None and digest != expected:
            raise InvalidContent(f"{what} has digest {digest}, not the expected {expected}")
        if self.exists(digest):
            return digest
        with self.writer(digest, len(data), what) as writer:
            writer.write(data)
            return writer.commit()

    def delete(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(digest).unlink()

    def all(self) -> Iterator[str]:
        for entry in os.scandir(self.blob_dir):
            if digests.is_hex_id(entry.name):
                yield f"sha256:{entry.name}"
