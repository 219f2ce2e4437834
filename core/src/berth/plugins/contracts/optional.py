"""Optional driver capabilities: small protocols a driver may also implement."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from berth.plugins.layers.whiteouts import WhiteoutFormat


@runtime_checkable
class SupportsQuota(Protocol):
    """A storage or volume driver that can cap a layer's or volume's size."""

    def set_quota(self, object_id: str, size_bytes: int) -> None: ...


@runtime_checkable
class PreparesContainer(Protocol):
    """An isolation runtime with something to write into a container's state directory before
    its monitor starts (e.g. which runtime binary and arguments its launcher is to use)."""

    def prepare(self, state_dir: Path, container_id: str) -> None: ...


@runtime_checkable
class SupportsLiveRestore(Protocol):
    """A driver whose objects survive a daemon restart and can be re-adopted."""

    def restore(self, object_ids: list[str]) -> list[str]:
        """Re-adopt what still exists; return the IDs that could not be restored."""
        ...


@runtime_checkable
class FillsLayersApart(Protocol):
    """A storage driver whose layers can each be filled without their parents' content (an
    overlay layer's upper directory): a pull can then unpack all of an image's layers at once,
    each in a process of its own, and record them in order afterwards."""

    def independent_diff_target(
        self, layer_id: str, parent: str | None
    ) -> tuple[Path, WhiteoutFormat] | None:
        """The directory another process may unpack ``layer_id``'s diff into, and the whiteout
        format to write there; None when this layer cannot be filled apart from ``parent``."""
        ...
