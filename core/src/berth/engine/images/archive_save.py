"""Writing image archives as Docker 25+ does: a docker-archive (``manifest.json``,
``repositories``) that is also an OCI image layout (``oci-layout``, ``index.json``,
``blobs/sha256/…``), streamed as tar chunks.

Blobs are written as stored: the config and manifest an image came with, so digests survive
a round trip; layers as the blobs its manifest names (docker-archive readers decompress them).
"""

from __future__ import annotations

import json
import tarfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from berth.engine.images import digests, mediatypes
from berth.engine.images.blobs import BlobStore
from berth.engine.images.manifests import Descriptor, make_index
from berth.engine.images.reference import Reference

CHUNK = 1 << 20
BLOCK = 512


@dataclass(frozen=True)
class SaveItem:
    image_id: str
    manifest: Descriptor
    layer_blobs: tuple[str, ...]
    tags: tuple[Reference, ...]


def _header(name: str, size: int, kind: bytes = tarfile.REGTYPE, mode: int = 0o644) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size if kind == tarfile.REGTYPE else 0
    info.type = kind
    info.mode = mode
    info.mtime = 0
    return info.tobuf(format=tarfile.USTAR_FORMAT, encoding="utf-8", errors="strict")


def _padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def _file(name: str, data: bytes) -> Iterator[bytes]:
    yield _header(name, len(data)) + data + _padding(len(data))


def _blob_path(digest: str) -> str:
    return f"blobs/sha256/{digests.hex_of(digest)}"


def _blob(blobs: BlobStore, digest: str) -> Iterator[bytes]:
    size = blobs.size(digest)
    yield _header(_blob_path(digest), size)
    left = size
    with blobs.open(digest) as handle:
        while left > 0:
            chunk = handle.read(min(CHUNK, left))
            if not chunk:
                raise OSError(f"blob {digest} shrank while it was being saved")
            left -= len(chunk)
            yield chunk
    yield _padding(size)


def archive_chunks(items: Sequence[SaveItem], blobs: BlobStore) -> Iterator[bytes]:
    """The tar stream of ``items`` (each image once, tags merged by the caller)."""
    yield _header("blobs", 0, tarfile.DIRTYPE, 0o755)
    yield _header("blobs/sha256", 0, tarfile.DIRTYPE, 0o755)
    written: set[str] = set()
    for item in items:
        for digest in (*item.layer_blobs, item.image_id, item.manifest.digest):
            if digest not in written:
                written.add(digest)
                yield from _blob(blobs, digest)
    index_entries: list[Descriptor] = []
    docker_manifest = []
    repositories: dict[str, dict[str, str]] = {}
    for item in items:
        if item.tags:
            for tag in item.tags:
                annotations = {
                    "io.containerd.image.name": str(tag),
                    "org.opencontainers.image.ref.name": tag.tag or "latest",
                }
                index_entries.append(
                    Descriptor(
                        item.manifest.media_type,
                        item.manifest.digest,
                        item.manifest.size,
                        annotations=annotations,
                    )
                )
                if item.layer_blobs:
                    top = digests.hex_of(item.layer_blobs[-1])
                    repositories.setdefault(tag.familiar_name, {})[tag.tag or "latest"] = top
        else:
            index_entries.append(
                Descriptor(item.manifest.media_type, item.manifest.digest, item.manifest.size)
            )
        docker_manifest.append(
            {
                "Config": _blob_path(item.image_id),
                "RepoTags": [t.familiar for t in item.tags] or None,
                "Layers": [_blob_path(d) for d in item.layer_blobs],
            }
        )
    yield from _file("index.json", make_index(index_entries))
    yield from _file("manifest.json", json.dumps(docker_manifest).encode())
    layout = {"imageLayoutVersion": mediatypes.OCI_LAYOUT_VERSION}
    yield from _file("oci-layout", json.dumps(layout).encode())
    if repositories:
        yield from _file("repositories", json.dumps(repositories).encode())
    yield b"\0" * (2 * BLOCK)
