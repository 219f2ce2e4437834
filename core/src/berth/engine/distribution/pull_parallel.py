"""Pulling an image's missing layers all at once, for storage drivers whose layers can be
filled without their parents' content (:class:`berth.plugins.FillsLayersApart`: overlay).

The driver layers of the whole missing chain are reserved first (empty, each named by a
pending marker). Each layer is then downloaded (digest verified, kept in the blob store)
while a worker process unpacks it into its own directory, up to ``max_downloads`` layers at
a time, on every core. When all are done, the diff IDs are checked against the image config
and the layers recorded in chain order. A failure abandons every reservation not yet
recorded: nothing partial is left, and a crash leaves only pending markers, rolled back at
the next start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from berth.engine.distribution import progress
from berth.engine.distribution.errors import Cancelled
from berth.engine.images.errors import InvalidContent
from berth.engine.images.imageconfig import ImageConfig
from berth.engine.images.manifests import Descriptor
from berth.engine.images.streams import CHUNK
from berth.engine.images.unpackworker import UnpackJob
from berth.plugins import FillsLayersApart, ResolvedReference
from berth.plugins.layers.whiteouts import WhiteoutFormat

if TYPE_CHECKING:
    from berth.engine.distribution.pull import Puller


@dataclass(frozen=True)
class _Slot:
    """A missing layer and the reserved driver layer it is unpacked into."""

    layer: Descriptor
    cache_id: str
    target: Path
    whiteouts: WhiteoutFormat


def driver_of(puller: Puller) -> FillsLayersApart | None:
    """The storage driver, when its layers can be filled apart."""
    driver = puller.images.layers.driver
    return driver if isinstance(driver, FillsLayersApart) else None


def pull_layers(
    puller: Puller,
    remote: ResolvedReference,
    config: ImageConfig,
    manifest_layers: list[Descriptor],
    first: int,
    auth: Mapping[str, str] | None,
    owner: str,
    held: list[str],
    protect: Callable[[str], None],
    driver: FillsLayersApart,
) -> bool:
    """Pull the manifest's layers from ``first`` up (those below are stored and held).
    False, with nothing done, when the driver cannot fill these layers apart after all."""
    store = puller.images.layers
    layers = manifest_layers[first:]
    chains = config.chain_ids
    parent = chains[first - 1] if first else None
    below = store.require(parent).cache_id if parent is not None else None
    slots: list[_Slot] = []
    recorded = 0
    try:
        for layer in layers:
            cache_id = store.reserve(below)
            place = driver.independent_diff_target(cache_id, below)
            if place is None:
                store.abandon(cache_id)
                return False
            slots.append(_Slot(layer, cache_id, *place))
            below = cache_id
        results = _unpack_all(puller, remote, slots, auth, protect)
        for offset, ((size, diff_id), slot) in enumerate(zip(results, slots, strict=True)):
            expected = config.diff_ids[first + offset]
            if diff_id != expected:
                raise InvalidContent(
                    f"layer {slot.layer.digest} has diff ID {diff_id}, not the expected {expected}"
                )
            stored = store.record(slot.cache_id, parent, diff_id, size, owner)
            if stored is None:
                break  # another pull stored this layer meanwhile: the rest goes the usual way
            recorded = offset + 1
            held.append(stored.chain_id)
            parent = stored.chain_id
            puller.reporter.send(progress.layer("Pull complete", progress.short(slot.layer.digest)))
        for offset in range(recorded, len(slots)):
            store.abandon(slots[offset].cache_id)
            recorded = offset + 1
            index = first + offset
            digest = layers[offset].digest
            with puller.images.blobs.open(digest) as handle:
                store.register(
                    handle, parent, config.diff_ids[index], owner, f"layer {digest}", digest
                )
            held.append(chains[index])
            parent = chains[index]
        return True
    finally:
        for slot in slots[recorded:]:
            store.abandon(slot.cache_id)


def _unpack_all(
    puller: Puller,
    remote: ResolvedReference,
    slots: list[_Slot],
    auth: Mapping[str, str] | None,
    protect: Callable[[str], None],
) -> list[tuple[int, str]]:
    """Download and unpack every slot's layer; (content size, diff ID) of each, in order."""
    cancel = threading.Event()
    first_of: dict[str, Future[tuple[int, str]]] = {}
    futures: list[Future[tuple[int, str]]] = []
    with ThreadPoolExecutor(puller.max_downloads, thread_name_prefix="pull") as pool:
        for slot in slots:
            earlier = first_of.get(slot.layer.digest)  # the same blob twice: downloaded once
            future = pool.submit(_one, puller, remote, slot, auth, protect, cancel, earlier)
            first_of.setdefault(slot.layer.digest, future)
            futures.append(future)
        wait(futures, return_when=FIRST_EXCEPTION)
        failed = [f for f in futures if f.done() and not f.cancelled() and f.exception()]
        if failed:
            cancel.set()
            for future in futures:
                future.cancel()
            failure = failed[0].exception()
            assert failure is not None
            raise failure
        waited = time.monotonic()
        puller.images.blobs.wait_durable()  # (fsynced in the background meanwhile)
        puller.add_time("durable_wait_s", time.monotonic() - waited)
    return [future.result() for future in futures]


def _one(
    puller: Puller,
    remote: ResolvedReference,
    slot: _Slot,
    auth: Mapping[str, str] | None,
    protect: Callable[[str], None],
    cancel: threading.Event,
    earlier: Future[tuple[int, str]] | None,
) -> tuple[int, str]:
    protect(slot.layer.digest)
    if earlier is not None:
        earlier.result()  # (before taking a slot: the earlier layer may need it)
    with puller.slots:
        return _download_and_unpack(puller, remote, slot, auth, cancel)


def _download_and_unpack(
    puller: Puller,
    remote: ResolvedReference,
    slot: _Slot,
    auth: Mapping[str, str] | None,
    cancel: threading.Event,
) -> tuple[int, str]:
    if cancel.is_set():  # another layer failed while this one waited for a slot
        raise Cancelled()
    layer = slot.layer
    ident = progress.short(layer.digest)
    blobs = puller.images.blobs
    began = time.monotonic()
    job = UnpackJob(slot.target, slot.whiteouts, f"layer {layer.digest}")
    try:
        if blobs.exists(layer.digest):
            with blobs.open(layer.digest) as handle:
                while chunk := handle.read(CHUNK):
                    if cancel.is_set():
                        raise Cancelled()
                    job.feed(chunk)
        else:
            puller.fetch_blob(remote, layer, auth, cancel, job.feed, sync_later=True)
        puller.reporter.send(progress.layer("Download complete", ident))
        puller.reporter.send(progress.layer("Extracting", ident))
        result = job.finish()
    except BaseException:
        job.abort()
        raise
    puller.add_time("download_unpack_s", time.monotonic() - began)
    puller.add_time("unpack_cpu_s", job.cpu_seconds)
    return result
