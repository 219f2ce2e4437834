"""The build cache: which image a build step made from a parent image.

A step's key is the digest of its parent image ID and what the step does (its history text,
which for COPY/ADD carries the checksum of the copied files, for RUN the build args in its
environment), plus the platform. The index maps keys to image IDs and lives in
``<image root>/build-cache.json`` next to the image store it points into, so it survives a
restart; entries whose image is gone are dropped when found.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

CACHE_FILE = "build-cache.json"  # in the image root of the active storage driver


def step_key(parent_id: str, created_by: str, extra: Any = None) -> str:
    text = json.dumps([parent_id, created_by, extra], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class BuildCache:
    def __init__(self, path: Path, log: Any) -> None:
        self.path = path
        self.log = log
        self._lock = threading.Lock()
        self._entries: dict[str, str] = {}
        try:
            data = json.loads(path.read_bytes())
            if isinstance(data, dict):
                entries = data.get("steps", {})
                self._entries = {str(k): str(v) for k, v in entries.items()}
        except FileNotFoundError:
            pass
        except (OSError, ValueError, AttributeError) as exc:
            log.error("build.cache_unreadable", path=str(path), error=str(exc))

    def get(self, key: str, exists: Callable[[str], bool]) -> str | None:
        with self._lock:
            found = self._entries.get(key)
            if found is not None and not exists(found):
                del self._entries[key]
                return None
            return found

    def put_many(self, pairs: Iterable[tuple[str, str]]) -> None:
        with self._lock:
            changed = False
            for key, image_id in pairs:
                if self._entries.get(key) != image_id:
                    self._entries[key] = image_id
                    changed = True
            if changed:
                self._write()

    def entries(self) -> dict[str, str]:
        """A copy of the index: step key -> image ID."""
        with self._lock:
            return dict(self._entries)

    def images(self) -> set[str]:
        with self._lock:
            return set(self._entries.values())

    def drop_images(self, image_ids: Iterable[str]) -> int:
        """Forget the steps that made these images; how many entries went."""
        gone = set(image_ids)
        with self._lock:
            keys = [k for k, v in self._entries.items() if v in gone]
            for key in keys:
                del self._entries[key]
            if keys:
                self._write()
            return len(keys)

    def _write(self) -> None:
        """Atomic but not fsynced: after a crash the cache may miss its last steps, which
        costs a rebuild of them, never a wrong image (entries point at stored images)."""
        data = json.dumps({"steps": self._entries}, separators=(",", ":")).encode()
        temp = self.path.with_name(self.path.name + ".tmp")
        temp.write_bytes(data)
        os.replace(temp, self.path)
