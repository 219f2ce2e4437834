"""What a build stage holds between steps: the current image (its config document, layer
blobs and top layer) and the ARGs declared so far; and how a step's result becomes an image."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

import berth
from berth.engine.build.stepconfig import DEFAULT_PATH, StageFlags, env_map
from berth.engine.images import manifests
from berth.engine.images.errors import InvalidContent
from berth.engine.images.imageconfig import format_time
from berth.engine.images.manifests import Manifest
from berth.engine.images.platforms import Platform
from berth.engine.images.service import ImageService
from berth.engine.images.store import Image


@dataclass
class StageState:
    image_id: str  # "" while a FROM scratch stage has made nothing yet
    doc: dict[str, Any]
    layer_blobs: list[str]
    top_chain: str | None
    args: dict[str, str | None] = field(default_factory=dict)
    flags: StageFlags = field(default_factory=StageFlags)

    @property
    def config(self) -> dict[str, Any]:
        config = self.doc.get("config")
        if not isinstance(config, dict):
            config = {}
            self.doc["config"] = config
        return config

    def expansion_env(self) -> dict[str, str]:
        """What ``$name`` means in this step: declared ARGs, with ENV winning."""
        env = {k: v for k, v in self.args.items() if v is not None}
        env.update(env_map(self.config))
        return env

    def arg_env(self) -> list[str]:
        """Build args for a RUN's environment (ENV of the same name wins)."""
        env = env_map(self.config)
        return [f"{k}={v}" for k, v in sorted(self.args.items()) if v is not None and k not in env]


def scratch_state(platform: Platform) -> StageState:
    doc: dict[str, Any] = {
        "architecture": platform.architecture,
        "os": platform.os,
        "config": {"Env": [DEFAULT_PATH]},
        "rootfs": {"type": "layers", "diff_ids": []},
        "history": [],
    }
    if platform.variant:
        doc["variant"] = platform.variant
    return StageState("", doc, [], None)


def state_of(images: ImageService, image: Image) -> StageState:
    """The state a stage starts with from an image (PATH added when the image has none)."""
    return _state(image, layer_blobs_of(images, image))


def known_state_of(image: Image) -> StageState | None:
    """`state_of` without reading anything (None when its manifest has not been read yet):
    a cached step's state, made on the event loop rather than in a worker thread."""
    if not image.config.diff_ids:
        return _state(image, [])
    known = _LAYER_BLOBS.get(image.manifest.digest) if image.manifest is not None else None
    return _state(image, list(known)) if known is not None else None


def _state(image: Image, layer_blobs: list[str]) -> StageState:
    doc = copy.deepcopy(image.config.doc)
    state = StageState(image.id, doc, layer_blobs, image.config.top_chain_id)
    config = state.config
    if "PATH" not in env_map(config):
        config["Env"] = [*list(config.get("Env") or []), DEFAULT_PATH]
    return state


#: Layer blobs by manifest digest: a manifest never changes, and each cached step of a
#: rebuild would read and parse its image's manifest again.
_LAYER_BLOBS: dict[str, list[str]] = {}
_LAYER_BLOBS_KEPT = 1024


def layer_blobs_of(images: ImageService, image: Image) -> list[str]:
    if not image.config.diff_ids:
        return []
    descriptor = image.manifest
    if descriptor is None:
        raise InvalidContent(f"image {image.id} has no manifest: it cannot be built upon")
    known = _LAYER_BLOBS.get(descriptor.digest)
    if known is not None:
        return list(known)
    doc = manifests.parse(images.blobs.read(descriptor.digest), descriptor.media_type)
    if not isinstance(doc, Manifest):
        raise InvalidContent(f"image {image.id} has no single-platform manifest")
    blobs = [layer.digest for layer in doc.layers]
    if len(_LAYER_BLOBS) >= _LAYER_BLOBS_KEPT:
        _LAYER_BLOBS.clear()
    _LAYER_BLOBS[descriptor.digest] = blobs
    return list(blobs)


def new_image_doc(state: StageState, created_by: str | None, diff_id: str | None) -> dict[str, Any]:
    """The config document of the step's image: the stage's config now, one more history
    entry, one more diff ID when the step made a layer."""
    doc = copy.deepcopy(state.doc)
    created = format_time()
    doc["created"] = created
    doc["docker_version"] = f"berth-{berth.__version__}"
    for stale in ("container", "container_config", "id", "parent", "comment"):
        doc.pop(stale, None)
    history = list(doc.get("history") or [])
    if created_by is not None:
        entry: dict[str, Any] = {"created": created, "created_by": created_by}
        if diff_id is None:
            entry["empty_layer"] = True
        history.append(entry)
    doc["history"] = history
    rootfs = dict(doc.get("rootfs") or {"type": "layers"})
    diff_ids = list(rootfs.get("diff_ids") or [])
    if diff_id is not None:
        diff_ids.append(diff_id)
    rootfs["type"] = "layers"
    rootfs["diff_ids"] = diff_ids
    doc["rootfs"] = rootfs
    return doc


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()
