"""The storage contract, modelled on Docker's graphdriver.

A driver stores layers by ID. A layer has at most one parent; reading a layer shows its
parent's content with its own on top. ``create_rw`` makes the writable layer of a container.
Diffs are uncompressed tar streams in the OCI layer format (``.wh.`` whiteouts).
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


class ChangeKind(enum.IntEnum):
    """Docker's change kinds, with Docker's numbers (as ``GET /containers/{id}/changes`` shows)."""

    MODIFY = 0
    ADD = 1
    DELETE = 2


@dataclass(frozen=True)
class Change:
    path: str
    kind: ChangeKind


class StorageDriver(abc.ABC):
    """A layer store. Implementations must be safe to call from several threads."""

    @abc.abstractmethod
    def create(
        self, layer_id: str, parent: str | None, opts: Mapping[str, str] | None = None
    ) -> None:
        """Create a read-only layer on top of ``parent`` (``None`` for a base layer)."""

    @abc.abstractmethod
    def create_rw(
        self, layer_id: str, parent: str | None, opts: Mapping[str, str] | None = None
    ) -> None:
        """Create a writable layer (a container's) on top of ``parent``."""

    @abc.abstractmethod
    def remove(self, layer_id: str) -> None:
        """Remove a layer. Removing a layer that does not exist is not an error."""

    @abc.abstractmethod
    def mount(self, layer_id: str, mount_label: str = "") -> Path:
        """Make the layer's full file system visible and return its path (reference counted)."""

    @abc.abstractmethod
    def unmount(self, layer_id: str) -> None:
        """Drop one mount reference; the last one really unmounts."""

    @abc.abstractmethod
    def exists(self, layer_id: str) -> bool:
        """Whether the layer is stored."""

    @abc.abstractmethod
    def diff(self, layer_id: str, parent: str | None) -> BinaryIO:
        """A tar stream of the changes from ``parent`` to ``layer_id``."""

    @abc.abstractmethod
    def changes(self, layer_id: str, parent: str | None) -> Sequence[Change]:
        """The paths added, modified and deleted between ``parent`` and ``layer_id``."""

    @abc.abstractmethod
    def apply_diff(self, layer_id: str, parent: str | None, diff: BinaryIO) -> int:
        """Unpack a tar stream into the layer, honouring whiteouts; return the size of the
        content unpacked (the sum of the entries' data sizes: Docker's layer size)."""

    @abc.abstractmethod
    def diff_size(self, layer_id: str, parent: str | None) -> int:
        """The size in bytes of the changes between ``parent`` and ``layer_id``."""

    @abc.abstractmethod
    def status(self) -> Sequence[tuple[str, str]]:
        """Key/value pairs for ``berth info`` (backing file system, layer count, …)."""

    @abc.abstractmethod
    def cleanup(self) -> None:
        """Release everything the driver holds (unmount all); called at daemon shutdown."""
