"""Conformance suite of volume drivers (entry-point group ``berth.volume.v1``).

A volume driver's tests subclass :class:`VolumeDriverSuite` and name the plugin::

    from berth.testing.conformance import VolumeDriverSuite

    class TestMyVolumes(VolumeDriverSuite):
        name = "mydriver"
        distribution = "berth-volume-mydriver"

The suite runs the registration checks and then the behaviour of the
:class:`~berth.plugins.VolumeDriver` contract, each test with a fresh driver built by the
plugin's factory in a fresh data directory: create (twice: the same volume), get, list,
mount/unmount counted per mount ID, ``path`` only while mounted, data kept across mounts and
across a new driver object on the same data (a restarted daemon), remove, unknown options
refused with ``ValueError`` and unknown volumes with ``KeyError``. Every mount a test makes is
released after it, and the test fails if a mount is left under the data directory.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import ClassVar

import pytest

from berth.plugins import (
    AnySpec,
    DriverKind,
    PluginContext,
    ProbeResult,
    VolumeDriver,
    VolumeDriverSpec,
    VolumeInfo,
)
from berth.testing.conformance.registration import DriverRegistrationSuite
from berth.testing.mounts import mounts_under

DriverFactory = Callable[[], VolumeDriver]


class VolumeDriverSuite(DriverRegistrationSuite):
    """Subclass it and set ``name`` (the entry-point name) and ``distribution``; optionally
    ``create_options`` (options every test volume is made with) and ``bad_options`` (options
    the driver must refuse)."""

    kind: ClassVar[DriverKind] = "volume"
    spec_type: ClassVar[type[AnySpec]] = VolumeDriverSpec
    contract: ClassVar[type] = VolumeDriver

    create_options: ClassVar[Mapping[str, str]] = {}
    bad_options: ClassVar[Mapping[str, str]] = {"no-such-option-anywhere": "1"}

    # --- fixtures ------------------------------------------------------------------------

    @pytest.fixture
    def driver_factory(
        self, spec: VolumeDriverSpec, context: PluginContext, probe_result: ProbeResult
    ) -> Iterator[DriverFactory]:
        if not probe_result.supported:
            pytest.skip(f"volume driver {self.name!r} cannot run here: {probe_result.reason}")
        made: list[VolumeDriver] = []

        def make() -> VolumeDriver:
            driver = spec.factory(context)
            made.append(driver)
            return driver

        yield make
        left = mounts_under(context.data_dir)
        assert not left, f"mounts left under the data directory after the test: {left}"

    @pytest.fixture
    def volumes(self, driver_factory: DriverFactory) -> Iterator[VolumeDriver]:
        """A driver; every volume is removed after the test (which unmounts what it holds)."""
        driver = driver_factory()
        yield driver
        for info in list(driver.list()):
            with contextlib.suppress(RuntimeError):  # still mounted: the test's failure says why
                driver.remove(info.name)

    def make(self, driver: VolumeDriver, name: str) -> VolumeInfo:
        return driver.create(name, dict(self.create_options))

    # --- checks --------------------------------------------------------------------------

    def test_create_then_get_and_list(self, volumes: VolumeDriver) -> None:
        info = self.make(volumes, "conformance-one")
        assert isinstance(info, VolumeInfo)
        assert info.name == "conformance-one"
        assert info.mountpoint, "a volume has a Mountpoint"
        got = volumes.get("conformance-one")
        assert (got.name, got.mountpoint) == (info.name, info.mountpoint)
        assert "conformance-one" in {v.name for v in volumes.list()}

    def test_create_again_returns_the_same_volume(self, volumes: VolumeDriver) -> None:
        first = self.make(volumes, "conformance-twice")
        path = volumes.mount("conformance-twice", "m1")
        (path / "keep").write_text("kept")
        volumes.unmount("conformance-twice", "m1")
        again = self.make(volumes, "conformance-twice")
        assert again.mountpoint == first.mountpoint
        path = volumes.mount("conformance-twice", "m1")
        try:
            assert (path / "keep").read_text() == "kept", "create of an existing name kept data"
        finally:
            volumes.unmount("conformance-twice", "m1")
        assert [v.name for v in volumes.list()].count("conformance-twice") == 1

    def test_list_has_every_volume(self, volumes: VolumeDriver) -> None:
        names = {f"conformance-list-{i}" for i in range(3)}
        for name in names:
            self.make(volumes, name)
        assert names <= {v.name for v in volumes.list()}

    def test_mount_gives_a_writable_directory(self, volumes: VolumeDriver) -> None:
        self.make(volumes, "conformance-rw")
        path = volumes.mount("conformance-rw", "m1")
        try:
            assert path.is_dir()
            (path / "file").write_bytes(b"data")
            assert (path / "file").read_bytes() == b"data"
        finally:
            volumes.unmount("conformance-rw", "m1")

    def test_path_only_while_mounted(self, volumes: VolumeDriver) -> None:
        self.make(volumes, "conformance-path")
        assert volumes.path("conformance-path") is None
        path = volumes.mount("conformance-path", "m1")
        assert volumes.path("conformance-path") == path
        volumes.unmount("conformance-path", "m1")
        assert volumes.path("conformance-path") is None

    def test_mounts_are_counted_per_mount_id(self, volumes: VolumeDriver) -> None:
        self.make(volumes, "conformance-count")
        first = volumes.mount("conformance-count", "a")
        second = volumes.mount("conformance-count", "b")
        assert first == second, "two users of one volume see the same data"
        (first / "shared").write_text("x")
        volumes.unmount("conformance-count", "a")
        assert volumes.path("conformance-count") == second, "b still holds it"
        assert (second / "shared").read_text() == "x"
        volumes.unmount("conformance-count", "b")
        assert volumes.path("conformance-count") is None

    def test_unmount_of_a_use_not_held_is_ignored(self, volumes: VolumeDriver) -> None:
        self.make(volumes, "conformance-unheld")
        volumes.unmount("conformance-unheld", "nobody")
        path = volumes.mount("conformance-unheld", "a")
        volumes.unmount("conformance-unheld", "nobody")
        assert volumes.path("conformance-unheld") == path
        volumes.unmount("conformance-unheld", "a")

    def test_data_survives_unmount_and_a_new_driver(
        self, volumes: VolumeDriver, driver_factory: DriverFactory
    ) -> None:
        self.make(volumes, "conformance-keep")
        path = volumes.mount("conformance-keep", "m1")
        (path / "data").write_text("persisted")
        volumes.unmount("conformance-keep", "m1")
        restarted = driver_factory()
        assert "conformance-keep" in {v.name for v in restarted.list()}
        path = restarted.mount("conformance-keep", "m2")
        try:
            assert (path / "data").read_text() == "persisted"
        finally:
            restarted.unmount("conformance-keep", "m2")

    def test_remove_deletes_the_volume(self, volumes: VolumeDriver) -> None:
        info = self.make(volumes, "conformance-gone")
        path = volumes.mount("conformance-gone", "m1")
        (path / "data").write_text("x")
        volumes.unmount("conformance-gone", "m1")
        volumes.remove("conformance-gone")
        assert "conformance-gone" not in {v.name for v in volumes.list()}
        with pytest.raises(KeyError):
            volumes.get("conformance-gone")
        self.make(volumes, "conformance-gone")
        path = volumes.mount("conformance-gone", "m1")
        try:
            assert not (path / "data").exists(), f"a new volume is empty ({info.mountpoint})"
        finally:
            volumes.unmount("conformance-gone", "m1")

    def test_remove_while_mounted_is_refused(self, volumes: VolumeDriver) -> None:
        self.make(volumes, "conformance-busy")
        volumes.mount("conformance-busy", "m1")
        try:
            with pytest.raises(RuntimeError):
                volumes.remove("conformance-busy")
            assert volumes.get("conformance-busy").name == "conformance-busy"
        finally:
            volumes.unmount("conformance-busy", "m1")

    def test_unknown_volumes_raise_key_error(self, volumes: VolumeDriver) -> None:
        for call in (
            lambda: volumes.get("conformance-missing"),
            lambda: volumes.remove("conformance-missing"),
            lambda: volumes.mount("conformance-missing", "m1"),
            lambda: volumes.path("conformance-missing"),
        ):
            with pytest.raises(KeyError):
                call()

    def test_unknown_options_are_refused(self, volumes: VolumeDriver) -> None:
        with pytest.raises(ValueError) as caught:
            volumes.create("conformance-bad-opts", dict(self.bad_options))
        assert str(caught.value).strip() and "\n" not in str(caught.value)
        assert "conformance-bad-opts" not in {v.name for v in volumes.list()}
