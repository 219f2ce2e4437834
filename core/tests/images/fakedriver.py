"""A small directory-backed storage driver for the image store's unit tests.

Each layer is a directory holding its full tree (a copy of its parent plus its diff), like
vfs; ``apply_diff`` unpacks with tarfile's ``data`` filter. It records calls so tests can
check that failures leave no layer behind, and can be told to fail.
"""

from __future__ import annotations

import io
import shutil
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from berth.plugins import Change, StorageDriver


class FakeDriver(StorageDriver):
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.fail_apply: Exception | None = None
        self.created: list[str] = []
        self.removed: list[str] = []

    def _dir(self, layer_id: str) -> Path:
        return self.root / layer_id

    def create(
        self, layer_id: str, parent: str | None, opts: Mapping[str, str] | None = None
    ) -> None:
        target = self._dir(layer_id)
        if target.exists():
            raise FileExistsError(f"layer {layer_id} exists")
        if parent is not None:
            if not self._dir(parent).is_dir():
                raise FileNotFoundError(f"parent layer {parent} does not exist")
            shutil.copytree(self._dir(parent), target, symlinks=True)
        else:
            target.mkdir()
        self.created.append(layer_id)

    def create_rw(
        self, layer_id: str, parent: str | None, opts: Mapping[str, str] | None = None
    ) -> None:
        self.create(layer_id, parent, opts)

    def remove(self, layer_id: str) -> None:
        shutil.rmtree(self._dir(layer_id), ignore_errors=True)
        self.removed.append(layer_id)

    def mount(self, layer_id: str, mount_label: str = "") -> Path:
        return self._dir(layer_id)

    def unmount(self, layer_id: str) -> None:
        pass

    def exists(self, layer_id: str) -> bool:
        return self._dir(layer_id).is_dir()

    def layer_ids(self) -> set[str]:
        return {p.name for p in self.root.iterdir()}

    def diff(self, layer_id: str, parent: str | None) -> BinaryIO:
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as tar:
            tar.add(self._dir(layer_id), arcname=".")
        buffer.seek(0)
        return buffer

    def changes(self, layer_id: str, parent: str | None) -> Sequence[Change]:
        return []

    def apply_diff(self, layer_id: str, parent: str | None, diff: BinaryIO) -> int:
        if self.fail_apply is not None:
            diff.read(100)
            raise self.fail_apply
        size = 0
        with tarfile.open(fileobj=diff, mode="r|") as tar:
            for member in tar:
                tar.extract(member, self._dir(layer_id), filter="data")
                size += member.size
        return size

    def diff_size(self, layer_id: str, parent: str | None) -> int:
        return sum(p.stat().st_size for p in self._dir(layer_id).rglob("*") if p.is_file())

    def status(self) -> Sequence[tuple[str, str]]:
        return [("Layers", str(len(self.layer_ids())))]

    def cleanup(self) -> None:
        pass
