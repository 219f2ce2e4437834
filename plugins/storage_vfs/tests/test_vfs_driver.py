"""What the vfs driver does beyond the conformance suite: full copies, its layout on disk,
crash leftovers, options, status."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from berth.testing.conformance.storage import layer_id
from berth.testing.context import make_plugin_context
from berth_storage_vfs.driver import VfsDriver
from berth_storage_vfs.plugin import create_driver


@pytest.fixture
def driver(tmp_path: Path) -> VfsDriver:
    return VfsDriver(tmp_path / "storage" / "vfs")


def test_a_child_is_a_copy_not_a_link(driver: VfsDriver) -> None:
    base, child = layer_id("base"), layer_id("child")
    driver.create_rw(base, None)
    (driver.mount(base) / "f").write_bytes(b"base")
    driver.create(child, base)
    inode_base = os.stat(driver.mount(base) / "f").st_ino
    inode_child = os.stat(driver.mount(child) / "f").st_ino
    assert inode_base != inode_child
    (driver.mount(child) / "f").write_bytes(b"changed")
    assert (driver.mount(base) / "f").read_bytes() == b"base"


def test_layout_on_disk(driver: VfsDriver) -> None:
    base, rw = layer_id("base"), layer_id("rw")
    driver.create(base, None)
    driver.create_rw(rw, base)
    layer_dir = driver.home / "layers" / rw
    assert driver.mount(rw) == layer_dir / "root"
    assert json.loads((layer_dir / "layer.json").read_text()) == {"parent": base, "writable": True}
    assert driver.parent(rw) == base and driver.parent(base) is None


def test_crash_leftovers_are_swept_at_start(driver: VfsDriver) -> None:
    driver.create(layer_id("kept"), None)
    for name in (".tmp-0123", ".trash-4567"):
        (driver.layers / name / "root" / "deep").mkdir(parents=True)
        (driver.layers / name / "root" / "deep" / "f").write_bytes(b"x")
        os.chmod(driver.layers / name / "root" / "deep", 0o555)  # as images have them
    restarted = VfsDriver(driver.home)
    assert sorted(os.listdir(restarted.layers)) == [layer_id("kept")]


def test_a_failed_copy_leaves_nothing(driver: VfsDriver, monkeypatch: pytest.MonkeyPatch) -> None:
    base = layer_id("base")
    driver.create_rw(base, None)
    (driver.mount(base) / "f").write_bytes(b"x")

    def broken(source: str, destination: str) -> None:
        os.mkdir(destination)
        raise OSError(28, "No space left on device", f"{source}/f")

    monkeypatch.setattr("berth_storage_vfs.driver.copy_tree", broken)
    with pytest.raises(OSError, match=r"cannot create layer \w+: copying parent layer") as raised:
        driver.create(layer_id("child"), base)
    assert "No space left on device" in str(raised.value)
    assert "\n" not in str(raised.value)
    assert sorted(os.listdir(driver.layers)) == [base]


def test_status(driver: VfsDriver) -> None:
    driver.create(layer_id("a"), None)
    status = dict(driver.status())
    assert status["Layers"] == "1"
    assert status["Backing Filesystem"] not in ("", "unknown")


def test_the_factory_refuses_options(tmp_path: Path) -> None:
    ctx = make_plugin_context(tmp_path, "storage", "vfs", {"vfs.size": "10G"})
    with pytest.raises(ValueError, match=r"unknown storage option\(s\) for vfs: vfs.size"):
        create_driver(ctx)


def test_the_factory_builds_in_the_data_dir(tmp_path: Path) -> None:
    ctx = make_plugin_context(tmp_path, "storage", "vfs")
    driver = create_driver(ctx)
    assert isinstance(driver, VfsDriver)
    assert driver.home == Path(os.path.realpath(ctx.data_dir))


def test_layer_options_are_refused(driver: VfsDriver) -> None:
    with pytest.raises(ValueError, match="takes no layer options"):
        driver.create(layer_id("a"), None, {"size": "10G"})
    assert not driver.exists(layer_id("a"))


def test_unmounting_more_than_mounted_is_harmless(driver: VfsDriver) -> None:
    driver.create(layer_id("a"), None)
    driver.unmount(layer_id("a"))
    driver.mount(layer_id("a"))
    driver.unmount(layer_id("a"))
    driver.unmount(layer_id("a"))
    assert driver.mount_count(layer_id("a")) == 0
