"""The build cache as ``GET /system/df`` shows it (``BuildCache``): one record per image the
cache keeps, in the shape of Docker's build-cache records.

- ``Size`` is what the step added: its own layer, 0 for a step that only changed the config;
- ``Shared`` says ``builder prune`` would keep it: the image is tagged, or a container or a
  kept image builds on it (the docker CLI counts only records not shared as the cache's size);
- ``InUse`` says a container uses it.

The index is read from its file, which the build service rewrites after every build, so this
works whether or not a build ran since the daemon started.
"""

from __future__ import annotations

from typing import Any

from berth.engine.build.cache import CACHE_FILE, BuildCache
from berth.engine.images.service import ImageService
from berth.engine.images.store import Image


def build_cache_usage(images: ImageService) -> list[dict[str, Any]]:
    """Blocking: the ``BuildCache`` records of ``GET /system/df``."""
    steps = BuildCache(images.root / CACHE_FILE, images.log).entries()
    every = {image.id: image for image in list(images.images.images.values())}
    key_of: dict[str, str] = {}
    for key, image_id in sorted(steps.items()):
        if image_id in every:
            key_of.setdefault(image_id, key)
    in_use = {image_id for image_id in key_of if images.in_use(image_id)}
    kept = _kept_by_prune(images, every, set(key_of), in_use)
    records = []
    for image_id, key in sorted(key_of.items(), key=lambda item: every[item[0]].config.created):
        image = every[image_id]
        parent = every.get(image.parent)
        records.append(
            {
                "ID": key,
                "Parents": [key_of[parent.id]]
                if parent is not None and parent.id in key_of
                else None,
                "Type": "regular",
                "Description": _description(image),
                "InUse": image_id in in_use,
                "Shared": image_id in kept,
                "Size": _own_size(images, image, parent),
                "CreatedAt": image.config.created or None,
                "LastUsedAt": None,
                "UsageCount": 0,
            }
        )
    return records


def _kept_by_prune(
    images: ImageService, every: dict[str, Image], cached: set[str], in_use: set[str]
) -> set[str]:
    """The cached images ``builder prune`` keeps: tagged, used, or the parent of one it keeps
    or of an image the cache does not own (prune removes only childless images)."""
    children: dict[str, list[str]] = {}
    for image in every.values():
        if image.parent:
            children.setdefault(image.parent, []).append(image.id)
    kept: set[str] = set()
    todo = [i for i in cached if i in in_use or images.repos.references(i)]
    todo += [image.parent for image in every.values() if image.parent and image.id not in cached]
    while todo:
        image_id = todo.pop()
        if image_id in kept or image_id not in every:
            continue
        kept.add(image_id)
        parent = every[image_id].parent
        if parent:
            todo.append(parent)
    return kept & cached


def _own_size(images: ImageService, image: Image, parent: Image | None) -> int:
    top = image.config.top_chain_id
    if parent is not None and parent.config.top_chain_id == top:
        return 0
    layer = images.layers.get(top)
    return layer.size if layer is not None else 0


def _description(image: Image) -> str:
    history = image.config.history
    created_by = history[-1].get("created_by") if history else None
    return str(created_by) if created_by else f"image {image.id}"
