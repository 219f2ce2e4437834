"""Tags and digests: which reference names which image, kept in ``repositories.json``.

The file has Docker's shape, ``{"Repositories": {"busybox": {"busybox:latest": "sha256:…",
"busybox@sha256:…": "sha256:…"}}}``, written atomically on every change. Callers hold the
image service's lock.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from berth.engine.images import reference
from berth.engine.images.errors import InvalidReference
from berth.engine.images.reference import Reference
from berth.engine.statefile import write_atomic


class RepositoryStore:
    def __init__(self, path: Path, log: Any) -> None:
        self.path = path
        self.log = log
        self._by_ref: dict[Reference, str] = {}
        self._by_image: dict[str, set[Reference]] = defaultdict(set)
        self._load()

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            self.log.error("image.repositories_unreadable", path=str(self.path), error=str(exc))
            return
        for refs in (data.get("Repositories") or {}).values():
            for text, image_id in refs.items():
                try:
                    ref = reference.parse(text)
                except InvalidReference:
                    self.log.warning("image.bad_reference_dropped", reference=text)
                    continue
                self._by_ref[ref] = image_id
                self._by_image[image_id].add(ref)

    def _save(self) -> None:
        repos: dict[str, dict[str, str]] = {}
        for ref, image_id in sorted(self._by_ref.items(), key=lambda item: str(item[0])):
            repos.setdefault(ref.familiar_name, {})[ref.familiar] = image_id
        write_atomic(self.path, json.dumps({"Repositories": repos}).encode())

    def get(self, ref: Reference) -> str | None:
        return self._by_ref.get(ref.tag_or_latest())

    def add(self, ref: Reference, image_id: str) -> str | None:
        """Point ``ref`` at ``image_id``; return the image it named before (if another)."""
        if ref.familiar_name == "sha256":
            raise InvalidReference(
                "refusing to create an ambiguous tag using digest algorithm as name"
            )
        ref = ref.tag_or_latest()
        old = self._by_ref.get(ref)
        if old == image_id:
            return None
        if old is not None:
            self._by_image[old].discard(ref)
            if not self._by_image[old]:
                del self._by_image[old]
        self._by_ref[ref] = image_id
        self._by_image[image_id].add(ref)
        self._save()
        return old

    def delete(self, ref: Reference) -> str | None:
        """Remove ``ref``; return the image it named (None if it named nothing)."""
        ref = ref.tag_or_latest()
        image_id = self._by_ref.pop(ref, None)
        if image_id is None:
            return None
        self._by_image[image_id].discard(ref)
        if not self._by_image[image_id]:
            del self._by_image[image_id]
        self._save()
        return image_id

    def references(self, image_id: str) -> list[Reference]:
        """Every reference to ``image_id``, sorted as Docker sorts them (familiar strings)."""
        return sorted(self._by_image.get(image_id, ()), key=lambda r: r.familiar)

    def tags(self, image_id: str) -> list[Reference]:
        return [r for r in self.references(image_id) if r.tag is not None]

    def digests(self, image_id: str) -> list[Reference]:
        return [r for r in self.references(image_id) if r.digest is not None]

    def by_name(self, repo: Reference) -> list[tuple[Reference, str]]:
        """Every (reference, image) of one repository."""
        name = repo.name
        return sorted(
            ((r, i) for r, i in self._by_ref.items() if r.name == name),
            key=lambda item: item[0].familiar,
        )

    def drop_missing(self, exists: set[str]) -> None:
        """Forget references to images that are not stored (after a crash mid-delete)."""
        stale = [ref for ref, image_id in self._by_ref.items() if image_id not in exists]
        for ref in stale:
            self.log.warning("image.dangling_reference_dropped", reference=str(ref))
            image_id = self._by_ref.pop(ref)
            self._by_image[image_id].discard(ref)
            if not self._by_image[image_id]:
                del self._by_image[image_id]
        if stale:
            self._save()
