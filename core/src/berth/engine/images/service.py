"""The image service: the one object the API uses for images.

It ties the stores together — blobs, the layer DB (layers live in the storage driver), image
configs and metadata, tags — and implements Docker's operations on them: list, inspect,
history, tag, remove, prune, df, save, load and import. Blocking: the API calls it from
worker threads. One lock serialises changes to the metadata; unpacking layers happens outside
it, under leases (layer references and protected blobs) that a failure or a restart drops.
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, cast

from berth.engine.images import (
    archive_load,
    compression,
    digests,
    filters,
    manifests,
    mediatypes,
    patterns,
    reference,
    views,
)
from berth.engine.images.archive_save import SaveItem, archive_chunks
from berth.engine.images.blobs import BlobStore
from berth.engine.images.changes import apply_changes
from berth.engine.images.errors import (
    ImageConflict,
    ImageNotFound,
    InvalidArchive,
    InvalidContent,
    InvalidReference,
)
from berth.engine.images.imageconfig import ImageConfig, format_time, parse_config
from berth.engine.images.importer import TeeReader, default_message, import_config
from berth.engine.images.layers import IMAGE, Layer, LayerStore
from berth.engine.images.manifests import Descriptor, Manifest
from berth.engine.images.platforms import Platform, host
from berth.engine.images.reference import Reference
from berth.engine.images.repositories import RepositoryStore
from berth.engine.images.store import Image, ImageStore
from berth.plugins import StorageDriver

#: Tells which containers use an image: ``(container ID, running)`` pairs.
UsageCheck = Callable[[str], Iterable[tuple[str, bool]]]
#: ``engine.events.emit``: (type, action, actor ID, **attributes).
Emit = Callable[..., Any]

_HARD = 1  # dependent child images, running containers: never forced
_SOFT = 2  # stopped containers: only with force
_ACTIVE_REF = 4  # still referenced by a repository: only with force


@dataclass
class _Pending:
    """Events to send once the lock is released (plugins' hooks run in emit)."""

    events: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


class SaveStream:
    """The chunks of a ``save``; holds its blobs until closed."""

    def __init__(self, chunks: Iterator[bytes], on_close: Callable[[], None]) -> None:
        self._chunks = chunks
        self._on_close: Callable[[], None] | None = on_close

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        if self._on_close is not None:
            on_close, self._on_close = self._on_close, None
            with contextlib.suppress(Exception):
                self._chunks.close()  # type: ignore[attr-defined]
            on_close()


class ImageService:
    def __init__(
        self,
        root: Path,
        driver: StorageDriver,
        driver_name: str,
        log: Any,
        emit: Emit,
        durable: bool = True,
    ) -> None:
        self.root = root
        self.driver = driver
        self.driver_name = driver_name
        self.log = log
        self._emit = emit
        self._lock = threading.RLock()
        root.mkdir(parents=True, exist_ok=True)
        self.blobs = BlobStore(root / "blobs", durable=durable)
        self.layers = LayerStore(root / "layerdb", driver, log)
        self.images = ImageStore(root / "imagedb", self.blobs, log)
        self.repos = RepositoryStore(root / "repositories.json", log)
        self._usage_checks: list[UsageCheck] = []
        self._blobs_of: dict[str, frozenset[str]] = {}
        self._blob_refs: Counter[str] = Counter()
        self._blob_leases: Counter[str] = Counter()
        self._recover()

    # --- start-up -------------------------------------------------------------------------

    def _recover(self) -> None:
        """Make the stores agree after whatever stopped the last daemon."""
        for image in list(self.images.images.values()):
            top = image.config.top_chain_id
            if top is not None and self.layers.get(top) is None:
                self.log.error("image.layers_missing", image=image.id, layer=top)
                self.images.delete(image.id)
                continue
            image.size = sum(layer.size for layer in self.layers.chain(top))
            self._track_blobs(image)
        self.repos.drop_missing(set(self.images.images))
        for layer in self.layers.all():
            for ref in list(layer.references):
                if not ref.startswith(IMAGE):
                    continue
                owner = self.images.get(ref[len(IMAGE) :])
                if owner is None or owner.config.top_chain_id != layer.chain_id:
                    self.layers.release(layer.chain_id, ref)
        for image in self.images.images.values():
            top = image.config.top_chain_id
            if top is not None:
                self.layers.acquire(top, IMAGE + image.id)
        self._collect(set(self.blobs.all()))

    def _manifest_blobs(self, image: Image) -> set[str]:
        found = {image.id}
        if image.manifest is None:
            return found
        found.add(image.manifest.digest)
        try:
            doc = manifests.parse(self.blobs.read(image.manifest.digest), image.manifest.media_type)
        except Exception as exc:
            self.log.error("image.manifest_unreadable", image=image.id, error=str(exc))
            return found
        if isinstance(doc, Manifest):
            found.update(layer.digest for layer in doc.layers)
        return found

    def _track_blobs(self, image: Image) -> None:
        blobs = frozenset(self._manifest_blobs(image))
        self._blobs_of[image.id] = blobs
        self._blob_refs.update(blobs)

    def _untrack_blobs(self, image_id: str) -> frozenset[str]:
        blobs = self._blobs_of.pop(image_id, frozenset())
        self._blob_refs.subtract(blobs)
        for digest in blobs:
            if self._blob_refs[digest] <= 0:
                del self._blob_refs[digest]
        return blobs

    def _collect(self, candidates: Iterable[str]) -> None:
        """Delete the candidate blobs no image uses and no operation holds."""
        with self._lock:
            for digest in candidates:
                if self._blob_refs.get(digest, 0) <= 0 and self._blob_leases.get(digest, 0) <= 0:
                    self.blobs.delete(digest)

    @contextlib.contextmanager
    def _blob_lease(self) -> Iterator[Callable[[str], None]]:
        held: set[str] = set()

        def protect(digest: str) -> None:
            with self._lock:
                if digest not in held:
                    held.add(digest)
                    self._blob_leases[digest] += 1

        try:
            yield protect
        finally:
            with self._lock:
                for digest in held:
                    self._blob_leases[digest] -= 1
                    if self._blob_leases[digest] <= 0:
                        del self._blob_leases[digest]
            self._collect(held)

    # --- events and users -----------------------------------------------------------------

    def add_usage_check(self, check: UsageCheck) -> None:
        """Register a callback telling which containers use an image (containers fill it)."""
        self._usage_checks.append(check)

    def in_use(self, image_id: str) -> bool:
        """Whether a container uses ``image_id`` (the build cache's ``docker system df``)."""
        return bool(self._users(image_id))

    def _users(self, image_id: str) -> list[tuple[str, bool]]:
        users: list[tuple[str, bool]] = []
        for check in self._usage_checks:
            users.extend(check(image_id))
        return users

    def _event(self, pending: _Pending, action: str, image_id: str, name: str) -> None:
        attributes: dict[str, str] = {}
        image = self.images.get(image_id)
        if image is not None:
            attributes.update(image.config.labels)
        attributes["name"] = name
        pending.events.append((action, image_id, attributes))

    def _send(self, pending: _Pending) -> None:
        for action, image_id, attributes in pending.events:
            try:
                self._emit("image", action, image_id, **attributes)
            except Exception as exc:
                self.log.error("image.event_failed", action=action, error=str(exc))

    # --- lookups --------------------------------------------------------------------------

    def count(self) -> int:
        return len(self.images.images)

    def resolve(self, name: str) -> Image:
        """The image ``name`` names: a tag, a digest reference, an ID or an ID prefix."""
        with self._lock:
            return self._resolve(name)

    def _resolve(self, name: str) -> Image:
        hexpart = name[7:] if name.startswith("sha256:") else name
        if digests.is_hex_id(hexpart):
            image = self.images.get(f"sha256:{hexpart}")
            if image is None:
                raise ImageNotFound(f"sha256:{hexpart}" if name.startswith("sha256:") else name)
            return image
        ref = reference.parse(name)
        image_id = self.repos.get(ref)
        if image_id is not None:
            image = self.images.get(image_id)
            if image is not None:
                return image
        try:
            return self.images.search(name)
        except ImageNotFound:
            raise ImageNotFound(ref.tag_or_latest().familiar) from None

    # --- list, inspect, history -----------------------------------------------------------

    def list_images(
        self,
        all_images: bool = False,
        image_filters: Mapping[str, list[str]] | None = None,
        api_version: str = "1.44",
        shared_size: bool = False,
        containers: bool = False,
    ) -> list[dict[str, Any]]:
        wanted = dict(image_filters or {})
        filters.validate(wanted, filters.LIST_KEYS)
        with self._lock:
            return self._list(all_images, wanted, api_version, shared_size, containers)

    def _list(
        self,
        all_images: bool,
        wanted: dict[str, list[str]],
        api_version: str,
        shared_size: bool,
        containers: bool,
    ) -> list[dict[str, Any]]:
        dangling_set = "dangling" in wanted
        dangling_only = filters.boolean(wanted, "dangling", False)
        before = [self._resolve(n).config.created_unix for n in wanted.get("before", [])]
        since = [self._resolve(n).config.created_unix for n in wanted.get("since", [])]
        until = [filters.parse_until(v) for v in wanted.get("until", [])]
        ref_patterns = wanted.get("reference", [])
        for pattern in ref_patterns:
            patterns.compile_pattern(pattern)  # a syntax error is the caller's 400
        labels = wanted.get("label", [])
        parents = {img.parent for img in self.images.images.values() if img.parent}
        sharing = self._layer_users() if shared_size else Counter()
        out: list[tuple[int, dict[str, Any]]] = []
        for image in self.images.images.values():
            if dangling_only and image.id in parents:
                continue  # Docker lists dangling images among the heads only
            config = image.config
            created = config.created_unix
            if any(created >= b for b in before) or any(created <= s for s in since):
                continue
            if any(created > u for u in until):
                continue
            if labels and not filters.labels_match(labels, config.labels):
                continue
            tags: list[Reference] = []
            repo_digests: list[Reference] = []
            for ref in self.repos.references(image.id):
                if ref_patterns and not any(filters.reference_match(p, ref) for p in ref_patterns):
                    continue
                (repo_digests if ref.digest is not None else tags).append(ref)
            if not tags and not repo_digests:
                if not all_images and image.id in parents:
                    continue  # an intermediate image
                if (dangling_set and not dangling_only) or ref_patterns:
                    continue
            elif dangling_only and tags:
                continue
            shared = -1
            if shared_size:
                shared = sum(
                    layer.size
                    for layer in self.layers.chain(config.top_chain_id)
                    if sharing[layer.chain_id] > 1
                )
            users = len(self._users(image.id)) if containers else -1
            summary = views.summary(image, tags, repo_digests, api_version, shared, users)
            out.append((created, summary))
        out.sort(key=lambda item: item[0], reverse=True)
        return [summary for _, summary in out]

    def _layer_users(self) -> Counter[str]:
        """How many images have each layer in their chain."""
        counts: Counter[str] = Counter()
        for image in self.images.images.values():
            for layer in self.layers.chain(image.config.top_chain_id):
                counts[layer.chain_id] += 1
        return counts

    def inspect(self, name: str, api_version: str = "1.44") -> dict[str, Any]:
        with self._lock:
            image = self._resolve(name)
            refs = self.repos.references(image.id)
            return views.inspect(
                image, refs, self.driver_name, self._driver_data(image), api_version
            )

    def _driver_data(self, image: Image) -> dict[str, str] | None:
        layer = self.layers.get(image.config.top_chain_id)
        metadata = getattr(self.driver, "metadata", None)
        if layer is None or not callable(metadata):
            return None
        try:
            return {str(k): str(v) for k, v in dict(metadata(layer.cache_id)).items()}
        except Exception:
            return None

    def history(self, name: str) -> list[dict[str, Any]]:
        with self._lock:
            image = self._resolve(name)
            sizes = [layer.size for layer in self.layers.chain(image.config.top_chain_id)]
            entries = views.history(image, self.repos.tags(image.id), sizes)
            self._name_built_steps(image, entries)
            return entries

    def _name_built_steps(self, image: Image, entries: list[dict[str, Any]]) -> None:
        """Docker shows the IDs (and tags) of the parent images a build left, at the history
        entry each one ends with, where the others say ``<missing>``."""
        parent = self.images.get(image.parent) if image.parent else None
        while parent is not None:
            at = len(entries) - len(parent.config.history)
            if 0 <= at < len(entries) and entries[at]["Id"] == "<missing>":
                entries[at]["Id"] = parent.id
                entries[at]["Tags"] = [r.familiar for r in self.repos.tags(parent.id)] or None
            parent = self.images.get(parent.parent) if parent.parent else None

    # --- tag ------------------------------------------------------------------------------

    def tag(self, name: str, repo: str, tag: str = "") -> Reference:
        if not repo:
            raise InvalidReference("repository name must have at least one component")
        pending = _Pending()
        with self._lock:
            image = self._resolve(name)
            ref = reference.repo_tag(repo, tag)
            self._tag(image, ref, pending)
        self._send(pending)
        return ref

    def _tag(self, image: Image, ref: Reference, pending: _Pending) -> str | None:
        old = self.repos.add(ref, image.id)
        image.last_tag_time = format_time()
        self.images.save(image, stored=True)  # only LastTagTime changes: a rebuild's cost
        self._event(pending, "tag", image.id, ref.familiar)
        return old

    # --- remove and prune -----------------------------------------------------------------

    def remove(self, name: str, force: bool = False, prune: bool = True) -> list[dict[str, str]]:
        pending = _Pending()
        records: list[dict[str, str]] = []
        removed: list[Layer] = []
        try:
            with self._lock:
                self._remove(name, force, prune, records, removed, pending)
        finally:
            self._send(pending)
        return records

    def _remove(
        self,
        name: str,
        force: bool,
        prune: bool,
        records: list[dict[str, str]],
        removed: list[Layer],
        pending: _Pending,
    ) -> None:
        image = self._resolve(name)
        refs = self.repos.references(image.id)
        quiet = False
        if not _is_id_prefix(image.id, name):
            ref = reference.parse(name)
            if ref.digest is None:
                ref = ref.tag_or_latest()
            self.repos.delete(ref)
            records.append({"Untagged": ref.familiar})
            self._event(pending, "untag", image.id, image.id)
            refs = self.repos.references(image.id)
            if ref.digest is None and not any(
                r.digest is None and r.name == ref.name for r in refs
            ):
                for other in [r for r in refs if r.digest is not None and r.name == ref.name]:
                    self.repos.delete(other)
                    records.append({"Untagged": other.familiar})
                refs = self.repos.references(image.id)
            if refs:
                return
            quiet = True
        elif _single_reference(refs):
            mask = _HARD | (0 if force else _SOFT)
            conflict = self._conflict(image, mask)
            if conflict is not None:
                raise conflict[0]
            for ref in refs:
                self.repos.delete(ref)
                records.append({"Untagged": ref.familiar})
                self._event(pending, "untag", image.id, image.id)
        self._delete(image, force, prune, quiet, records, removed, pending)

    def _conflict(self, image: Image, mask: int) -> tuple[ImageConflict, bool] | None:
        """Docker's delete conflicts, hard first; the flag says a container is involved."""
        sid = digests.short_id(image.id)
        users = self._users(image.id)

        def conflict(forced: str, message: str) -> ImageConflict:
            return ImageConflict(f"conflict: unable to delete {sid} ({forced}) - {message}")

        if mask & _HARD:
            if self.images.children(image.id):
                return conflict("cannot be forced", "image has dependent child images"), False
            for container, running in users:
                if running:
                    message = f"image is being used by running container {container[:12]}"
                    return conflict("cannot be forced", message), True
        if mask & _ACTIVE_REF and self.repos.references(image.id):
            return conflict("must be forced", "image is referenced in multiple repositories"), False
        if mask & _SOFT:
            for container, running in users:
                if not running:
                    message = f"image is being used by stopped container {container[:12]}"
                    return conflict("must be forced", message), True
        return None

    def _delete(
        self,
        image: Image,
        force: bool,
        prune: bool,
        quiet: bool,
        records: list[dict[str, str]],
        removed: list[Layer],
        pending: _Pending,
    ) -> None:
        mask = _HARD | (0 if force else _SOFT | _ACTIVE_REF)
        found = self._conflict(image, mask)
        if found is not None:
            conflict, used = found
            dangling = not self.repos.references(image.id) and not self.images.children(image.id)
            if quiet and (not dangling or used):
                return
            raise conflict
        for ref in self.repos.references(image.id):
            self.repos.delete(ref)
            records.append({"Untagged": ref.familiar})
            self._event(pending, "untag", image.id, image.id)
        self._event(pending, "delete", image.id, image.id)
        self.images.delete(image.id)
        top = image.config.top_chain_id
        gone = self.layers.release(top, IMAGE + image.id) if top is not None else []
        self._collect(self._untrack_blobs(image.id))
        records.append({"Deleted": image.id})
        records.extend({"Deleted": layer.chain_id} for layer in gone)
        removed.extend(gone)
        parent = self.images.get(image.parent) if image.parent else None
        if prune and parent is not None:
            self._delete(parent, False, True, True, records, removed, pending)

    def prune(self, prune_filters: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
        wanted = dict(prune_filters or {})
        filters.validate(wanted, filters.PRUNE_KEYS)
        dangling_only = filters.boolean(wanted, "dangling", True)
        until = [filters.parse_until(v) for v in wanted.get("until", [])]
        pending = _Pending()
        records: list[dict[str, str]] = []
        removed: list[Layer] = []
        with self._lock:
            parents = {img.parent for img in self.images.images.values() if img.parent}
            candidates = [
                img
                for img in self.images.images.values()
                if not (dangling_only and img.id in parents)
                and not self._users(img.id)
                and not any(img.config.created_unix > u for u in until)
                and filters.labels_match(wanted.get("label", []), img.config.labels)
                and filters.labels_exclude(wanted.get("label!", []), img.config.labels)
            ]
            for image in candidates:
                if self.images.get(image.id) is None:
                    continue  # went with an earlier one
                refs = self.repos.references(image.id)
                try:
                    if refs:
                        has_tag = any(r.tag is not None for r in refs)
                        if dangling_only and has_tag:
                            continue
                        for ref in refs:
                            if self.images.get(image.id) is None:
                                break
                            self._remove(str(ref), False, True, records, removed, pending)
                    else:
                        self._remove(image.id, False, True, records, removed, pending)
                except (ImageConflict, ImageNotFound) as exc:
                    self.log.info("image.prune_skipped", image=image.id, reason=str(exc))
        reclaimed = sum(layer.size for layer in removed)
        pending.events.append(("prune", "", {"reclaimed": str(reclaimed)}))
        self._send(pending)
        return {"ImagesDeleted": records or None, "SpaceReclaimed": reclaimed}

    # --- df -------------------------------------------------------------------------------

    def df(self, api_version: str = "1.44") -> dict[str, Any]:
        with self._lock:
            layers_size = sum(layer.size for layer in self.layers.all())
            images = self._list(True, {}, api_version, shared_size=True, containers=True)
        return {"LayersSize": layers_size, "Images": images}

    # --- adding images --------------------------------------------------------------------

    def _register(
        self, config: ImageConfig, layer_blobs: Sequence[str], owner: str, chains: list[str]
    ) -> str | None:
        """Store the layers of ``config`` from ``layer_blobs`` (all in the blob store)."""
        parent: str | None = None
        label = f"image {digests.short_id(config.id)}"
        for i, (diff_id, blob) in enumerate(zip(config.diff_ids, layer_blobs, strict=True)):
            with self.blobs.open(blob) as handle:
                layer = self.layers.register(
                    handle, parent, diff_id, owner, f"layer {i + 1} of {label}", blob
                )
            chains.append(layer.chain_id)
            parent = layer.chain_id
        return parent

    def _make_manifest(
        self, config: ImageConfig, layer_blobs: Sequence[str], protect: Callable[[str], None]
    ) -> Descriptor:
        layers = []
        for digest in layer_blobs:
            with self.blobs.open(digest) as handle:
                kind = compression.detect(handle.read(compression.MAGIC_SIZE))
            layers.append(
                Descriptor(mediatypes.oci_layer_type(kind), digest, self.blobs.size(digest))
            )
        config_descriptor = Descriptor(mediatypes.OCI_CONFIG, config.id, len(config.raw))
        data = manifests.make_manifest(config_descriptor, layers)
        digest = self.blobs.put(data, what="image manifest")
        protect(digest)
        return Descriptor(mediatypes.OCI_MANIFEST, digest, len(data))

    def _commit(
        self,
        config: ImageConfig,
        manifest: Descriptor,
        tags: Sequence[Reference],
        pending: _Pending,
        tag_events: bool = True,
    ) -> tuple[Image, list[str]]:
        """Record an image whose blobs and layers are stored; tag it. Under the lock.
        (Docker's load tags without ``tag`` events; import tags with them.)"""
        notes: list[str] = []
        image = self.images.get(config.id)
        if image is None:
            top = config.top_chain_id
            if top is not None:
                self.layers.acquire(top, IMAGE + config.id)
            image = Image(config, manifest)
            image.size = sum(layer.size for layer in self.layers.chain(top))
            self.images.save(image)
            self._track_blobs(image)
        for tag in tags:
            old = self.repos.get(tag)
            if old is not None and old != image.id:
                notes.append(
                    f"The image {tag.familiar} already exists, renaming the old one with ID "
                    f"{old} to empty string"
                )
            if old != image.id:
                self._tag(image, tag, pending if tag_events else _Pending())
        return image, notes

    def load(self, raw: BinaryIO, platform: Platform | None = None) -> list[str]:
        """Load a docker-archive or OCI-layout tar; return Docker's messages."""
        wanted = platform or host()
        owner = self.layers.new_lease()
        chains: list[str] = []
        pending = _Pending()
        messages: list[str] = []
        try:
            with self._blob_lease() as protect:
                contents = archive_load.read_archive(raw, self.blobs, protect)
                planned = archive_load.plan(contents, self.blobs, wanted, protect)
                if not planned:
                    raise InvalidArchive("the archive holds no image")
                ready = []
                for image in planned:
                    self._register(image.config, image.layer_blobs, owner, chains)
                    manifest = image.manifest or self._make_manifest(
                        image.config, image.layer_blobs, protect
                    )
                    ready.append((image, manifest))
                self.blobs.wait_durable()  # the spooled blobs are on disk before records name them
                with self._lock:
                    for image, manifest in ready:
                        stored, notes = self._commit(
                            image.config, manifest, image.tags, pending, tag_events=False
                        )
                        messages.extend(notes)
                        if image.tags:
                            messages.extend(f"Loaded image: {t.familiar}" for t in image.tags)
                        else:
                            messages.append(f"Loaded image ID: {stored.id}")
                        self._event(pending, "load", stored.id, stored.id)
        finally:
            for chain in reversed(chains):
                self.layers.release(chain, owner)
        self._send(pending)
        return messages

    def import_image(
        self,
        raw: BinaryIO,
        repo: str = "",
        tag: str = "",
        message: str = "",
        changes: Sequence[str] = (),
        platform: Platform | None = None,
        source: str = "-",
    ) -> str:
        """Import a root file system tarball as a one-layer image; return its ID."""
        ref = reference.repo_tag(repo, tag) if repo else None
        apply_changes({}, changes)  # refuse bad changes before reading the body
        wanted = platform or host()
        owner = self.layers.new_lease()
        chains: list[str] = []
        pending = _Pending()
        try:
            with self._blob_lease() as protect:
                kind, stream = compression.sniff(raw)
                plain: BinaryIO | None = None
                if kind in (compression.BZIP2, compression.XZ):  # no OCI media type: keep plain
                    plain, _ = compression.decompressed(stream, "the imported tarball")
                    stream = plain
                try:
                    with self.blobs.writer(what="the imported tarball") as writer:
                        tee = TeeReader(stream, writer)
                        layer = self.layers.register(
                            cast(BinaryIO, tee), None, None, owner, "the imported tarball"
                        )
                        chains.append(layer.chain_id)
                        tee.drain()
                        blob = writer.commit()
                finally:
                    if plain is not None:
                        plain.close()
                protect(blob)
                text = message or default_message(source)
                raw_config = import_config(layer.diff_id, wanted, text, changes)
                config = parse_config(raw_config)
                protect(self.blobs.put(raw_config, what="image config"))
                manifest = self._make_manifest(config, [blob], protect)
                with self._lock:
                    image, _ = self._commit(config, manifest, [ref] if ref else [], pending)
                    self._event(pending, "import", image.id, image.id)
        finally:
            for chain in reversed(chains):
                self.layers.release(chain, owner)
        self._send(pending)
        return image.id

    def add_built_image(self, raw_config: bytes, layer_blobs: Sequence[str], parent: str) -> Image:
        """Record an image made by a build step (or a commit): its config, whose layers are
        stored (held by the caller) with their blobs in the blob store; ``parent`` is the
        image it was made from. Returns the stored image (an existing one when the config is
        the same)."""
        config = parse_config(raw_config)
        pending = _Pending()
        with self._blob_lease() as protect:
            protect(self.blobs.put(raw_config, what="image config"))
            manifest = self._make_manifest(config, layer_blobs, protect)
            with self._lock:
                image = self.images.get(config.id)
                if image is None:  # as _commit, with the parent in the one metadata write
                    top = config.top_chain_id
                    if top is not None:
                        self.layers.acquire(top, IMAGE + config.id)
                    known = parent if self.images.get(parent) is not None else ""
                    image = Image(config, manifest, parent=known)
                    image.size = sum(layer.size for layer in self.layers.chain(top))
                    self.images.save(image)
                    self._track_blobs(image)
        self._send(pending)
        return image

    # --- distribution (pull and push: berth.engine.distribution) ---------------------------

    def blob_lease(self) -> contextlib.AbstractContextManager[Callable[[str], None]]:
        """Blobs passed to the yielded ``protect`` are kept until the block ends (then those
        no image uses are deleted): a pull holds what it downloads this way."""
        return self._blob_lease()

    def commit_pulled(
        self,
        config: ImageConfig,
        manifest: Descriptor,
        tag: Reference | None,
        repo_digest: Reference | None,
    ) -> tuple[Image, bool]:
        """Record a pulled image (blobs and layers stored) under ``tag`` and ``repo_digest``;
        return it and whether the tag or digest named another image (or nothing) before."""
        pending = _Pending()
        with self._lock:
            refs = [r for r in (tag, repo_digest) if r is not None]
            changed = self.images.get(config.id) is None or any(
                self.repos.get(r) != config.id for r in refs
            )
            image, _ = self._commit(config, manifest, [tag] if tag else [], pending)
            if repo_digest is not None:
                self.repos.add(repo_digest, image.id)
            self._event(pending, "pull", image.id, str(tag or repo_digest or image.id))
        self._send(pending)
        return image, changed

    def record_push(self, image_id: str, repo_digest: Reference, name: str) -> None:
        """After a push: the image is known by its digest in that repository (RepoDigests)."""
        pending = _Pending()
        with self._lock:
            if self.images.get(image_id) is not None:
                self.repos.add(repo_digest, image_id)
                self._event(pending, "push", image_id, name)
        self._send(pending)

    # --- save -----------------------------------------------------------------------------

    def save(self, names: Sequence[str]) -> SaveStream:
        """The tar stream of ``names`` (every name resolved before the first byte)."""
        if not names:
            raise InvalidReference("no image names given to save")
        lease = self._blob_lease()
        protect = lease.__enter__()
        try:
            with self._lock:
                items = self._save_items(names, protect)
        except BaseException:
            lease.__exit__(None, None, None)
            raise
        pending = _Pending()
        for item in items:
            self._event(pending, "save", item.image_id, item.image_id)

        def chunks() -> Iterator[bytes]:
            yield from archive_chunks(items, self.blobs)
            self._send(pending)

        def release() -> None:
            lease.__exit__(None, None, None)

        return SaveStream(chunks(), release)

    def _save_items(self, names: Sequence[str], protect: Callable[[str], None]) -> list[SaveItem]:
        chosen: dict[str, list[Reference]] = {}
        for name in names:
            for image_id, ref in self._save_targets(name):
                tags = chosen.setdefault(image_id, [])
                if ref is not None and ref not in tags:
                    tags.append(ref)
        items = []
        for image_id, tags in chosen.items():
            image = self.images.images[image_id]
            manifest = image.manifest
            layer_blobs: tuple[str, ...] = ()
            doc = None
            if manifest is not None and self.blobs.exists(manifest.digest):
                doc = manifests.parse(self.blobs.read(manifest.digest), manifest.media_type)
            if manifest is None or not isinstance(doc, Manifest):
                raise InvalidContent(
                    f"image {digests.short_id(image_id)} has no manifest in the store; "
                    "it cannot be saved"
                )
            layer_blobs = tuple(layer.digest for layer in doc.layers)
            for digest in (image_id, manifest.digest, *layer_blobs):
                if not self.blobs.exists(digest):
                    raise InvalidContent(
                        f"image {digests.short_id(image_id)} is missing blob {digest} in the "
                        "store; it cannot be saved (load or pull it again)"
                    )
                protect(digest)
            items.append(SaveItem(image_id, manifest, layer_blobs, tuple(tags)))
        return items

    def _save_targets(self, name: str) -> list[tuple[str, Reference | None]]:
        hexpart = name[7:] if name.startswith("sha256:") else name
        if digests.is_hex_id(hexpart):
            return [(self._resolve(name).id, None)]
        ref = reference.parse(name)
        if ref.familiar_name == "sha256":
            return [(self.images.search(name).id, None)]
        if ref.name_only:
            tagged = [(i, r) for r, i in self.repos.by_name(ref) if r.tag is not None]
            if tagged:
                return [(i, r) for i, r in tagged]
            try:
                return [(self.images.search(name).id, None)]
            except ImageNotFound:
                raise ImageNotFound(ref.tag_or_latest().familiar) from None
        image = self._resolve(name)
        return [(image.id, ref if ref.tag is not None else None)]


def _is_id_prefix(image_id: str, text: str) -> bool:
    return image_id.startswith(text) or digests.hex_of(image_id).startswith(text)


def _single_reference(refs: Sequence[Reference]) -> bool:
    """Docker's isSingleReference: at most one tag, and every reference in one repository."""
    if len(refs) <= 1:
        return len(refs) == 1
    single: Reference | None = None
    names: set[str] = set()
    for ref in refs:
        if ref.digest is not None:
            names.add(ref.name)
        elif single is None:
            names.add(ref.name)
            single = ref
        else:
            return False
    single = single or refs[0]
    return len(names) == 1 and single.name in names
