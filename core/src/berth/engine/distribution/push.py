"""Push: an image's blobs (layers in parallel, each checked with HEAD first and mounted from
another repository of the same registry when the image came from one), its config, then its
manifest under the tag — the manifest stored at pull or load time, byte for byte, so the
digest on the registry is the one the image already had."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from berth.engine.distribution import progress
from berth.engine.distribution.errors import DistributionError, from_registry
from berth.engine.distribution.pull import remote_ref
from berth.engine.images import manifests
from berth.engine.images.errors import ImageNotFound, InvalidContent
from berth.engine.images.manifests import Descriptor, Manifest
from berth.engine.images.reference import Reference
from berth.engine.images.service import ImageService
from berth.engine.images.store import Image
from berth.engine.images.streams import CHUNK, Reader
from berth.plugins import Manifest as RawManifest
from berth.plugins import RegistryClient, RegistryError, ResolvedReference


class _Progress(Reader):
    """Reports ``Pushing`` progress as a blob is read for upload."""

    def __init__(self, raw: Any, ident: str, total: int, reporter: progress.Reporter) -> None:
        super().__init__()
        self._raw = raw
        self._ident = ident
        self._total = total
        self._reporter = reporter
        self.count = 0

    def _read(self, size: int) -> bytes:
        data: bytes = self._raw.read(min(size, CHUNK))
        self.count += len(data)
        self._reporter.progress("Pushing", self._ident, self.count, self._total)
        return data

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.count = self._raw.seek(offset, whence)
        return self.count

    def tell(self) -> int:
        return int(self._raw.tell())


class Pusher:
    def __init__(
        self,
        images: ImageService,
        client: RegistryClient,
        reporter: progress.Reporter,
        max_uploads: int = 5,
        slots: threading.Semaphore | None = None,
    ) -> None:
        self.images = images
        self.client = client
        self.reporter = reporter
        self.max_uploads = max(1, max_uploads)
        #: the daemon's upload slots, shared by every push (as Docker's max-concurrent-uploads)
        self.slots = slots or threading.BoundedSemaphore(self.max_uploads)

    def targets(self, ref: Reference) -> list[Reference]:
        """The tags to push: ``ref``'s, or every tag of its repository when it has none."""
        if ref.tag is not None:
            self.images.resolve(str(ref))  # ImageNotFound when missing
            return [ref]
        tagged = [r for r, _ in self.images.repos.by_name(ref) if r.tag is not None]
        if not tagged:
            raise ImageNotFound(ref.familiar_name)
        return tagged

    def push(self, ref: Reference, auth: Mapping[str, str] | None) -> None:
        targets = self.targets(ref)
        self.reporter.send(progress.status(f"The push refers to repository [{ref.name}]"))
        for target in targets:
            self._push_one(target, auth)

    def _endpoint(self, ref: Reference) -> ResolvedReference:
        own = [e for e in self.client.endpoints(ref.domain) if not e.mirror]
        return remote_ref(ref, own[-1].url if own else "")

    def _push_one(self, ref: Reference, auth: Mapping[str, str] | None) -> None:
        image = self.images.resolve(str(ref))
        descriptor = image.manifest
        if descriptor is None:
            raise InvalidContent(f"image {ref.familiar} has no manifest to push")
        remote = self._endpoint(ref)
        with self.images.blob_lease() as protect:
            content = self.images.blobs.read(descriptor.digest)
            doc = manifests.parse(content, descriptor.media_type)
            if not isinstance(doc, Manifest):
                raise InvalidContent(
                    f"image {ref.familiar} is stored with an index, not a manifest"
                )
            for digest in (descriptor.digest, doc.config.digest, *(d.digest for d in doc.layers)):
                protect(digest)
                if not self.images.blobs.exists(digest):
                    raise InvalidContent(
                        f"image {ref.familiar} is missing blob {digest} in the store; "
                        "it cannot be pushed (pull or load it again)"
                    )
            mount_from = self._mount_source(image, ref)
            try:
                self._blobs(remote, doc, auth, mount_from)
                raw = RawManifest(descriptor.media_type, descriptor.digest, content)
                tagged = ResolvedReference(
                    remote.registry, remote.repository, ref.tag, None, remote.endpoint
                )
                digest = self.client.put_manifest(tagged, raw, auth)
            except RegistryError as exc:
                raise from_registry(exc) from None
        tag = ref.tag or "latest"
        self.reporter.send(progress.status(f"{tag}: digest: {digest} size: {len(content)}"))
        self.reporter.send(
            {"progressDetail": {}, "aux": {"Tag": tag, "Digest": digest, "Size": len(content)}}
        )
        self.images.record_push(image.id, Reference(ref.domain, ref.path, None, digest), str(ref))

    def _mount_source(self, image: Image, ref: Reference) -> str | None:
        for other in self.images.repos.digests(image.id):
            if other.domain == ref.domain and other.path != ref.path:
                return other.path
        return None

    def _blobs(
        self,
        remote: ResolvedReference,
        doc: Manifest,
        auth: Mapping[str, str] | None,
        mount_from: str | None,
    ) -> None:
        layers = list(doc.layers)
        for layer in layers:
            self.reporter.send(progress.layer("Preparing", progress.short(layer.digest)))
        for layer in layers[self.max_uploads :]:
            self.reporter.send(progress.layer("Waiting", progress.short(layer.digest)))
        with ThreadPoolExecutor(self.max_uploads, thread_name_prefix="push") as pool:
            futures = [
                pool.submit(self._blob, remote, layer, auth, mount_from, True) for layer in layers
            ]
            for future in futures:
                future.result()
        self._blob(remote, doc.config, auth, mount_from, False)

    def _blob(
        self,
        remote: ResolvedReference,
        blob: Descriptor,
        auth: Mapping[str, str] | None,
        mount_from: str | None,
        shown: bool,
    ) -> None:
        with self.slots:
            self._send_blob(remote, blob, auth, mount_from, shown)

    def _send_blob(
        self,
        remote: ResolvedReference,
        blob: Descriptor,
        auth: Mapping[str, str] | None,
        mount_from: str | None,
        shown: bool,
    ) -> None:
        ident = progress.short(blob.digest)
        if self.client.blob_exists(remote, blob.digest, auth):
            if shown:
                self.reporter.send(progress.layer("Layer already exists", ident))
            return
        size = self.images.blobs.size(blob.digest)
        with self.images.blobs.open(blob.digest) as handle:
            stream = _Progress(handle, ident, size, self.reporter) if shown else handle
            try:
                mounted = self.client.put_blob(
                    remote,
                    blob.digest,
                    stream,  # type: ignore[arg-type]
                    size,
                    auth,
                    mount_from,
                )
            except OSError as exc:
                raise DistributionError(f"blob {blob.digest} cannot be read: {exc}") from None
        if shown:
            done = f"Mounted from {mount_from}" if mounted and mount_from else "Pushed"
            self.reporter.send(progress.layer(done, ident))
