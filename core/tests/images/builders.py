"""Build image content in memory for tests: layer tars, configs, manifests, archives."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(files: Mapping[str, bytes], extra: Iterable[tarfile.TarInfo] = ()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return buffer.getvalue()


def config_for(
    layers: list[bytes], created: str = "2024-01-02T03:04:05.123456789Z", **extra: Any
) -> bytes:
    doc: dict[str, Any] = {
        "architecture": "amd64",
        "os": "linux",
        "created": created,
        "config": {"Cmd": ["/bin/sh"], "Labels": extra.pop("labels", None)},
        "rootfs": {"type": "layers", "diff_ids": [sha(layer) for layer in layers]},
        "history": [{"created": created, "created_by": f"step {i}"} for i in range(len(layers))],
    }
    doc.update(extra)
    return json.dumps(doc).encode()


def tar_of(members: Iterable[tuple[str, bytes]], extra: Iterable[tarfile.TarInfo] = ()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return buffer.getvalue()


@dataclass
class ImageSpec:
    layers: list[bytes]
    tags: list[str] = field(default_factory=list)
    config: bytes = b""
    compress: bool = False

    def __post_init__(self) -> None:
        if not self.config:
            self.config = config_for(self.layers)

    @property
    def id(self) -> str:
        return sha(self.config)

    def blobs(self) -> list[bytes]:
        return [gzip.compress(layer, mtime=0) if self.compress else layer for layer in self.layers]

    def manifest(self) -> bytes:
        media = OCI_LAYER_GZIP if self.compress else OCI_LAYER
        doc = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": self.id, "size": len(self.config)},
            "layers": [
                {"mediaType": media, "digest": sha(blob), "size": len(blob)}
                for blob in self.blobs()
            ],
        }
        return json.dumps(doc).encode()


def docker_archive(images: list[ImageSpec], legacy: bool = False) -> bytes:
    """Docker's archive: the old layout (``<id>/layer.tar``) or Docker 25+'s blobs."""
    members: dict[str, bytes] = {}
    manifest = []
    for image in images:
        if legacy:
            config_name = f"{image.id[7:]}.json"
            layer_names = []
            for blob in image.blobs():
                name = f"{sha(blob)[7:]}/layer.tar"
                members[name] = blob
                layer_names.append(name)
        else:
            config_name = f"blobs/sha256/{image.id[7:]}"
            layer_names = [f"blobs/sha256/{sha(b)[7:]}" for b in image.blobs()]
            for blob in image.blobs():
                members[f"blobs/sha256/{sha(blob)[7:]}"] = blob
        members[config_name] = image.config
        manifest.append({"Config": config_name, "RepoTags": image.tags, "Layers": layer_names})
    members["manifest.json"] = json.dumps(manifest).encode()
    return tar_of(members.items())


def oci_layout(images: list[ImageSpec], skip: set[str] | None = None) -> bytes:
    members: dict[str, bytes] = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}'}
    entries = []
    for image in images:
        manifest = image.manifest()
        for blob in (*image.blobs(), image.config, manifest):
            members[f"blobs/sha256/{sha(blob)[7:]}"] = blob
        entry: dict[str, Any] = {
            "mediaType": OCI_MANIFEST,
            "digest": sha(manifest),
            "size": len(manifest),
        }
        if image.tags:
            entry["annotations"] = {"io.containerd.image.name": image.tags[0]}
        entries.append(entry)
    members["index.json"] = json.dumps(
        {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    ).encode()
    for name in skip or ():
        members.pop(name, None)
    return tar_of(members.items())
