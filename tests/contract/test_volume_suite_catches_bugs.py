"""The volume conformance suite fails drivers that break the contract.

Each broken driver is the local driver with one bug put in; the suite's check that must catch
the bug is run against it and has to fail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from berth.plugins import VolumeDriver, VolumeInfo
from berth.testing.conformance import VolumeDriverSuite
from berth_volume_local.driver import LocalVolumeDriver


class PathAlways(LocalVolumeDriver):
    def path(self, name: str) -> Path | None:
        return Path(self.get(name).mountpoint)


class ForgetsOtherUsers(LocalVolumeDriver):
    def unmount(self, name: str, mount_id: str) -> None:
        self._users.pop(name, None)


class AcceptsAnyOption(LocalVolumeDriver):
    def create(self, name: str, opts: Mapping[str, str]) -> VolumeInfo:
        return super().create(name, {})


class NeverRemoves(LocalVolumeDriver):
    def remove(self, name: str) -> None:
        self._existing(name)


class RemovesWhileMounted(LocalVolumeDriver):
    def remove(self, name: str) -> None:
        self._users.pop(name, None)
        super().remove(name)


class SilentOnUnknown(LocalVolumeDriver):
    def get(self, name: str) -> VolumeInfo:
        try:
            return super().get(name)
        except KeyError:
            return VolumeInfo(name=name, mountpoint="")


CASES: list[tuple[type[LocalVolumeDriver], str]] = [
    (PathAlways, "test_path_only_while_mounted"),
    (ForgetsOtherUsers, "test_mounts_are_counted_per_mount_id"),
    (AcceptsAnyOption, "test_unknown_options_are_refused"),
    (NeverRemoves, "test_remove_deletes_the_volume"),
    (RemovesWhileMounted, "test_remove_while_mounted_is_refused"),
    (SilentOnUnknown, "test_unknown_volumes_raise_key_error"),
]


@pytest.mark.parametrize(("broken", "check"), CASES, ids=[c[0].__name__ for c in CASES])
def test_the_suite_catches_the_bug(
    broken: type[LocalVolumeDriver], check: str, tmp_path: Path
) -> None:
    suite = VolumeDriverSuite()
    driver = broken(tmp_path / "volumes")
    method: Callable[..., Any] = getattr(suite, check)
    arguments: dict[str, Any] = {"volumes": driver}
    if "driver_factory" in method.__code__.co_varnames:
        arguments["driver_factory"] = lambda: broken(tmp_path / "volumes")
    with pytest.raises((AssertionError, pytest.fail.Exception, KeyError)):
        method(**arguments)


@pytest.mark.parametrize("check", sorted({c[1] for c in CASES}))
def test_the_real_driver_passes_the_same_checks(check: str, tmp_path: Path) -> None:
    driver: VolumeDriver = LocalVolumeDriver(tmp_path / "volumes")
    getattr(VolumeDriverSuite(), check)(volumes=driver)
