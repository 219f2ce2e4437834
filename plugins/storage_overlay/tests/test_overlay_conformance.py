"""Core's storage conformance suite against the installed overlay plugin, once with each way of
mounting: the new mount API (where the kernel has overlayfs' lowerdir+) and mount(2)."""

from collections.abc import Mapping
from typing import Any, ClassVar

from berth.testing.conformance import StorageDriverSuite


class TestOverlay(StorageDriverSuite):
    name = "overlay"
    distribution = "berth-storage-overlay"
    #: Deeper than the suite's 100: images this deep must mount (Docker's overlay2 limit).
    chain_depth = 128


class TestOverlayWithMount2(StorageDriverSuite):
    name = "overlay"
    distribution = "berth-storage-overlay"
    options: ClassVar[Mapping[str, Any]] = {"overlay.mount_api": "legacy"}
    chain_depth = 128
