"""NaiveDiffMixin gives a driver that only knows full trees its diff methods."""

from __future__ import annotations

import io
import os
import shutil
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from berth.plugins import ChangeKind, StorageDriver
from berth.plugins.layers import LayerError, NaiveDiffMixin, apply_layer

from .kit import TarBuilder, assert_same_tree, copy_tree


class DirDriver(NaiveDiffMixin, StorageDriver):
    """A toy vfs: each layer a full copy of its parent; mounts counted."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.mounts: Counter[str] = Counter()

    def create(
        self, layer_id: str, parent: str | None, opts: Mapping[str, str] | None = None
    ) -> None:
        path = self.home / layer_id
        path.mkdir()
        if parent is not None:
            copy_tree(self.home / parent, path)

    create_rw = create

    def remove(self, layer_id: str) -> None:
        shutil.rmtree(self.home / layer_id, ignore_errors=True)

    def mount(self, layer_id: str, mount_label: str = "") -> Path:
        self.mounts[layer_id] += 1
        return self.home / layer_id

    def unmount(self, layer_id: str) -> None:
        assert self.mounts[layer_id] > 0, f"unmount of {layer_id} without a mount"
        self.mounts[layer_id] -= 1

    def exists(self, layer_id: str) -> bool:
        return (self.home / layer_id).is_dir()

    def status(self) -> Sequence[tuple[str, str]]:
        return []

    def cleanup(self) -> None:
        pass


@pytest.fixture
def driver(tmp_path: Path) -> DirDriver:
    return DirDriver(tmp_path)


def test_apply_diff_then_diff_back(driver: DirDriver, tmp_path: Path) -> None:
    base = TarBuilder().dir("etc").file("etc/passwd", b"root").file("etc/group", b"g").bytes()
    driver.create("base", None)
    assert driver.apply_diff("base", None, io.BytesIO(base)) == len(b"root") + len(b"g")
    driver.create("child", "base")
    child = TarBuilder().dir("etc").file("etc/passwd", b"root\nuser").whiteout("etc/group")
    child.file("new", b"n")
    driver.apply_diff("child", "base", child.stream())
    kinds = {c.path: c.kind for c in driver.changes("child", "base")}
    assert kinds == {  # /etc's entry restored its mtime: not modified
        "/etc/group": ChangeKind.DELETE,
        "/etc/passwd": ChangeKind.MODIFY,
        "/new": ChangeKind.ADD,
    }
    assert driver.diff_size("child", "base") == len(b"root\nuser") + 1
    with driver.diff("child", "base") as stream:
        assert driver.mounts["child"] == 1  # held while the stream is open
        exported = stream.read()
    driver.create("replay", "base")
    driver.apply_diff("replay", "base", io.BytesIO(exported))
    assert_same_tree(tmp_path / "child", tmp_path / "replay")
    # A base layer's diff is the whole layer.
    with driver.diff("base", None) as stream:
        whole = stream.read()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    apply_layer(io.BytesIO(whole), fresh)
    assert_same_tree(tmp_path / "base", fresh)
    assert +driver.mounts == Counter(), f"mounts left: {driver.mounts}"


def test_mounts_are_released_on_errors(driver: DirDriver) -> None:
    driver.create("l", None)
    with pytest.raises(LayerError):
        driver.apply_diff("l", None, io.BytesIO(b"garbage" * 100))
    os.rmdir(driver.home / "l")
    with pytest.raises(LayerError):
        driver.diff("l", None)
    with pytest.raises(LayerError):
        driver.changes("l", None)
    assert +driver.mounts == Counter()


def test_devices_can_be_refused(driver: DirDriver) -> None:
    import tarfile

    driver.allow_devices = False
    driver.create("l", None)
    tar = TarBuilder().device("sda", tarfile.BLKTYPE, 8, 0)
    with pytest.raises(LayerError, match="not allowed"):
        driver.apply_diff("l", None, tar.stream())


def test_the_mixin_must_come_first() -> None:
    class Wrong(StorageDriver, NaiveDiffMixin):  # type: ignore[misc]
        pass

    with pytest.raises(TypeError, match="abstract"):
        Wrong()  # type: ignore[abstract]

    class NoMount(NaiveDiffMixin):
        pass

    with pytest.raises(TypeError, match="mount"):
        NoMount()  # type: ignore[abstract]
