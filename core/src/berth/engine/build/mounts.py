"""Image root file systems the builder reads (COPY destinations in the parent image, ``COPY
--from`` sources, ``--chown`` names): a throwaway writable layer on the image, mounted.

Mounting costs tens of milliseconds, and a rebuild reads the same parent image every time
(the one before the step that changed), so the last few mounts are kept and shared, each
holding a lease on its image's top layer so the layer cannot go while mounted. The throwaway
layers' IDs are listed in a small file so a daemon that stopped without unmounting them removes
them at its next start (leases die with the daemon).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from berth.engine.images.service import ImageService
from berth.engine.images.store import Image

KEEP = 4
PREFIX = "build-"


@dataclass
class _Mount:
    layer_id: str
    root: Path
    chain_id: str
    lease: str
    users: int = 0


class RootfsMounts:
    def __init__(self, images: ImageService, record: Path, log: Any, keep: int = KEEP) -> None:
        self.images = images
        self.record = record
        self.log = log
        self.keep = keep
        self._lock = threading.Lock()
        self._mounts: OrderedDict[str, _Mount] = OrderedDict()
        self._remove_stale()

    def _remove_stale(self) -> None:
        try:
            stale = json.loads(self.record.read_bytes())
        except (OSError, ValueError):
            stale = []
        for layer_id in stale if isinstance(stale, list) else []:
            if isinstance(layer_id, str) and layer_id.startswith(PREFIX):
                try:
                    self.images.driver.remove(layer_id)
                except Exception as exc:
                    self.log.warning("build.stale_mount", layer=layer_id, error=str(exc))
        self._write()

    def _write(self) -> None:
        """Plain rename, no fsync: the list only helps to tidy up."""
        ids = [m.layer_id for m in self._mounts.values()]
        temp = self.record.with_name(self.record.name + ".tmp")
        temp.write_text(json.dumps(ids))
        temp.replace(self.record)

    @contextlib.contextmanager
    def rootfs(self, image: Image) -> Iterator[Path | None]:
        """The image's root file system, mounted while the block runs; None for an image
        without layers."""
        chain = image.config.top_chain_id
        if chain is None:
            yield None
            return
        mount = self._acquire(image.id, chain)
        try:
            yield mount.root
        finally:
            self._release(mount)

    def _acquire(self, image_id: str, chain: str) -> _Mount:
        with self._lock:
            found = self._mounts.get(image_id)
            if found is not None:
                found.users += 1
                self._mounts.move_to_end(image_id)
                return found
        layers = self.images.layers
        driver = self.images.driver
        lease = layers.new_lease()
        top = layers.acquire(chain, lease)
        layer_id = PREFIX + secrets.token_hex(16)
        try:
            driver.create_rw(layer_id, top.cache_id)
            try:
                root = Path(driver.mount(layer_id))
            except BaseException:
                driver.remove(layer_id)
                raise
        except BaseException:
            layers.release(chain, lease)
            raise
        mount = _Mount(layer_id, root, chain, lease, users=1)
        with self._lock:
            if image_id in self._mounts:  # another build made one meanwhile: use it only once
                mount.users = 1
                return mount
            self._mounts[image_id] = mount
            self._write()
        return mount

    def _release(self, mount: _Mount) -> None:
        gone: list[_Mount] = []
        with self._lock:
            mount.users -= 1
            if all(kept is not mount for kept in self._mounts.values()):
                gone.append(mount)
            while len(self._mounts) > self.keep:
                oldest = next((k for k, m in self._mounts.items() if m.users == 0), None)
                if oldest is None:
                    break
                gone.append(self._mounts.pop(oldest))
            if gone:
                self._write()
        for old in gone:
            self._drop(old)

    def _drop(self, mount: _Mount) -> None:
        driver = self.images.driver
        try:
            driver.unmount(mount.layer_id)
            driver.remove(mount.layer_id)
        except Exception as exc:
            self.log.warning("build.unmount_failed", layer=mount.layer_id, error=str(exc))
        with contextlib.suppress(Exception):
            self.images.layers.release(mount.chain_id, mount.lease)

    def clear(self) -> None:
        """Unmount every kept root file system not in use (``builder prune``)."""
        with self._lock:
            mounts = [m for m in self._mounts.values() if m.users == 0]
            for mount in mounts:
                self._mounts.pop(next(k for k, v in self._mounts.items() if v is mount))
            self._write()
        for mount in mounts:
            self._drop(mount)
