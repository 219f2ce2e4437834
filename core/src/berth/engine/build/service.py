"""The build service: what ``POST /build`` and ``POST /build/prune`` call.

It owns the build cache index (next to the image store of the active storage driver) and the
scratch directory where contexts are unpacked (``<data-root>/builder/tmp``, emptied at start).
"""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, BinaryIO

from berth.engine.build.builder import Build, BuildOptions, Puller
from berth.engine.build.cache import CACHE_FILE, BuildCache
from berth.engine.build.context import BuildContext
from berth.engine.build.mounts import RootfsMounts
from berth.engine.containers.service import ContainerService
from berth.engine.errors import BerthError
from berth.engine.images.platforms import host
from berth.engine.images.service import ImageService

Emit = Callable[[dict[str, Any]], Awaitable[None]]


class BuildService:
    def __init__(
        self,
        images: ImageService,
        containers: ContainerService,
        scratch: Path,
        log: Any,
        puller: Puller | None = None,
    ) -> None:
        self.images = images
        self.puller = puller
        self.containers = containers
        self.log = log
        self.scratch = scratch
        shutil.rmtree(scratch, ignore_errors=True)  # contexts of builds a crash cut short
        scratch.mkdir(parents=True, exist_ok=True)
        self.cache = BuildCache(images.root / CACHE_FILE, log)
        self.mounts = RootfsMounts(images, images.root / "build-mounts.json", log)

    def unpack(self, body: BinaryIO) -> BuildContext:
        """Blocking: the context from the request body."""
        return BuildContext.unpack(body, self.scratch)

    async def build(self, context: BuildContext, options: BuildOptions, emit: Emit) -> str:
        platform = options.platform or host()
        build = Build(
            self.images,
            self.containers,
            self.cache,
            self.mounts,
            context,
            options,
            platform,
            emit,
            self.log,
            self.puller,
        )
        return await build.run()

    def prune(self) -> dict[str, Any]:
        """Blocking: forget every cached step and remove the images only the cache kept
        (untagged, unused, without children); tagged images stay, also with ``--all``."""
        self.mounts.clear()
        cached = self.cache.images()
        deleted: list[str] = []
        reclaimed = 0
        progress = True
        while progress:
            progress = False
            for image_id in sorted(cached - set(deleted)):
                image = self.images.images.get(image_id)
                if image is None or self.images.repos.references(image_id):
                    continue
                top = self.images.layers.get(image.config.top_chain_id)
                try:
                    records = self.images.remove(image_id, force=False, prune=False)
                except BerthError:
                    continue
                gone = {r.get("Deleted") for r in records}
                if image_id in gone:
                    deleted.append(image_id)
                    progress = True
                if top is not None and top.chain_id in gone:
                    reclaimed += top.size
        self.cache.drop_images(cached)
        return {"CachesDeleted": deleted or None, "SpaceReclaimed": reclaimed}
