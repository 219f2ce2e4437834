"""What the btrfs driver does beyond the conformance suite: real subvolumes and snapshots,
nested subvolumes, leftovers of a crash, refusing a data root that is not on btrfs."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from berth.testing.conformance.storage import layer_id
from berth.testing.context import make_plugin_context
from berth_storage_btrfs import ioctls
from berth_storage_btrfs.driver import BtrfsDriver
from berth_storage_btrfs.layout import ROOT
from berth_storage_btrfs.plugin import create_driver

MIB = 1024 * 1024


@pytest.fixture
def driver(btrfs_dir: Path) -> BtrfsDriver:
    return BtrfsDriver(btrfs_dir / "storage" / "btrfs")


def layer_root(driver: BtrfsDriver, layer: str) -> Path:
    return driver.layers / layer / ROOT


def used_bytes(path: Path) -> int:
    os.sync()
    st = os.statvfs(path)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def test_layers_are_subvolumes_and_children_snapshots(driver: BtrfsDriver) -> None:
    base, child = layer_id("base"), layer_id("child")
    driver.create(base, None)
    driver.create(child, base)
    assert ioctls.is_subvolume(layer_root(driver, base))
    assert ioctls.is_subvolume(layer_root(driver, child))
    assert os.stat(layer_root(driver, base)).st_mode & 0o7777 == 0o755
    assert driver.parent(child) == base and driver.parent(base) is None


def test_snapshots_share_their_parent_s_data(driver: BtrfsDriver, btrfs_dir: Path) -> None:
    # 5 copies of 60 MiB would not fit in the 256 MiB file system; snapshots cost nothing.
    base = layer_id("big")
    driver.create_rw(base, None)
    with open(driver.mount(base) / "blob", "wb") as blob:
        for _ in range(60):
            blob.write(os.urandom(MIB))
    driver.unmount(base)
    before = used_bytes(btrfs_dir)
    for n in range(5):
        driver.create(layer_id(f"snap-{n}"), base)
    assert used_bytes(btrfs_dir) - before < 20 * MIB
    assert (driver.mount(layer_id("snap-4")) / "blob").stat().st_size == 60 * MIB
    driver.unmount(layer_id("snap-4"))
    for n in range(5):
        driver.remove(layer_id(f"snap-{n}"))
    driver.remove(base)


def test_removing_a_layer_holding_a_subvolume(driver: BtrfsDriver) -> None:
    rw = layer_id("container")
    driver.create_rw(rw, None)
    root = driver.mount(rw)
    (root / "data").mkdir()
    ioctls.create_subvolume(root / "data", "inner")  # what a container may do
    ioctls.create_subvolume(root / "data" / "inner", "deeper")
    (root / "data" / "inner" / "deeper" / "f").write_bytes(b"x")
    driver.unmount(rw)
    driver.remove(rw)
    assert not driver.exists(rw)
    assert sorted(os.listdir(driver.layers)) == []


def test_crash_leftovers_are_swept_at_start(driver: BtrfsDriver) -> None:
    for name in (".tmp-0123", ".trash-4567"):
        (driver.layers / name).mkdir()
        ioctls.create_subvolume(driver.layers / name, ROOT)
        (driver.layers / name / ROOT / "f").write_bytes(b"x")
    driver.create(layer_id("kept"), None)
    restarted = BtrfsDriver(driver.home)
    assert sorted(os.listdir(restarted.layers)) == [layer_id("kept")]


def test_status_names_btrfs_and_counts_layers(driver: BtrfsDriver) -> None:
    driver.create(layer_id("a"), None)
    driver.create(layer_id("b"), layer_id("a"))
    assert list(driver.status()) == [("Backing Filesystem", "btrfs"), ("Layers", "2")]


def test_a_home_not_on_btrfs_is_refused(tmp_path: Path) -> None:
    with pytest.raises(OSError, match=r"is not on btrfs \(it is on \w+\)"):
        BtrfsDriver(tmp_path / "storage" / "btrfs")


def test_the_factory_refuses_options(tmp_path: Path) -> None:
    ctx = make_plugin_context(tmp_path, "storage", "btrfs", {"btrfs.min_space": "1G"})
    with pytest.raises(ValueError, match=r"unknown storage option\(s\) for btrfs: btrfs.min_space"):
        create_driver(ctx)


def test_layer_options_are_refused(driver: BtrfsDriver) -> None:
    with pytest.raises(ValueError, match="takes no layer options"):
        driver.create(layer_id("a"), None, {"size": "10G"})
    assert not driver.exists(layer_id("a"))


def test_a_failed_snapshot_leaves_nothing(driver: BtrfsDriver) -> None:
    base = layer_id("base")
    driver.create(base, None)
    ioctls.delete_subvolume(layer_root(driver, base))  # damaged: its subvolume is gone
    with pytest.raises(FileNotFoundError, match=base):
        driver.create(layer_id("child"), base)
    assert sorted(os.listdir(driver.layers)) == [base]


def test_ioctls_refuse_bad_names(btrfs_dir: Path) -> None:
    for bad in ("", ".", "..", "a/b", "x" * 5000):
        with pytest.raises(ValueError, match="invalid subvolume name"):
            ioctls.create_subvolume(btrfs_dir, bad)


def test_ioctl_errors_name_the_path(btrfs_dir: Path) -> None:
    (btrfs_dir / "plain").mkdir()
    with pytest.raises(OSError, match="snapshotting a subvolume failed") as raised:
        ioctls.snapshot(btrfs_dir / "plain", btrfs_dir, "snap")
    assert raised.value.filename == str(btrfs_dir / "plain")
    with pytest.raises(OSError, match="deleting a btrfs subvolume failed"):
        ioctls.destroy_subvolume(btrfs_dir, "plain")


def test_a_read_only_snapshot_is_read_only(btrfs_dir: Path) -> None:
    ioctls.create_subvolume(btrfs_dir, "source")
    ioctls.snapshot(btrfs_dir / "source", btrfs_dir, "frozen", readonly=True)
    with pytest.raises(OSError):
        (btrfs_dir / "frozen" / "f").write_bytes(b"x")
    ioctls.delete_subvolume(btrfs_dir / "frozen")
    ioctls.delete_subvolume(btrfs_dir / "source")
    assert os.listdir(btrfs_dir) == []


def test_without_the_ioctl_a_subvolume_is_emptied_and_removed(
    btrfs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without ``user_subvol_rm_allowed`` the ioctl is root's (EPERM for a user); the driver
    then empties the subvolume and removes it with rmdir(2), which Linux allows its owner."""
    ioctls.create_subvolume(btrfs_dir, "mine")
    (btrfs_dir / "mine" / "dir").mkdir()
    (btrfs_dir / "mine" / "dir" / "f").write_bytes(b"x")
    (btrfs_dir / "mine" / "link").symlink_to("dir")
    ioctls.create_subvolume(btrfs_dir / "mine" / "dir", "nested")
    (btrfs_dir / "mine" / "dir" / "nested" / "g").write_bytes(b"y")
    real = ioctls.destroy_subvolume

    def refused(parent: Path, name: str) -> None:
        raise OSError(errno.EPERM, "deleting a btrfs subvolume failed: Operation not permitted")

    monkeypatch.setattr(ioctls, "destroy_subvolume", refused)
    ioctls.delete_subvolume(btrfs_dir / "mine")
    monkeypatch.setattr(ioctls, "destroy_subvolume", real)
    assert os.listdir(btrfs_dir) == []


def test_other_ioctl_errors_are_not_hidden(
    btrfs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ioctls.create_subvolume(btrfs_dir, "busy")

    def busy(parent: Path, name: str) -> None:
        raise OSError(errno.EBUSY, "deleting a btrfs subvolume failed: Device or resource busy")

    monkeypatch.setattr(ioctls, "destroy_subvolume", busy)
    with pytest.raises(OSError, match="busy"):
        ioctls.delete_subvolume(btrfs_dir / "busy")
    assert (btrfs_dir / "busy").is_dir()
