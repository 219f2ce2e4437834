"""OCI image manifests and indexes, Docker v2 schema 2 manifests and manifest lists.

``parse`` reads any of them (refusing schema 1 with Docker's explanation); ``select`` picks
the manifest of an index that suits a platform; ``make_manifest`` writes an OCI manifest for
an image that came without one (import, an old docker-archive).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from berth.engine.images import digests, mediatypes
from berth.engine.images.errors import InvalidContent, UnsupportedContent
from berth.engine.images.platforms import Platform, score

SCHEMA1_MESSAGE = (
    "Docker Image manifest version 2, schema 1 is not supported (it was deprecated and "
    "removed from Docker): ask the image's author to publish it as an OCI image or a "
    "Docker schema 2 manifest"
)
ATTESTATION_TYPE = "vnd.docker.reference.type"


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    platform: Platform | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    urls: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.urls:
            data["urls"] = list(self.urls)
        if self.annotations:
            data["annotations"] = dict(self.annotations)
        if self.platform is not None:
            platform = {"architecture": self.platform.architecture, "os": self.platform.os}
            if self.platform.variant:
                platform["variant"] = self.platform.variant
            data["platform"] = platform
        return data


@dataclass(frozen=True)
class Manifest:
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]


@dataclass(frozen=True)
class Index:
    media_type: str
    manifests: tuple[Descriptor, ...]


def _descriptor(data: Any, what: str) -> Descriptor:
    if not isinstance(data, dict):
        raise InvalidContent(f"{what} is not a JSON object")
    media_type = data.get("mediaType", "")
    size = data.get("size")
    if not isinstance(media_type, str):
        raise InvalidContent(f"{what} has a mediaType that is not a string")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise InvalidContent(f"{what} has no valid size")
    digest = digests.content_digest(str(data.get("digest", "")), what)
    annotations = data.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise InvalidContent(f"{what} has annotations that are not an object")
    urls = data.get("urls") or []
    return Descriptor(
        media_type,
        digest,
        size,
        Platform.from_json(data.get("platform")),
        {str(k): str(v) for k, v in annotations.items()},
        tuple(str(u) for u in urls) if isinstance(urls, list) else (),
    )


def load_json(data: bytes, what: str) -> dict[str, Any]:
    try:
        parsed = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidContent(f"{what} is not valid JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise InvalidContent(f"{what} is not a JSON object")
    return parsed


def parse(data: bytes, hint: str = "", what: str = "manifest") -> Manifest | Index:
    doc = load_json(data, what)
    media_type = doc.get("mediaType") or hint
    if doc.get("schemaVersion") == 1 or media_type in mediatypes.SCHEMA1:
        raise UnsupportedContent(SCHEMA1_MESSAGE)
    if not media_type:
        if "manifests" in doc:
            media_type = mediatypes.OCI_INDEX
        elif "config" in doc:
            media_type = mediatypes.OCI_MANIFEST
    if media_type in mediatypes.INDEXES:
        entries = doc.get("manifests")
        if not isinstance(entries, list):
            raise InvalidContent(f"{what}: an index without a manifests list")
        return Index(
            media_type,
            tuple(_descriptor(e, f"{what} entry {i}") for i, e in enumerate(entries)),
        )
    if media_type in mediatypes.MANIFESTS:
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise InvalidContent(f"{what}: a manifest without a layers list")
        return Manifest(
            media_type,
            _descriptor(doc.get("config"), f"{what} config"),
            tuple(_descriptor(e, f"{what} layer {i}") for i, e in enumerate(layers)),
        )
    raise UnsupportedContent(f"{what} has unsupported media type {media_type!r}")


def is_image(manifest: Manifest) -> bool:
    """Whether a manifest is a container image (not an attestation or other artifact)."""
    return manifest.config.media_type in mediatypes.CONFIGS or not manifest.config.media_type


def check_layers(manifest: Manifest, what: str) -> None:
    for layer in manifest.layers:
        if layer.media_type and layer.media_type not in mediatypes.LAYERS:
            raise UnsupportedContent(f"{what}: unsupported layer media type {layer.media_type!r}")


def image_entries(index: Index) -> list[Descriptor]:
    """The entries of an index that can be images (attestations and artifacts left out)."""
    return [
        d
        for d in index.manifests
        if d.annotations.get(ATTESTATION_TYPE) != "attestation-manifest"
        and (
            d.media_type in mediatypes.MANIFESTS
            or d.media_type in mediatypes.INDEXES
            or d.media_type in mediatypes.SCHEMA1  # parsed, to refuse it with its reason
            or not d.media_type
        )
    ]


def select(
    entries: Sequence[Descriptor],
    wanted: Platform,
    available: Callable[[Descriptor], bool] = lambda d: True,
) -> Descriptor | None:
    """The best entry for ``wanted`` among those ``available`` (first wins on a tie)."""
    best: Descriptor | None = None
    best_score = 0
    for entry in entries:
        if not available(entry):
            continue
        points = score(entry.platform, wanted) if entry.platform is not None else 1
        if points > best_score:
            best, best_score = entry, points
    return best


def make_manifest(config: Descriptor, layers: Sequence[Descriptor]) -> bytes:
    """An OCI image manifest (the JSON bytes) for a config and its layer blobs."""
    doc = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": config.to_json(),
        "layers": [layer.to_json() for layer in layers],
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def make_index(entries: Sequence[Descriptor]) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_INDEX,
        "manifests": [entry.to_json() for entry in entries],
    }
    return json.dumps(doc, separators=(",", ":")).encode()
