"""The volume contract, modelled on Docker's volume driver API."""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class VolumeInfo:
    name: str
    mountpoint: str
    created_at: str = ""
    status: Mapping[str, str] = field(default_factory=dict)


class VolumeDriver(abc.ABC):
    @abc.abstractmethod
    def create(self, name: str, opts: Mapping[str, str]) -> VolumeInfo:
        """Create a volume; raise ``ValueError`` for options the driver does not know."""

    @abc.abstractmethod
    def remove(self, name: str) -> None:
        """Remove a volume and its data."""

    @abc.abstractmethod
    def mount(self, name: str, mount_id: str) -> Path:
        """Make the volume available for one user (``mount_id``) and return its host path."""

    @abc.abstractmethod
    def unmount(self, name: str, mount_id: str) -> None:
        """Release ``mount_id``'s use of the volume."""

    @abc.abstractmethod
    def path(self, name: str) -> Path | None:
        """The host path while mounted, else ``None``."""

    @abc.abstractmethod
    def get(self, name: str) -> VolumeInfo:
        """One volume; raise ``KeyError`` when it does not exist."""

    @abc.abstractmethod
    def list(self) -> Sequence[VolumeInfo]:
        """Every volume the driver holds."""
