"""The local driver's own behaviour: names, options, and volumes that are mounts (tmpfs, a
bind of a host directory, an image file through a loop device)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from berth.testing.mounts import filesystem_of, mounts_under
from berth_volume_local.driver import LocalVolumeDriver

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")


@pytest.fixture
def driver(tmp_path: Path) -> Iterator[LocalVolumeDriver]:
    made = LocalVolumeDriver(tmp_path / "volumes")
    yield made
    for info in made.list():
        made._users.pop(info.name, None)  # whatever a failed test held
        made.remove(info.name)
    assert not mounts_under(tmp_path), "a mount was left behind"


def _loop_devices_of(image: Path) -> list[str]:
    done = subprocess.run(
        ["losetup", "-j", str(image)], capture_output=True, text=True, check=False
    )
    return [line for line in done.stdout.splitlines() if line.strip()]


@pytest.mark.parametrize("name", ["a", "-x", "has space", "a/b", "../up", ".hidden"])
def test_bad_names_are_refused(driver: LocalVolumeDriver, name: str) -> None:
    with pytest.raises(ValueError, match="invalid characters for a local volume name"):
        driver.create(name, {})


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ({"foo": "1"}, 'invalid option: "foo"'),
        ({"type": "tmpfs"}, 'missing required option: "device"'),
        ({"device": "tmpfs"}, 'missing required option: "type"'),
        ({"o": "size=1m"}, 'missing required option: "device"'),
        ({"size": "10m"}, "quota size requested but no quota support"),
        ({"type": "none", "o": "bind", "device": "relative"}, "absolute host path"),
    ],
)
def test_bad_options_are_refused(
    driver: LocalVolumeDriver, opts: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        driver.create("v1", opts)
    assert driver.list() == []


def test_metadata_records_options_and_time(driver: LocalVolumeDriver) -> None:
    info = driver.create("meta", {})
    assert info.mountpoint.endswith("/meta/_data")
    assert info.created_at.endswith("Z")


@needs_root
def test_tmpfs_volume_is_mounted_while_used(driver: LocalVolumeDriver) -> None:
    driver.create("scratch", {"type": "tmpfs", "device": "tmpfs", "o": "size=4m,mode=0700"})
    path = driver.mount("scratch", "c1")
    assert filesystem_of(path) == "tmpfs"
    assert oct(path.stat().st_mode & 0o777) == "0o700"
    (path / "f").write_text("in memory")
    driver.mount("scratch", "c2")
    driver.unmount("scratch", "c1")
    assert (path / "f").read_text() == "in memory", "c2 still holds the tmpfs"
    driver.unmount("scratch", "c2")
    assert filesystem_of(path) != "tmpfs"
    assert not (path / "f").exists(), "a tmpfs volume's content goes with its mount"


@needs_root
def test_bind_volume_shows_the_host_directory_and_removal_keeps_it(
    driver: LocalVolumeDriver, tmp_path: Path
) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "existing").write_text("host data")
    driver.create("hostdir", {"type": "none", "o": "bind", "device": str(host)})
    path = driver.mount("hostdir", "c1")
    assert (path / "existing").read_text() == "host data"
    (path / "new").write_text("written through the volume")
    driver.unmount("hostdir", "c1")
    assert (host / "new").read_text() == "written through the volume"
    driver.remove("hostdir")
    assert (host / "existing").exists(), "removing a bind volume never deletes the host's files"


@needs_root
def test_read_only_bind_volume(driver: LocalVolumeDriver, tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    driver.create("robind", {"type": "none", "o": "bind,ro", "device": str(host)})
    path = driver.mount("robind", "c1")
    try:
        with pytest.raises(OSError):
            (path / "nope").write_text("x")
    finally:
        driver.unmount("robind", "c1")


@needs_root
def test_missing_bind_source_fails_at_mount_and_leaves_no_use(
    driver: LocalVolumeDriver, tmp_path: Path
) -> None:
    driver.create("ghost", {"type": "none", "o": "bind", "device": str(tmp_path / "absent")})
    with pytest.raises(OSError, match="error while mounting volume"):
        driver.mount("ghost", "c1")
    assert driver.path("ghost") is None


@needs_root
@pytest.mark.skipif(shutil.which("mkfs.ext4") is None, reason="needs mkfs.ext4")
@pytest.mark.skipif(not os.path.exists("/dev/loop-control"), reason="needs loop devices")
def test_image_file_is_mounted_through_a_loop_device(
    driver: LocalVolumeDriver, tmp_path: Path
) -> None:
    image = tmp_path / "disk.img"
    with open(image, "wb") as handle:
        handle.truncate(16 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True)
    driver.create("disk", {"type": "ext4", "device": str(image)})
    path = driver.mount("disk", "c1")
    try:
        assert filesystem_of(path) == "ext4"
        assert (path / "lost+found").is_dir()
        (path / "f").write_text("on the device")
    finally:
        driver.unmount("disk", "c1")
    assert not _loop_devices_of(image), "the loop device goes with the mount"
    path = driver.mount("disk", "c1")
    try:
        assert (path / "f").read_text() == "on the device"
    finally:
        driver.unmount("disk", "c1")
    assert not _loop_devices_of(image)


def test_restart_adopts_leftover_directories(tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    LocalVolumeDriver(root).create("kept", {})
    (root / ".tmp-half-made").mkdir()
    again = LocalVolumeDriver(root)
    assert [v.name for v in again.list()] == ["kept"]
    assert not (root / ".tmp-half-made").exists()
    again.remove("kept")
