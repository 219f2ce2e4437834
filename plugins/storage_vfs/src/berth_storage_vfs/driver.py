"""The vfs storage driver: every layer a full, plain copy of its parent plus its own changes.

Nothing is mounted: ``mount`` returns the layer's directory and only counts references (so the
contract's reference counting holds and ``cleanup`` has nothing to undo). Diffs compare a layer
with its parent file by file (:class:`~berth.plugins.layers.NaiveDiffMixin`); applying a diff
writes into the layer's own copy, deleting what its whiteouts delete.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from berth.plugins import StorageDriver
from berth.plugins.hostfs import backing_filesystem, mark_top_directory
from berth.plugins.layers import NaiveDiffMixin

from berth_storage_vfs import layout
from berth_storage_vfs.copytree import copy_tree
from berth_storage_vfs.layout import LAYERS, META, ROOT, TMP_PREFIX, TRASH_PREFIX


class VfsDriver(NaiveDiffMixin, StorageDriver):
    """Layers as plain directory trees under ``home`` (the plugin's data directory)."""

    def __init__(self, home: Path, *, logger: Any = None) -> None:
        self.home = Path(os.path.realpath(home))
        self.layers = self.home / LAYERS
        self.layers.mkdir(parents=True, exist_ok=True)
        mark_top_directory(self.layers)  # ext4 spreads the layers: faster unpacking
        self._log = logger
        self._lock = threading.Lock()
        self._layer_locks: dict[str, threading.Lock] = {}
        self._refs: dict[str, int] = {}
        swept = layout.sweep(self.layers)
        try:
            self.backing_fs = backing_filesystem(self.home)
        except OSError:
            self.backing_fs = "unknown"
        self._note("vfs.started", home=str(self.home), backing_fs=self.backing_fs, swept=swept)

    # --- layers ----------------------------------------------------------------------------

    def create(
        self, layer_id: str, parent: str | None, opts: Mapping[str, str] | None = None
    ) -> None:
        self._create(layer_id, parent, opts, writable=False)

    def create_rw(
        self, layer_id: str, parent: str | None, opts: Mapping[str, str] | None = None
    ) -> None:
        self._create(layer_id, parent, opts, writable=True)

    def _create(
        self, layer_id: str, parent: str | None, opts: Mapping[str, str] | None, writable: bool
    ) -> None:
        layout.check_layer_id(layer_id)
        if parent is not None:
            layout.check_layer_id(parent)
        if opts:
            raise ValueError(
                f"the vfs driver takes no layer options (got {', '.join(sorted(opts))})"
            )
        with self._layer_lock(layer_id):
            if os.path.lexists(self.layers / layer_id):
                raise FileExistsError(f"layer {layer_id} already exists")
            source = self._root(parent, what="parent layer") if parent is not None else None
            tmp = self.layers / f"{TMP_PREFIX}{secrets.token_hex(8)}"
            tmp.mkdir(0o700)
            try:
                if source is None:
                    (tmp / ROOT).mkdir()
                    os.chmod(tmp / ROOT, 0o755)
                else:
                    self._copy(source, tmp / ROOT, layer_id, parent)
                layout.write_meta(tmp / META, parent, writable)
                layout.fsync_dir(tmp)
                os.rename(tmp, self.layers / layer_id)
            except BaseException:
                with contextlib.suppress(OSError):
                    layout.delete_tree(tmp)
                raise
            layout.fsync_dir(self.layers)
        self._note("vfs.layer_created", layer=layer_id, parent=parent, writable=writable)

    def _copy(self, source: Path, target: Path, layer_id: str, parent: str | None) -> None:
        try:
            copy_tree(str(source), str(target))
        except OSError as exc:
            where = exc.filename or source
            raise OSError(
                f"cannot create layer {layer_id}: copying parent layer {parent} failed at "
                f"{where}: {exc.strerror or exc}",
            ) from None

    def remove(self, layer_id: str) -> None:
        layout.check_layer_id(layer_id)
        with self._layer_lock(layer_id):
            self._refs.pop(layer_id, None)
            layer = self.layers / layer_id
            if not os.path.lexists(layer):
                return
            trash = self.layers / f"{TRASH_PREFIX}{secrets.token_hex(8)}"
            os.rename(layer, trash)
            layout.fsync_dir(self.layers)
            try:
                layout.delete_tree(trash)
            except OSError as exc:
                # The layer is gone for good; what is left goes at the next start.
                self._note("vfs.remove_incomplete", layer=layer_id, left=str(trash), error=str(exc))
        self._note("vfs.layer_removed", layer=layer_id)

    def exists(self, layer_id: str) -> bool:
        try:
            layout.check_layer_id(layer_id)
        except ValueError:
            return False
        return (self.layers / layer_id / ROOT).is_dir()

    def parent(self, layer_id: str) -> str | None:
        """The parent the layer was created on (``None`` for a base layer)."""
        layout.check_layer_id(layer_id)
        self._root(layer_id)
        found = layout.read_meta(self.layers / layer_id / META).get("parent")
        return found if isinstance(found, str) else None

    # --- mounts ----------------------------------------------------------------------------

    def mount(self, layer_id: str, mount_label: str = "") -> Path:
        # mount_label (an SELinux context) does not apply: nothing is mounted.
        layout.check_layer_id(layer_id)
        with self._layer_lock(layer_id):
            root = self._root(layer_id)
            self._refs[layer_id] = self._refs.get(layer_id, 0) + 1
            return root

    def unmount(self, layer_id: str) -> None:
        layout.check_layer_id(layer_id)
        with self._layer_lock(layer_id):
            count = self._refs.get(layer_id, 0)
            if count > 1:
                self._refs[layer_id] = count - 1
            else:
                self._refs.pop(layer_id, None)

    def mount_count(self, layer_id: str) -> int:
        """How many references hold the layer (for tests and diagnostics)."""
        return self._refs.get(layer_id, 0)

    def cleanup(self) -> None:
        with self._lock:
            self._refs.clear()

    # --- information -----------------------------------------------------------------------

    def status(self) -> Sequence[tuple[str, str]]:
        return [("Backing Filesystem", self.backing_fs), ("Layers", str(self.layer_count()))]

    def layer_count(self) -> int:
        return sum(
            1
            for entry in os.scandir(self.layers)
            if layout.is_layer_name(entry.name) and entry.is_dir(follow_symlinks=False)
        )

    # --- helpers ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _layer_lock(self, layer_id: str) -> Iterator[None]:
        # One lock per layer ID ever used, kept for the driver's life: dropping one while a
        # thread waits on it would let two threads work on one layer.
        with self._lock:
            lock = self._layer_locks.setdefault(layer_id, threading.Lock())
        with lock:
            yield

    def _root(self, layer_id: str, what: str = "layer") -> Path:
        root = self.layers / layer_id / ROOT
        if not root.is_dir():
            raise FileNotFoundError(f"{what} {layer_id} does not exist")
        return root

    def _note(self, event: str, **fields: Any) -> None:
        if self._log is not None:
            self._log.info(event, **fields)
