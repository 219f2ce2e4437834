"""Images: a config blob (its digest is the image ID) plus metadata in ``imagedb/``.

``imagedb/<id hex>.json`` holds what is not in the config: the parent image (builds and
commits), the last time the image was tagged, and the manifest the image came with (or was
given), so ``save`` writes it back unchanged. An image exists once that file exists: it is
written after its config and layers are stored, and removed first on delete. Everything is
kept in memory from start-up on, so listing never reads the disk.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.engine.images import digests
from berth.engine.images.blobs import BlobStore
from berth.engine.images.errors import ImageNotFound, InvalidReference
from berth.engine.images.imageconfig import ImageConfig, parse_config
from berth.engine.images.manifests import Descriptor
from berth.engine.images.platforms import Platform
from berth.engine.statefile import write_atomic


@dataclass
class Image:
    config: ImageConfig
    manifest: Descriptor | None
    parent: str = ""
    last_tag_time: str = ""
    size: int = 0

    @property
    def id(self) -> str:
        return self.config.id

    def metadata(self) -> dict[str, Any]:
        return {
            "parent": self.parent,
            "lastTagTime": self.last_tag_time,
            "manifest": self.manifest.to_json() if self.manifest is not None else None,
        }


def _descriptor(data: Any) -> Descriptor | None:
    if not isinstance(data, dict):
        return None
    return Descriptor(
        str(data["mediaType"]),
        str(data["digest"]),
        int(data["size"]),
        Platform.from_json(data.get("platform")),
        dict(data.get("annotations") or {}),
    )


class ImageStore:
    def __init__(self, root: Path, blobs: BlobStore, log: Any) -> None:
        self.root = root
        self.blobs = blobs
        self.log = log
        self.root.mkdir(parents=True, exist_ok=True)
        self.images: dict[str, Image] = {}
        self._load()

    def _path(self, image_id: str) -> Path:
        return self.root / f"{digests.hex_of(image_id)}.json"

    def _load(self) -> None:
        for path in self.root.glob("*.json"):
            image_id = f"sha256:{path.stem}"
            try:
                meta = json.loads(path.read_bytes())
                config = parse_config(self.blobs.read(image_id))
                image = Image(
                    config,
                    _descriptor(meta.get("manifest")),
                    str(meta.get("parent") or ""),
                    str(meta.get("lastTagTime") or ""),
                )
            except Exception as exc:
                self.log.error("image.unreadable", image=image_id, error=str(exc))
                continue
            self.images[image_id] = image

    def save(self, image: Image, stored: bool = False) -> None:
        """``stored``: the image was saved before, and losing this update to a crash is
        harmless (old metadata stays valid), so the directory is not fsynced again."""
        data = json.dumps(image.metadata()).encode()
        write_atomic(self._path(image.id), data, sync_dir=not stored)
        self.images[image.id] = image

    def delete(self, image_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(image_id).unlink()
        self.images.pop(image_id, None)

    def get(self, image_id: str) -> Image | None:
        return self.images.get(image_id)

    def search(self, text: str) -> Image:
        """The image whose ID is ``text`` or starts with it (``sha256:`` optional)."""
        hexpart = text[7:] if text.startswith("sha256:") else text
        if not hexpart or not all(c in "0123456789abcdef" for c in hexpart):
            raise ImageNotFound(text)
        exact = self.images.get(f"sha256:{hexpart}")
        if exact is not None:
            return exact
        found = [img for img in self.images.values() if digests.hex_of(img.id).startswith(hexpart)]
        if not found:
            raise ImageNotFound(text)
        if len(found) > 1:
            raise InvalidReference(
                f"ambiguous image ID prefix {text!r}: it matches {len(found)} images"
            )
        return found[0]

    def children(self, image_id: str) -> list[Image]:
        return [img for img in self.images.values() if img.parent == image_id]
