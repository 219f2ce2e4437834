"""Fixtures for the overlay plugin's tests: berth's own (``plugin_context``, ``fake_distribution``),
drivers in temporary data directories, and a check that no test leaves a mount behind."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from berth.testing.fixtures import fake_distribution, plugin_context
from berth_storage_overlay import mountinfo
from berth_storage_overlay.syscalls import MNT_DETACH, MountError, unmount

__all__ = ["fake_distribution", "plugin_context"]


@pytest.fixture(autouse=True)
def no_mount_left_behind(tmp_path: Path) -> Iterator[None]:
    """Fail a test that leaves anything mounted under its tmp_path (and unmount it)."""
    yield
    root = tmp_path.resolve()
    left = mountinfo.mounted_under(root)
    for entry in reversed(left):
        with contextlib.suppress(MountError):
            unmount(entry.mount_point, MNT_DETACH)
    assert not left, "mounts left behind: " + ", ".join(str(m.mount_point) for m in left)


@pytest.fixture
def make_driver(tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``make_driver(api="auto", home=None)``: a driver in ``tmp_path``; all cleaned up after.

    (The driver module is imported here, not at the top, so probe tests run without it.)
    """
    from berth_storage_overlay.driver import OverlayDriver

    made: list[OverlayDriver] = []

    def make(api: str = "auto", home: Path | None = None) -> OverlayDriver:
        driver = OverlayDriver(home or tmp_path / "storage" / "overlay", mount_api=api)
        made.append(driver)
        return driver

    yield make
    for driver in made:
        driver.cleanup()
