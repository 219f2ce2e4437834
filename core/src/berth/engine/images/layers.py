"""The layer DB: read-only layers keyed by chain ID, stored by the storage driver.

A record (``layerdb/sha256/<chain hex>.json``) holds the layer's diff ID, parent chain ID,
size, cache ID (the storage driver's layer ID, random) and the set of its references:
``image:<id>`` for an image whose top layer it is, ``child:<chain id>`` for each layer on top
of it, ``lease:<token>`` while a load or import is using it, ``container:<id>`` later. A layer
whose last reference goes is removed from the driver, and its parent loses one reference.

Registering a layer is ``driver.create`` + ``driver.apply_diff`` of the decompressed stream,
hashed on the way (the diff ID), checked against the expected diff ID, deduplicated by chain
ID. A marker under ``layerdb/pending/`` names the driver layer being made, so a crash half-way
is rolled back at the next start; any failure removes the driver layer at once.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from berth.engine.errors import BerthError, NotFound
from berth.engine.images import compression, digests
from berth.engine.images.errors import InvalidContent
from berth.engine.images.streams import GuardedReader, HashingReader
from berth.engine.statefile import write_atomic
from berth.plugins import StorageDriver

LEASE = "lease:"
IMAGE = "image:"
CHILD = "child:"


@dataclass
class Layer:
    chain_id: str
    diff_id: str
    parent: str | None
    size: int
    cache_id: str
    references: set[str] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        return {
            "ChainID": self.chain_id,
            "DiffID": self.diff_id,
            "Parent": self.parent,
            "Size": self.size,
            "CacheID": self.cache_id,
            "References": sorted(self.references),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Layer:
        return cls(
            str(data["ChainID"]),
            str(data["DiffID"]),
            data.get("Parent") or None,
            int(data.get("Size", 0)),
            str(data["CacheID"]),
            set(data.get("References", [])),
        )


class LayerStore:
    def __init__(self, root: Path, driver: StorageDriver, log: Any) -> None:
        self.root = root
        self.driver = driver
        self.log = log
        self.record_dir = root / "sha256"
        self.pending_dir = root / "pending"
        self.record_dir.mkdir(parents=True, exist_ok=True)
        self.pending_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._chain_locks: dict[str, threading.Lock] = {}
        self.layers: dict[str, Layer] = {}
        self._load()

    # --- state on disk ------------------------------------------------------------------

    def _load(self) -> None:
        for path in self.record_dir.glob("*.json"):
            try:
                layer = Layer.from_json(json.loads(path.read_bytes()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                self.log.error("image.layer_record_unreadable", path=str(path), error=str(exc))
                continue
            self.layers[layer.chain_id] = layer
        recorded = {layer.cache_id for layer in self.layers.values()}
        for marker in self.pending_dir.iterdir():  # a registration cut short by a crash
            if marker.name not in recorded:  # (its record written: only the marker is left)
                self._remove_driver_layer(marker.name)
            with contextlib.suppress(FileNotFoundError):
                marker.unlink()
        dropped = [
            (c, r)
            for c, layer in self.layers.items()
            for r in layer.references
            if r.startswith(LEASE)
        ]
        for chain, ref in dropped:  # leases die with the daemon that held them
            self.release(chain, ref)

    def _record_path(self, chain_id: str) -> Path:
        return self.record_dir / f"{digests.hex_of(chain_id)}.json"

    def _save(self, layer: Layer) -> None:
        write_atomic(self._record_path(layer.chain_id), json.dumps(layer.to_json()).encode())

    def _remove_driver_layer(self, cache_id: str) -> None:
        try:
            self.driver.remove(cache_id)
        except Exception as exc:
            self.log.error("image.layer_remove_failed", cache_id=cache_id, error=str(exc))

    # --- queries ----------------------------------------------------------------------

    def get(self, chain_id: str | None) -> Layer | None:
        if chain_id is None:
            return None
        with self._lock:
            return self.layers.get(chain_id)

    def require(self, chain_id: str) -> Layer:
        layer = self.get(chain_id)
        if layer is None:
            raise NotFound(f"layer {chain_id} is not in the layer store")
        return layer

    def chain(self, chain_id: str | None) -> list[Layer]:
        """The layers from the base up to ``chain_id``."""
        out: list[Layer] = []
        with self._lock:
            while chain_id is not None:
                layer = self.layers.get(chain_id)
                if layer is None:
                    break
                out.append(layer)
                chain_id = layer.parent
        out.reverse()
        return out

    def all(self) -> list[Layer]:
        with self._lock:
            return list(self.layers.values())

    # --- references ---------------------------------------------------------------------

    def acquire(self, chain_id: str, owner: str) -> Layer:
        with self._lock:
            layer = self.require(chain_id)
            if owner not in layer.references:
                layer.references.add(owner)
                self._save(layer)
            return layer

    def release(self, chain_id: str, owner: str) -> list[Layer]:
        """Drop ``owner``'s reference; return the layers that went (top first)."""
        removed: list[Layer] = []
        with self._lock:
            current: str | None = chain_id
            ref = owner
            while current is not None:
                layer = self.layers.get(current)
                if layer is None or ref not in layer.references:
                    break
                layer.references.discard(ref)
                if layer.references:
                    self._save(layer)
                    break
                self._remove_driver_layer(layer.cache_id)
                with contextlib.suppress(FileNotFoundError):
                    self._record_path(layer.chain_id).unlink()
                del self.layers[layer.chain_id]
                removed.append(layer)
                ref = CHILD + layer.chain_id
                current = layer.parent
        return removed

    def new_lease(self) -> str:
        return LEASE + secrets.token_hex(8)

    # --- registration -------------------------------------------------------------------

    @contextlib.contextmanager
    def _chain_lock(self, chain_id: str) -> Iterator[None]:
        with self._lock:
            lock = self._chain_locks.setdefault(chain_id, threading.Lock())
        with lock:
            yield

    def register(
        self,
        blob: BinaryIO,
        parent: str | None,
        expected_diff_id: str | None,
        owner: str,
        what: str = "layer",
        blob_digest: str | None = None,
    ) -> Layer:
        """Store the layer ``blob`` (a tar, maybe compressed) on top of ``parent`` (a chain
        ID, already referenced by the caller) and give ``owner`` a reference to it.

        ``blob_digest`` is the blob's own digest when the caller knows it (a verified blob
        from the store): an uncompressed blob with that digest is its diff ID, no need to hash.
        """
        if parent is not None:
            self.require(parent)
        if expected_diff_id is None:
            return self._create(blob, parent, None, owner, what)
        trusted = blob_digest == expected_diff_id
        chain = digests.chain_id(parent, expected_diff_id)
        with self._chain_lock(chain):
            with self._lock:
                existing = self.layers.get(chain)
                if existing is not None:  # referenced at once, so it cannot go meanwhile
                    self.acquire(chain, owner)
            if existing is None:
                return self._create(blob, parent, expected_diff_id, owner, what, trusted)
            try:
                if not trusted:
                    self._verify(blob, expected_diff_id, what)
            except BaseException:
                self.release(chain, owner)
                raise
            return existing

    # --- registration in two steps (layers unpacked concurrently) -----------------------

    def reserve(self, parent_cache: str | None) -> str:
        """Create an empty driver layer on top of the driver layer ``parent_cache`` (itself
        maybe only reserved) and return its cache ID. A pending marker names it until
        :meth:`record` or :meth:`abandon`, so a crash meanwhile removes it at the next start."""
        cache_id = secrets.token_hex(32)
        marker = self.pending_dir / cache_id
        write_atomic(marker, (parent_cache or "").encode())
        try:
            self.driver.create(cache_id, parent_cache)
        except BaseException:
            self._unmark(cache_id)
            raise
        return cache_id

    def abandon(self, cache_id: str) -> None:
        """Remove a reserved driver layer that will not be recorded."""
        self._remove_driver_layer(cache_id)
        self._unmark(cache_id)

    def _unmark(self, cache_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.pending_dir / cache_id).unlink()

    def record(
        self, cache_id: str, parent: str | None, diff_id: str, size: int, owner: str
    ) -> Layer | None:
        """Record a reserved, filled driver layer as the layer ``diff_id`` on top of the
        recorded layer ``parent`` and give ``owner`` a reference to it. None when that layer
        is already stored (registered meanwhile): the reservation is left to the caller."""
        if parent is not None:
            self.require(parent)
        chain = digests.chain_id(parent, diff_id)
        with self._chain_lock(chain), self._lock:
            if chain in self.layers:
                return None
            layer = self._add(chain, diff_id, parent, size, cache_id, owner)
        self._unmark(cache_id)
        return layer

    def _add(
        self, chain: str, diff_id: str, parent: str | None, size: int, cache_id: str, owner: str
    ) -> Layer:
        """Record the filled driver layer ``cache_id`` (the caller holds ``_lock``)."""
        layer = Layer(chain, diff_id, parent, size, cache_id, {owner})
        self._save(layer)
        self.layers[chain] = layer
        if parent is not None:
            self.acquire(parent, CHILD + chain)
        return layer

    def _verify(self, blob: BinaryIO, expected: str, what: str) -> None:
        """Hash a blob whose layer is already stored: the content must still be what the
        image says (a mismatch refuses the image even though no unpacking is needed)."""
        plain, _ = compression.decompressed(blob, what)
        hashing = HashingReader(plain)
        try:
            hashing.drain()
        finally:
            plain.close()
        if hashing.digest() != expected:
            raise InvalidContent(
                f"{what} has diff ID {hashing.digest()}, not the expected {expected}"
            )

    def _create(
        self,
        blob: BinaryIO,
        parent: str | None,
        expected: str | None,
        owner: str,
        what: str,
        trusted: bool = False,
    ) -> Layer:
        parent_cache = self.require(parent).cache_id if parent is not None else None
        cache_id = self.reserve(parent_cache)
        try:
            size, diff_id = self._apply(cache_id, parent_cache, blob, what, expected, trusted)
            if expected is not None and diff_id != expected:
                raise InvalidContent(f"{what} has diff ID {diff_id}, not the expected {expected}")
            chain = digests.chain_id(parent, diff_id)
            with self._lock:
                existing = self.layers.get(chain)
                if existing is not None:  # an import of a layer that is already stored
                    self._remove_driver_layer(cache_id)
                    return self.acquire(chain, owner)
                return self._add(chain, diff_id, parent, size, cache_id, owner)
        except BaseException:
            self._remove_driver_layer(cache_id)
            raise
        finally:
            self._unmark(cache_id)

    def _apply(
        self,
        cache_id: str,
        parent_cache: str | None,
        blob: BinaryIO,
        what: str,
        expected: str | None,
        trusted: bool,
    ) -> tuple[int, str]:
        plain, kind = compression.decompressed(blob, what)
        hashing = HashingReader(plain)
        skip_hash = trusted and kind == compression.PLAIN and expected is not None
        try:
            source: BinaryIO = plain if skip_hash else hashing  # type: ignore[assignment]
            size = self.driver.apply_diff(cache_id, parent_cache, source)
            if skip_hash:
                while plain.read(1 << 20):  # what the tar reader left (zero padding)
                    pass
            else:
                hashing.drain()
        except BaseException as exc:
            guard = plain if isinstance(plain, GuardedReader) else None
            if guard is not None and guard.error is not None:
                raise guard.error from None
            if isinstance(exc, BerthError) or not isinstance(exc, Exception):
                raise
            raise InvalidContent(f"{what} cannot be unpacked: {exc}") from None
        finally:
            plain.close()
        if not isinstance(size, int) or size < 0:
            size = hashing.count
        if skip_hash:
            assert expected is not None
            return size, expected
        return size, hashing.digest()
