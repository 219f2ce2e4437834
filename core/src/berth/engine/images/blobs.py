"""The content-addressed blob store: ``blobs/sha256/<hex>``, verified while written.

A blob is written to ``blobs/tmp/`` while its sha256 is computed, checked against the digest
it was announced with, fsynced, and renamed into place: a blob file under ``sha256/`` always
holds exactly the bytes its name says. Stale temporary files are removed at start.

A writer may leave the fsync to a background thread (``sync_later``: a load spooling a large
archive goes on reading while the disk catches up): the blob is then found at its temporary
path until its fsync is done and it is renamed into place, and :meth:`BlobStore.wait_durable`
waits for every such blob — before any record names one.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from berth.engine.errors import BerthError, NotFound
from berth.engine.images import digests
from berth.engine.images.errors import InvalidContent


class BlobWriter:
    """One blob being written; :meth:`commit` checks and stores it, :meth:`abort` drops it."""

    def __init__(
        self,
        store: BlobStore,
        expected: str | None,
        expected_size: int | None,
        what: str,
        sync_later: bool = False,
    ) -> None:
        self._store = store
        self._sync_later = sync_later and store.durable
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
            os.chmod(self._tmp, 0o644)
            if self._sync_later:
                self._store._finish_later(digest, self._file, self._tmp)
                self.digest = digest
                return digest
            if self._store.durable:
                os.fsync(self._file.fileno())
            self._file.close()
            final = self._store.path(digest)
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


class _Syncing:
    """A blob whose fsync runs in the background: where it is until then, and the job."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.done: Future[None] = Future()


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
        self._syncing: dict[str, _Syncing] = {}
        self._syncing_lock = threading.Lock()
        self._syncer: ThreadPoolExecutor | None = None

    def path(self, digest: str) -> Path:
        if not digests.is_digest(digest):
            raise InvalidContent(f"not a sha256 digest: {digest!r}")
        return self.blob_dir / digests.hex_of(digest)

    def _paths(self, digest: str) -> list[Path]:
        """Where the blob is: its temporary path while its fsync runs, then its own."""
        final = self.path(digest)
        with self._syncing_lock:
            syncing = self._syncing.get(digest)
        return [syncing.tmp, final] if syncing is not None else [final]

    def exists(self, digest: str) -> bool:
        return digests.is_digest(digest) and any(p.is_file() for p in self._paths(digest))

    def size(self, digest: str) -> int:
        for path in self._paths(digest):
            with contextlib.suppress(FileNotFoundError):
                return path.stat().st_size
        raise NotFound(f"blob {digest} is not in the store")

    def open(self, digest: str) -> BinaryIO:
        for path in self._paths(digest):  # (renamed in between: the next path has it)
            with contextlib.suppress(FileNotFoundError):
                return path.open("rb")
        raise NotFound(f"blob {digest} is not in the store")

    # --- fsync in the background ----------------------------------------------------------

    def _finish_later(self, digest: str, file: BinaryIO, tmp: Path) -> None:
        """For a writer: fsync, close and rename the verified blob in the background."""
        with self._syncing_lock:
            if digest in self._syncing:  # the same blob twice in one archive
                file.close()
                tmp.unlink(missing_ok=True)
                return
            if self._syncer is None:
                self._syncer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="blob-sync")
            job = _Syncing(tmp)
            self._syncer.submit(self._sync, digest, file, job)
            self._syncing[digest] = job

    def _sync(self, digest: str, file: BinaryIO, job: _Syncing) -> None:
        try:
            try:
                os.fsync(file.fileno())
            finally:
                file.close()
            os.replace(job.tmp, self.path(digest))
        except BaseException as exc:
            job.tmp.unlink(missing_ok=True)
            job.done.set_exception(
                BerthError(f"cannot store blob {digest}: {getattr(exc, 'strerror', None) or exc}")
            )
        else:
            job.done.set_result(None)
        finally:
            with self._syncing_lock:
                if self._syncing.get(digest) is job:
                    del self._syncing[digest]

    def wait_durable(self) -> None:
        """Wait until every blob written with ``sync_later`` is on disk under its name;
        raise the first failure."""
        with self._syncing_lock:
            jobs = list(self._syncing.values())
        for job in jobs:
            job.done.result()

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
        self,
        expected: str | None = None,
        size: int | None = None,
        what: str = "blob",
        sync_later: bool = False,
    ) -> BlobWriter:
        if expected is not None:
            expected = digests.content_digest(expected, what)
        return BlobWriter(self, expected, size, what, sync_later)

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
        with self._syncing_lock:
            job = self._syncing.get(digest)
        if job is not None:  # let its fsync and rename finish first
            with contextlib.suppress(BerthError):
                job.done.result()
        with contextlib.suppress(FileNotFoundError):
            self.path(digest).unlink()

    def all(self) -> Iterator[str]:
        for entry in os.scandir(self.blob_dir):
            if digests.is_hex_id(entry.name):
                yield f"sha256:{entry.name}"
