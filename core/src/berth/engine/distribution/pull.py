"""Pull: manifest (platform chosen from an index), config, then the layers — downloaded in
parallel into the blob store (digest verified while written) and unpacked in order as soon as
each one and those below it are there, while later ones still download.

With a driver whose layers can be filled without their parents' content (overlay), the
missing layers are instead all unpacked at once, each by a worker process fed as it downloads,
and recorded in chain order at the end: see :mod:`berth.engine.distribution.pull_parallel`.

Everything a pull stores is held by a blob lease and a layer lease until the image is
committed: a failure (bad digest, dropped registry, full disk) leaves nothing behind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, BinaryIO

from berth.engine.distribution import progress, pull_parallel
from berth.engine.distribution.errors import (
    Cancelled,
    DistributionError,
    NoMatchingPlatform,
    from_registry,
)
from berth.engine.images import digests, manifests, mediatypes, unpackworker
from berth.engine.images.errors import InvalidContent
from berth.engine.images.imageconfig import ImageConfig, parse_config
from berth.engine.images.manifests import Descriptor, Index, Manifest
from berth.engine.images.platforms import Platform, host, score
from berth.engine.images.reference import Reference
from berth.engine.images.service import ImageService
from berth.engine.images.streams import CHUNK, Reader
from berth.plugins import Manifest as RawManifest
from berth.plugins import RegistryClient, RegistryError, ResolvedReference

ACCEPT = (
    mediatypes.OCI_INDEX,
    mediatypes.DOCKER_LIST,
    mediatypes.OCI_MANIFEST,
    mediatypes.DOCKER_MANIFEST,
)
CONFIG_LIMIT = 8 << 20


@dataclass(frozen=True)
class Resolved:
    """What a reference names in the registry: the manifest to pull and where it came from."""

    remote: ResolvedReference
    top_digest: str  # the digest the tag names (an index's when there is one)
    manifest: Manifest
    raw: RawManifest
    platforms: tuple[Platform, ...]


def remote_ref(ref: Reference, endpoint: str = "") -> ResolvedReference:
    return ResolvedReference(ref.domain, ref.path, ref.tag, ref.digest, endpoint)


class _Counting(Reader):
    """Reports ``Extracting`` progress as the layer's compressed bytes are consumed."""

    def __init__(self, raw: BinaryIO, report: Callable[[int], None]) -> None:
        super().__init__()
        self._raw = raw
        self._report = report
        self.count = 0

    def _read(self, size: int) -> bytes:
        data = self._raw.read(size)
        self.count += len(data)
        self._report(self.count)
        return data


class _Tee(Reader):
    """Passes a download through to the unpacker, writing it into its blob on the way; a
    failure of either (registry, disk) is remembered, so it can be reported as itself once
    the decompressor has wrapped it."""

    def __init__(self, raw: BinaryIO, sink: Any, report: Callable[[int], None]) -> None:
        super().__init__()
        self._raw = raw
        self._sink = sink
        self._report = report
        self.count = 0
        self.failure: RegistryError | OSError | None = None

    def _read(self, size: int) -> bytes:
        try:
            data: bytes = self._raw.read(size)
            if data:
                self._sink.write(data)
        except (RegistryError, OSError) as exc:
            self.failure = exc
            raise
        self.count += len(data)
        self._report(self.count)
        return data

    def drain(self) -> None:
        while self._read(CHUNK):
            pass


class Puller:
    def __init__(
        self,
        images: ImageService,
        client: RegistryClient,
        reporter: progress.Reporter,
        max_downloads: int = 3,
        log: Any = None,
        slots: threading.Semaphore | None = None,
    ) -> None:
        self.images = images
        self.client = client
        self.reporter = reporter
        self.max_downloads = max(1, max_downloads)
        self.log = log
        #: the daemon's download slots, shared by every pull: as in Docker,
        #: max-concurrent-downloads bounds the daemon's downloads (and unpacking processes)
        self.slots = slots or threading.BoundedSemaphore(self.max_downloads)
        #: where a pull's time went (seconds), logged as ``pull.finished``
        self.timings: dict[str, float] = {}
        self._timing_lock = threading.Lock()

    def add_time(self, key: str, seconds: float) -> None:
        with self._timing_lock:
            self.timings[key] = self.timings.get(key, 0.0) + seconds

    # --- manifests ----------------------------------------------------------------------

    def resolve(
        self, ref: Reference, platform: Platform | None, auth: Mapping[str, str] | None
    ) -> Resolved:
        """Find ``ref``'s manifest for ``platform``: mirrors first, then the registry."""
        endpoints = self.client.endpoints(ref.domain)
        for number, endpoint in enumerate(endpoints):
            remote = remote_ref(ref, endpoint.url)
            try:
                raw = self.client.get_manifest(remote, ACCEPT, auth)
                return self._choose(remote, raw, platform, auth)
            except RegistryError as exc:
                if endpoint.mirror and number + 1 < len(endpoints):
                    if self.log is not None:
                        self.log.warning("pull.mirror_failed", mirror=endpoint.url, error=str(exc))
                    continue
                raise from_registry(exc) from None
        raise DistributionError(f"no registry endpoint for {ref.domain}")

    def _choose(
        self,
        remote: ResolvedReference,
        raw: RawManifest,
        platform: Platform | None,
        auth: Mapping[str, str] | None,
    ) -> Resolved:
        wanted = platform or host()
        doc = manifests.parse(raw.content, raw.media_type, f"manifest for {remote}")
        top = raw.digest
        if isinstance(doc, Index):
            entries = manifests.image_entries(doc)
            chosen = manifests.select(entries, wanted)
            if chosen is None:
                raise NoMatchingPlatform(
                    f"no matching manifest for {wanted} in the manifest list entries"
                )
            pinned = ResolvedReference(
                remote.registry, remote.repository, None, chosen.digest, remote.endpoint
            )
            raw = self.client.get_manifest(pinned, ACCEPT, auth)
            doc = manifests.parse(raw.content, raw.media_type, f"manifest {chosen.digest}")
            if not isinstance(doc, Manifest):
                raise InvalidContent(f"manifest {chosen.digest} is an index inside an index")
        platforms = tuple(
            e.platform for e in (doc.manifests if isinstance(doc, Index) else ()) if e.platform
        )
        if not manifests.is_image(doc):
            raise InvalidContent(
                f"{remote} is not a container image (config {doc.config.media_type})"
            )
        manifests.check_layers(doc, f"manifest for {remote}")
        return Resolved(remote, top, doc, raw, platforms)

    def fetch_config(
        self, resolved: Resolved, auth: Mapping[str, str] | None, platform: Platform | None
    ) -> ImageConfig:
        descriptor = resolved.manifest.config
        if descriptor.size > CONFIG_LIMIT:
            raise InvalidContent(f"image config {descriptor.digest} is too large")
        if self.images.blobs.exists(descriptor.digest):
            raw = self.images.blobs.read(descriptor.digest)
        else:
            try:
                with self.client.open_blob(resolved.remote, descriptor.digest, auth) as stream:
                    raw = stream.read(CONFIG_LIMIT + 1)
            except RegistryError as exc:
                raise from_registry(exc) from None
            if digests.of_bytes(raw) != descriptor.digest:
                raise InvalidContent(
                    f"image config {descriptor.digest} from the registry has digest "
                    f"{digests.of_bytes(raw)}: refused"
                )
        config = parse_config(raw)
        if len(config.diff_ids) != len(resolved.manifest.layers):
            raise InvalidContent(
                f"image config {descriptor.digest} names {len(config.diff_ids)} layers, "
                f"the manifest {len(resolved.manifest.layers)}"
            )
        if platform is not None:
            actual = Platform(
                str(config.doc.get("os", "")),
                str(config.doc.get("architecture", "")),
                str(config.doc.get("variant", "") or ""),
            )
            if actual.architecture and score(actual, platform) == 0:
                raise NoMatchingPlatform(
                    f"image with reference {resolved.remote} was found but does not match the "
                    f"specified platform: wanted {platform}, actual: {actual}"
                )
        return config

    # --- the pull -----------------------------------------------------------------------

    def pull(
        self, ref: Reference, platform: Platform | None, auth: Mapping[str, str] | None
    ) -> str:
        """Pull ``ref`` (tag or digest); return the final status line."""
        started = time.monotonic()
        cpu_started = time.process_time()
        self.timings = {}
        resolved = self.resolve(ref, platform, auth)
        self.reporter.send(progress.status(f"Pulling from {ref.path}", ref.tag or ref.digest or ""))
        config = self.fetch_config(resolved, auth, platform)
        owner = self.images.layers.new_lease()
        held: list[str] = []
        try:
            with self.images.blob_lease() as protect:
                protect(config.id)
                self.images.blobs.put(config.raw, config.id, "image config")
                self._layers(resolved, config, auth, owner, held, protect)
                manifest_digest = self.images.blobs.put(
                    resolved.raw.content, resolved.raw.digest, "image manifest"
                )
                protect(manifest_digest)
                descriptor = Descriptor(
                    resolved.manifest.media_type, manifest_digest, len(resolved.raw.content)
                )
                tag = ref if ref.tag is not None and ref.digest is None else None
                repo_digest = Reference(ref.domain, ref.path, None, resolved.top_digest)
                _, changed = self.images.commit_pulled(config, descriptor, tag, repo_digest)
        finally:
            for chain in reversed(held):
                self.images.layers.release(chain, owner)
        self.reporter.send(progress.status(f"Digest: {resolved.top_digest}"))
        if self.log is not None:
            self.log.info(
                "pull.finished",
                reference=str(ref),
                layers=len(resolved.manifest.layers),
                compressed_bytes=sum(layer.size for layer in resolved.manifest.layers),
                wall_s=round(time.monotonic() - started, 3),
                daemon_cpu_s=round(time.process_time() - cpu_started, 3),
                **{key: round(value, 3) for key, value in self.timings.items()},
            )
        if changed:
            return f"Status: Downloaded newer image for {ref.familiar}"
        return f"Status: Image is up to date for {ref.familiar}"

    def _layers(
        self,
        resolved: Resolved,
        config: ImageConfig,
        auth: Mapping[str, str] | None,
        owner: str,
        held: list[str],
        protect: Callable[[str], None],
    ) -> None:
        layers = resolved.manifest.layers
        chains = config.chain_ids
        store = self.images.layers
        present: list[bool] = []
        for chain, layer in zip(chains, layers, strict=True):
            here = store.get(chain) is not None and self.images.blobs.exists(layer.digest)
            if here:
                protect(layer.digest)
                store.acquire(chain, owner)
                held.append(chain)
            present.append(here)
        for layer, here in zip(layers, present, strict=True):
            ident = progress.short(layer.digest)
            self.reporter.send(
                progress.layer("Already exists" if here else "Pulling fs layer", ident)
            )
        missing = [layer for layer, here in zip(layers, present, strict=True) if not here]
        # With a driver that can fill layers apart, the missing layers on top of those
        # stored are all unpacked at once (pull_parallel).
        driver = pull_parallel.driver_of(self)
        first = present.index(False) if missing else len(layers)
        if driver is not None and missing and not any(present[first:]):
            unpackworker.warm_up()  # (the first pull starts the workers' fork server)
            for layer in layers[first + self.max_downloads :]:
                self.reporter.send(progress.layer("Waiting", progress.short(layer.digest)))
            args = (resolved.remote, config, list(layers), first, auth, owner, held, protect)
            if pull_parallel.pull_layers(self, *args, driver):
                return
        # The first missing layer is unpacked as it arrives (nothing to wait for); the
        # others download in parallel meanwhile and are unpacked from the blob store.
        streamed = missing[0].digest if missing else None
        if streamed is not None and self.images.blobs.exists(streamed):
            streamed = None
        later = [layer for layer in missing if layer.digest != streamed]
        for layer in later[self.max_downloads :]:
            self.reporter.send(progress.layer("Waiting", progress.short(layer.digest)))
        cancel = threading.Event()
        futures: dict[str, Future[None]] = {}
        with ThreadPoolExecutor(self.max_downloads, thread_name_prefix="pull") as pool:
            try:
                for layer in later:
                    if layer.digest not in futures:
                        futures[layer.digest] = pool.submit(
                            self._download, resolved.remote, layer, auth, protect, cancel
                        )
                parent: str | None = None
                for index, (layer, here) in enumerate(zip(layers, present, strict=True)):
                    if here:
                        parent = chains[index]
                        continue
                    diff_id = config.diff_ids[index]
                    if layer.digest == streamed and not self.images.blobs.exists(streamed):
                        try:
                            self._stream(
                                resolved.remote, layer, auth, protect, diff_id, parent, owner
                            )
                        except BaseException:
                            # unpacked, but its blob refused: the layer is ours to drop
                            stored = store.get(chains[index])
                            if stored is not None and owner in stored.references:
                                held.append(chains[index])
                            raise
                    else:
                        waited = time.monotonic()
                        if layer.digest in futures:
                            futures[layer.digest].result()
                        self.add_time("waiting_for_download_s", time.monotonic() - waited)
                        self._unpack(layer, diff_id, parent, owner, index, len(layers))
                    held.append(chains[index])
                    parent = chains[index]
            except BaseException:
                cancel.set()
                for future in futures.values():
                    future.cancel()
                raise

    def _download(
        self,
        remote: ResolvedReference,
        layer: Descriptor,
        auth: Mapping[str, str] | None,
        protect: Callable[[str], None],
        cancel: threading.Event,
    ) -> None:
        ident = progress.short(layer.digest)
        blobs = self.images.blobs
        protect(layer.digest)
        if blobs.exists(layer.digest):
            self.reporter.send(progress.layer("Download complete", ident))
            return
        with self.slots:
            self.fetch_blob(remote, layer, auth, cancel)
        self.reporter.send(progress.layer("Download complete", ident))

    def fetch_blob(
        self,
        remote: ResolvedReference,
        layer: Descriptor,
        auth: Mapping[str, str] | None,
        cancel: threading.Event,
        feed: Callable[[bytes], None] | None = None,
        sync_later: bool = False,
    ) -> None:
        """Download ``layer`` into the blob store (digest verified), passing each piece to
        ``feed`` too when given; ``sync_later`` leaves the fsync to the blob store's
        background thread (the caller waits for it before recording anything)."""
        ident = progress.short(layer.digest)
        what = f"layer {layer.digest}"
        began = time.monotonic()
        blobs = self.images.blobs
        try:
            with (
                self.client.open_blob(remote, layer.digest, auth) as stream,
                blobs.writer(layer.digest, layer.size, what, sync_later=sync_later) as writer,
            ):
                done = 0
                while chunk := stream.read(CHUNK):
                    if cancel.is_set():
                        raise Cancelled()
                    writer.write(chunk)
                    if feed is not None:
                        feed(chunk)
                    done += len(chunk)
                    self.reporter.progress("Downloading", ident, done, layer.size)
                self.reporter.send(progress.layer("Verifying Checksum", ident))
                writer.commit()
        except RegistryError as exc:
            raise from_registry(exc) from None
        except OSError as exc:
            raise DistributionError(f"{what} cannot be stored: {exc.strerror or exc}") from None
        self.add_time("download_s", time.monotonic() - began)

    def _stream(
        self,
        remote: ResolvedReference,
        layer: Descriptor,
        auth: Mapping[str, str] | None,
        protect: Callable[[str], None],
        diff_id: str,
        parent: str | None,
        owner: str,
    ) -> None:
        """Download a layer and unpack it in one pass, keeping its blob on the way. The diff
        ID is checked while unpacking, the blob's digest when it is complete: a mismatch
        fails the pull (the caller drops the layer)."""
        ident = progress.short(layer.digest)
        what = f"layer {layer.digest}"
        protect(layer.digest)
        began = time.monotonic()

        def report(current: int) -> None:
            self.reporter.progress("Downloading", ident, min(current, layer.size), layer.size)

        try:
            with (
                self.slots,
                self.client.open_blob(remote, layer.digest, auth) as stream,
                self.images.blobs.writer(layer.digest, layer.size, what) as writer,
            ):
                tee = _Tee(stream, writer, report)
                try:
                    self.images.layers.register(
                        tee,  # type: ignore[arg-type]
                        parent,
                        diff_id,
                        owner,
                        what,
                    )
                    tee.drain()
                except InvalidContent:
                    if tee.failure is None:
                        raise
                    raise tee.failure from None
                self.reporter.send(progress.layer("Verifying Checksum", ident))
                writer.commit()
        except RegistryError as exc:
            raise from_registry(exc) from None
        except OSError as exc:
            raise DistributionError(f"{what} cannot be stored: {exc.strerror or exc}") from None
        self.add_time("streamed_s", time.monotonic() - began)
        self.reporter.send(progress.layer("Download complete", ident))
        self.reporter.send(progress.layer("Pull complete", ident))

    def _unpack(
        self,
        layer: Descriptor,
        diff_id: str,
        parent: str | None,
        owner: str,
        index: int,
        count: int,
    ) -> None:
        ident = progress.short(layer.digest)

        def report(current: int) -> None:
            self.reporter.progress("Extracting", ident, min(current, layer.size), layer.size)

        began = time.monotonic()
        with self.images.blobs.open(layer.digest) as handle:
            counting = _Counting(handle, report)
            self.images.layers.register(
                counting,  # type: ignore[arg-type]
                parent,
                diff_id,
                owner,
                f"layer {index + 1} of {count} ({ident})",
                layer.digest,
            )
        self.add_time("unpack_s", time.monotonic() - began)
        self.reporter.send(progress.layer("Pull complete", ident))


def pull_all_tags(
    puller: Puller,
    ref: Reference,
    platform: Platform | None,
    auth: Mapping[str, str] | None,
) -> list[str]:
    """``--all-tags``: every tag of the repository, one after the other."""
    try:
        tags = puller.client.list_tags(remote_ref(ref), auth)
    except RegistryError as exc:
        raise from_registry(exc) from None
    lines = []
    for tag in sorted(tags):
        lines.append(puller.pull(ref.with_tag(tag), platform, auth))
    return lines
