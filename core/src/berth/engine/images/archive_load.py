"""Reading image archives: Docker's (``manifest.json``, legacy or 25+ with an OCI layout
inside) and the OCI image layout (``oci-layout``, ``index.json``, ``blobs/sha256/…``).

The tar is read once, as a stream (gzip'd and other compressed archives too): each file is
spooled into the blob store as it comes, verified against its name when the name is a digest;
the few index files are kept in memory. Only then are manifests resolved (a tar's order is not
guaranteed) into :class:`PlannedImage` records, everything checked before any layer is
unpacked. Member names that are absolute or climb out with ``..`` refuse the archive.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from berth.engine.errors import BerthError
from berth.engine.images import compression, manifests, mediatypes, reference
from berth.engine.images.blobs import BlobStore
from berth.engine.images.errors import (
    InvalidArchive,
    InvalidContent,
    InvalidReference,
    UnsupportedContent,
)
from berth.engine.images.imageconfig import ImageConfig, parse_config
from berth.engine.images.manifests import Descriptor, Index, Manifest
from berth.engine.images.platforms import Platform
from berth.engine.images.reference import Reference
from berth.plugins.layers.errors import LayerError
from berth.plugins.layers.tarreader import DIR, LNK, REG, SYM, TarReader

INDEX_FILES = frozenset({"manifest.json", "index.json", "oci-layout", "repositories"})
SMALL_LIMIT = 64 << 20
LEGACY_V1 = re.compile(r"^[a-f0-9]{64}/(json|VERSION)$")
BLOB_NAME = re.compile(r"^blobs/sha256/([a-f0-9]{64})$")
CONTAINERD_NAME = "io.containerd.image.name"
REF_NAME = "org.opencontainers.image.ref.name"


@dataclass
class ArchiveContents:
    files: dict[str, str] = field(default_factory=dict)  # member name -> blob digest
    links: dict[str, str] = field(default_factory=dict)  # member name -> member it names
    small: dict[str, bytes] = field(default_factory=dict)

    def digest_of(self, name: str) -> str | None:
        name = clean_name(name)
        for _ in range(32):
            if name in self.files:
                return self.files[name]
            target = self.links.get(name)
            if target is None:
                return None
            name = target
        return None


@dataclass
class PlannedImage:
    config: ImageConfig
    layer_blobs: list[str]
    manifest: Descriptor | None
    tags: list[Reference]


def clean_name(name: str) -> str:
    """A member name without ``./`` and empty parts; InvalidArchive if it leaves the root."""
    if name.startswith("/"):
        raise InvalidArchive(f"archive member {name!r} is an absolute path; refusing the archive")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidArchive(f"archive member {name!r} escapes the archive; refusing the archive")
    return "/".join(parts)


def _link_target(name: str, target: str, hard: bool) -> str:
    if target.startswith("/"):
        raise InvalidArchive(f"archive link {name!r} points to an absolute path {target!r}")
    joined = target if hard else posixpath.join(posixpath.dirname(name), target)
    normal = posixpath.normpath(joined)
    if normal == ".." or normal.startswith("../"):
        raise InvalidArchive(f"archive link {name!r} -> {target!r} escapes the archive")
    return clean_name(normal)


def read_archive(
    raw: BinaryIO, blobs: BlobStore, protect: Callable[[str], None]
) -> ArchiveContents:
    """Spool every file of the archive; ``protect`` is told each blob digest stored."""
    stream, _ = compression.decompressed(raw, "the image archive")
    contents = ArchiveContents()
    try:
        # berth's own streaming tar reader: half the CPU of tarfile's for a large archive.
        tar = TarReader(stream)
        while (member := tar.next()) is not None:
            name = clean_name(member.name.decode("utf-8", "surrogateescape"))
            if member.kind == DIR or not name:
                continue
            if member.kind in (SYM, LNK):
                link = member.linkname.decode("utf-8", "surrogateescape")
                contents.links[name] = _link_target(name, link, member.kind == LNK)
                continue
            if member.kind != REG:
                raise InvalidArchive(f"archive member {name!r} is not a regular file")
            if name in INDEX_FILES:
                if member.size > SMALL_LIMIT:
                    raise InvalidArchive(f"{name} is larger than {SMALL_LIMIT} bytes")
                contents.small[name] = b"".join(bytes(chunk) for chunk in tar.chunks())
                continue
            if LEGACY_V1.match(name):
                continue  # v1 metadata of old archives: not needed
            match = BLOB_NAME.match(name)
            expected = f"sha256:{match.group(1)}" if match else None
            if expected is not None and blobs.exists(expected):
                protect(expected)
                contents.files[name] = expected
                continue
            what = f"archive member {name!r}"
            with blobs.writer(expected, member.size, what, sync_later=True) as writer:
                for chunk in tar.chunks():
                    writer.write(chunk)
                digest = writer.commit()
            protect(digest)
            contents.files[name] = digest
    except LayerError as exc:
        if isinstance(exc.__cause__, BerthError):  # the stream's own error (a decompressor's)
            raise exc.__cause__ from None
        text = str(exc).replace("layer tar ", "the tar ", 1).replace("layer entry", "entry", 1)
        text = text.replace("cannot read the layer", "cannot read it", 1)
        raise InvalidArchive(f"the image archive is not a valid tar file: {text}") from None
    finally:
        stream.close()
    return contents


# --- resolving images ------------------------------------------------------------------


def plan(
    contents: ArchiveContents,
    blobs: BlobStore,
    platform: Platform,
    protect: Callable[[str], None],
) -> list[PlannedImage]:
    """The images an archive holds, every blob they need checked present."""
    if "manifest.json" in contents.small:
        # Docker's own list wins; an OCI index beside it (Docker 25+) only lends manifests.
        oci: list[PlannedImage] = []
        if "index.json" in contents.small:
            try:
                oci = _oci_images(contents, blobs, platform, protect)
            except (InvalidArchive, InvalidContent, UnsupportedContent):
                oci = []
        planned = _docker_images(contents, blobs, {p.config.id: p for p in oci})
    elif "index.json" in contents.small:
        planned = _oci_images(contents, blobs, platform, protect)
    else:
        raise InvalidArchive(
            "the archive has neither manifest.json (docker-archive) nor index.json "
            "(OCI image layout); is it an image archive?"
        )
    merged: dict[str, PlannedImage] = {}
    for image in planned:
        known = merged.get(image.config.id)
        if known is None:
            merged[image.config.id] = image
        else:
            known.tags.extend(t for t in image.tags if t not in known.tags)
            known.manifest = known.manifest or image.manifest
    return list(merged.values())


def _json(contents: ArchiveContents, name: str) -> Any:
    try:
        return json.loads(contents.small[name])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidArchive(f"{name} in the archive is not valid JSON: {exc}") from None


def _config(blobs: BlobStore, digest: str, what: str) -> ImageConfig:
    return parse_config(blobs.read(digest), what)


def _docker_images(
    contents: ArchiveContents, blobs: BlobStore, oci: dict[str, PlannedImage]
) -> list[PlannedImage]:
    entries = _json(contents, "manifest.json")
    if not isinstance(entries, list):
        raise InvalidArchive("manifest.json in the archive is not a list")
    planned = []
    for i, entry in enumerate(entries):
        what = f"manifest.json entry {i + 1}"
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise InvalidArchive(f"{what} has no Config")
        config_digest = contents.digest_of(entry["Config"])
        if config_digest is None:
            raise InvalidArchive(f"{what}: the archive has no file {entry['Config']!r}")
        config = _config(blobs, config_digest, f"{what} config")
        layer_names = entry.get("Layers") or []
        if not isinstance(layer_names, list):
            raise InvalidArchive(f"{what}: Layers is not a list")
        layer_blobs = []
        for name in layer_names:
            digest = contents.digest_of(str(name))
            if digest is None:
                raise InvalidArchive(f"{what}: the archive has no layer file {name!r}")
            layer_blobs.append(digest)
        if len(layer_blobs) != len(config.diff_ids):
            raise InvalidArchive(
                f"{what} lists {len(layer_blobs)} layers but its config has "
                f"{len(config.diff_ids)} diff IDs"
            )
        tags = []
        for text in entry.get("RepoTags") or []:
            try:
                ref = reference.parse(str(text))
            except InvalidReference as exc:
                raise InvalidArchive(f"{what}: invalid tag {text!r}: {exc}") from None
            if ref.tag is None:
                raise InvalidArchive(f"{what}: invalid tag {text!r}: it has no tag")
            tags.append(ref)
        twin = oci.get(config.id)
        manifest = twin.manifest if twin and twin.layer_blobs == layer_blobs else None
        planned.append(PlannedImage(config, layer_blobs, manifest, tags))
    return planned


def _read_manifest(
    blobs: BlobStore, descriptor: Descriptor, what: str, protect: Callable[[str], None]
) -> Manifest | Index:
    if not blobs.exists(descriptor.digest):
        raise InvalidArchive(f"{what}: the archive is missing blob {descriptor.digest}")
    protect(descriptor.digest)
    return manifests.parse(blobs.read(descriptor.digest), descriptor.media_type, what)


def _oci_name(annotations: dict[str, str] | Any) -> Reference | None:
    for key in (CONTAINERD_NAME, REF_NAME):
        text = annotations.get(key, "")
        if not text or (key == REF_NAME and ":" not in text and "/" not in text):
            continue  # a bare ref.name is only a tag, without a repository
        try:
            ref = reference.parse(text)
        except InvalidReference:
            continue
        if ref.digest is None:
            return ref.tag_or_latest()
    return None


def _oci_images(
    contents: ArchiveContents,
    blobs: BlobStore,
    platform: Platform,
    protect: Callable[[str], None],
) -> list[PlannedImage]:
    index = manifests.parse(contents.small["index.json"], mediatypes.OCI_INDEX, "index.json")
    if not isinstance(index, Index):
        raise InvalidArchive("index.json in the archive is not an image index")
    planned = []
    for i, entry in enumerate(manifests.image_entries(index)):
        what = f"index.json entry {i + 1}"
        descriptor, manifest = _resolve(blobs, entry, platform, what, protect, depth=0)
        if manifest is None or descriptor is None:
            continue
        if not blobs.exists(manifest.config.digest):
            raise InvalidArchive(
                f"{what}: the archive is missing config blob {manifest.config.digest}"
            )
        protect(manifest.config.digest)
        config = _config(blobs, manifest.config.digest, f"{what} config")
        manifests.check_layers(manifest, what)
        layer_blobs = []
        for n, layer in enumerate(manifest.layers):
            if not blobs.exists(layer.digest):
                raise InvalidArchive(
                    f"{what}: the archive is missing blob {layer.digest} (layer {n + 1})"
                )
            protect(layer.digest)
            if blobs.size(layer.digest) != layer.size:
                raise InvalidContent(
                    f"{what}: layer {n + 1} ({layer.digest}) has {blobs.size(layer.digest)} "
                    f"bytes, not the {layer.size} its manifest says"
                )
            layer_blobs.append(layer.digest)
        if len(layer_blobs) != len(config.diff_ids):
            raise InvalidArchive(
                f"{what}: the manifest has {len(layer_blobs)} layers but the config has "
                f"{len(config.diff_ids)} diff IDs"
            )
        name = _oci_name(entry.annotations)
        planned.append(PlannedImage(config, layer_blobs, descriptor, [name] if name else []))
    return planned


def _resolve(
    blobs: BlobStore,
    entry: Descriptor,
    platform: Platform,
    what: str,
    protect: Callable[[str], None],
    depth: int,
) -> tuple[Descriptor | None, Manifest | None]:
    if depth > 4:
        raise InvalidArchive(f"{what}: indexes nested too deep")
    doc = _read_manifest(blobs, entry, what, protect)
    if isinstance(doc, Manifest):
        if not manifests.is_image(doc):
            return None, None
        return entry, doc
    candidates = manifests.image_entries(doc)
    present = [d for d in candidates if blobs.exists(d.digest)]
    if not present:
        raise InvalidArchive(f"{what}: the archive holds none of the index's manifests")
    chosen = manifests.select(present, platform) or present[0]
    return _resolve(blobs, chosen, platform, what, protect, depth + 1)
