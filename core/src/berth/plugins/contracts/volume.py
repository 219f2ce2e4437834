"""The volume contract, modelled on Docker's volume driver API.

The engine keeps each volume's record (driver, labels, options, which containers use it); a
driver keeps the data. Names are chosen by the engine (64 hex digits for anonymous volumes) or
the user; a driver refuses names it cannot hold with ``ValueError``. ``mount_id`` is the user
of one mount (the engine passes the container ID): a driver counts mounts per ID, so a volume
stays mounted while any user holds it.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class VolumeInfo:
    """One volume as its driver sees it. ``mountpoint`` is where its data is on the host
    (``docker volume inspect``'s ``Mountpoint``); ``created_at`` is RFC 3339 (or empty);
    ``status`` is free-form, shown as ``Status``."""

    name: str
    mountpoint: str
    created_at: str = ""
    status: Mapping[str, str] = field(default_factory=dict)


class VolumeDriver(abc.ABC):
    @abc.abstractmethod
    def create(self, name: str, opts: Mapping[str, str]) -> VolumeInfo:
        """Create a volume (an existing one of that name is returned as it is); raise
        ``ValueError`` for a name or options the driver does not accept, with one line that
        says which."""

    @abc.abstractmethod
    def remove(self, name: str) -> None:
        """Remove a volume and its data; ``KeyError`` when it does not exist, ``RuntimeError``
        while it is mounted."""

    @abc.abstractmethod
    def mount(self, name: str, mount_id: str) -> Path:
        """Make the volume available for one user (``mount_id``) and return its host path;
        ``KeyError`` when it does not exist, ``OSError`` when it cannot be mounted."""

    @abc.abstractmethod
    def unmount(self, name: str, mount_id: str) -> None:
        """Release ``mount_id``'s use of the volume (a use it does not hold is ignored)."""

    @abc.abstractmethod
    def path(self, name: str) -> Path | None:
        """The host path while mounted, else ``None``; ``KeyError`` when it does not exist."""

    @abc.abstractmethod
    def get(self, name: str) -> VolumeInfo:
        """One volume; raise ``KeyError`` when it does not exist."""

    @abc.abstractmethod
    def list(self) -> Sequence[VolumeInfo]:
        """Every volume the driver holds."""
