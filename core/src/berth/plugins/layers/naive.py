""":class:`NaiveDiffMixin`: diffs for drivers that only know how to show a layer's full tree."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from berth.plugins.contracts.storage import Change
from berth.plugins.layers.apply import apply_layer
from berth.plugins.layers.changes import changes_size, tree_changes
from berth.plugins.layers.export import export_changes
from berth.plugins.layers.whiteouts import WhiteoutFormat


class NaiveDiffMixin(abc.ABC):
    """``diff``, ``changes``, ``apply_diff`` and ``diff_size`` of
    :class:`~berth.plugins.contracts.storage.StorageDriver`, by comparing full trees.

    For drivers whose ``mount(layer_id)`` returns the layer's whole tree (its parent's content
    and its own) and whose new layer starts as a full copy of its parent (vfs, btrfs). Put it
    before the contract among the bases, so that its methods are the ones used::

        class VfsDriver(NaiveDiffMixin, StorageDriver): ...

    ``apply_diff`` unpacks into the mounted layer with :attr:`WhiteoutFormat.NAIVE`; set
    ``allow_devices = False`` on the driver class to refuse device nodes.
    """

    #: Whether ``apply_diff`` may create device nodes.
    allow_devices: bool = True

    @abc.abstractmethod
    def mount(self, layer_id: str, mount_label: str = "") -> Path:
        """The layer's full tree (reference counted)."""

    @abc.abstractmethod
    def unmount(self, layer_id: str) -> None:
        """Drop one mount reference."""

    def diff(self, layer_id: str, parent: str | None) -> BinaryIO:
        """The changes from ``parent`` to ``layer_id`` as a tar stream; the layer stays mounted
        until the stream is closed."""
        root = self.mount(layer_id)
        try:
            changes = self._changes_against(root, parent)
            return export_changes(root, changes, on_close=lambda: self.unmount(layer_id))
        except BaseException:
            self.unmount(layer_id)
            raise

    def changes(self, layer_id: str, parent: str | None) -> Sequence[Change]:
        """The paths added, modified and deleted from ``parent`` to ``layer_id``."""
        root = self.mount(layer_id)
        try:
            return self._changes_against(root, parent)
        finally:
            self.unmount(layer_id)

    def apply_diff(self, layer_id: str, parent: str | None, diff: BinaryIO) -> int:
        """Unpack the tar stream ``diff`` into the layer; the bytes read."""
        root = self.mount(layer_id)
        try:
            return apply_layer(
                diff, root, whiteouts=WhiteoutFormat.NAIVE, allow_devices=self.allow_devices
            )
        finally:
            self.unmount(layer_id)

    def diff_size(self, layer_id: str, parent: str | None) -> int:
        """The bytes of the files added or modified from ``parent`` to ``layer_id``."""
        root = self.mount(layer_id)
        try:
            return changes_size(root, self._changes_against(root, parent))
        finally:
            self.unmount(layer_id)

    def _changes_against(self, root: Path, parent: str | None) -> list[Change]:
        if parent is None:
            return tree_changes(root, None)
        parent_root = self.mount(parent)
        try:
            return tree_changes(root, parent_root)
        finally:
            self.unmount(parent)
