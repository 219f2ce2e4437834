"""What only the overlay driver does with diffs: overlayfs whiteouts in upper directories, the
native diff read from them, and the tree comparison when the parent asked for is not the real
one (root only: every test mounts)."""

from __future__ import annotations

import contextlib
import io
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from berth.plugins import ChangeKind
from berth.testing.layertar import Node, layer_tar, read_tar

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting overlayfs needs root"),
]

Make = Callable[..., Any]


def make_layer(driver: Any, layer: str, parent: str | None, nodes: list[Node]) -> None:
    driver.create(layer, parent)
    driver.apply_diff(layer, parent, io.BytesIO(layer_tar(nodes)))


def diff_members(driver: Any, layer: str, parent: str | None) -> dict[str, Any]:
    with contextlib.closing(driver.diff(layer, parent)) as stream:
        return read_tar(stream.read())


def changes_of(driver: Any, layer: str, parent: str | None) -> dict[str, ChangeKind]:
    return {change.path: change.kind for change in driver.changes(layer, parent)}


@pytest.fixture
def driver(make_driver: Make) -> Any:
    return make_driver()


def test_apply_diff_writes_overlayfs_whiteouts_into_the_upper_dir(driver: Any) -> None:
    make_layer(
        driver,
        "base",
        None,
        [Node.file("gone", b"g"), Node.dir("dir"), Node.file("dir/old", b"o")],
    )
    make_layer(
        driver,
        "child",
        "base",
        [Node.whiteout("gone"), Node.dir("dir"), Node.opaque("dir"), Node.file("dir/new", b"n")],
    )
    upper = driver.home / "child" / "diff"
    whiteout = os.lstat(upper / "gone")
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == 0
    assert os.getxattr(upper / "dir", "trusted.overlay.opaque") == b"y"
    assert not [p for p in upper.rglob("*") if p.name.startswith(".wh.")]
    root = driver.mount("child")
    try:
        assert sorted(os.listdir(root)) == ["dir"]
        assert sorted(os.listdir(root / "dir")) == ["new"]
    finally:
        driver.unmount("child")


def test_diff_turns_them_back_into_oci_whiteouts_without_overlay_xattrs(driver: Any) -> None:
    make_layer(driver, "base", None, [Node.file("gone", b"g"), Node.dir("dir")])
    driver.create_rw("rw", "base")
    root = driver.mount("rw")
    try:
        (root / "gone").unlink()
        (root / "dir").rmdir()
        (root / "dir").mkdir()  # replaced: overlayfs marks it opaque
        (root / "dir" / "f").write_bytes(b"f")
    finally:
        driver.unmount("rw")
    members = diff_members(driver, "rw", "base")
    assert ".wh.gone" in members
    assert "dir/.wh..wh..opq" in members and "dir/f" in members
    for name, member in members.items():
        assert not member.info.ischr(), f"{name}: an overlayfs whiteout leaked into the diff"
        leaked = [key for key in member.xattrs if key.startswith("trusted.overlay.")]
        assert not leaked, f"{name} carries overlayfs' own xattrs {leaked}"


def test_changes_tell_new_from_rewritten_by_the_whole_lower_stack(driver: Any) -> None:
    make_layer(
        driver,
        "base",
        None,
        [
            Node.dir("etc"),
            Node.file("etc/passwd", b"root"),
            Node.dir("real"),
            Node.symlink("link", "real"),
            Node.file("gone", b"x"),
            Node.file("deleted-below", b"x"),
        ],
    )
    make_layer(
        driver, "middle", "base", [Node.file("middle-file", b"m"), Node.whiteout("deleted-below")]
    )
    driver.create_rw("rw", "middle")
    root = driver.mount("rw")
    try:
        (root / "etc" / "passwd").write_bytes(b"root\nuser")
        (root / "etc" / "group").write_bytes(b"g")
        (root / "middle-file").write_bytes(b"changed")
        (root / "deleted-below").write_bytes(b"back")
        (root / "gone").unlink()
        (root / "link").unlink()
        (root / "link").mkdir()  # a directory where the parent has a symlink
        (root / "link" / "inside").write_bytes(b"i")
    finally:
        driver.unmount("rw")
    found = changes_of(driver, "rw", "middle")
    assert found["/etc/passwd"] == ChangeKind.MODIFY, "a file of the grandparent"
    assert found["/etc/group"] == ChangeKind.ADD
    assert found["/middle-file"] == ChangeKind.MODIFY, "a file of the parent"
    assert found["/deleted-below"] == ChangeKind.ADD, "the parent deleted it: it is new again"
    assert found["/gone"] == ChangeKind.DELETE
    assert found["/link/inside"] == ChangeKind.ADD, "not looked up through the parent's symlink"
    assert "/real" not in found
    assert all(driver.mount_count(layer) == 0 for layer in ("base", "middle", "rw"))


def test_diff_against_a_layer_that_is_not_the_parent_compares_trees(driver: Any) -> None:
    make_layer(driver, "one", None, [Node.file("a", b"1"), Node.file("b", b"1")])
    make_layer(driver, "two", "one", [Node.file("a", b"2", mtime=1_700_000_000)])
    make_layer(driver, "three", "two", [Node.whiteout("b"), Node.file("c", b"3")])
    found = changes_of(driver, "three", "one")  # skipping "two"
    assert found == {"/a": ChangeKind.MODIFY, "/b": ChangeKind.DELETE, "/c": ChangeKind.ADD}
    members = diff_members(driver, "three", "one")
    assert {"a", ".wh.b", "c"} <= set(members)
    assert members["a"].data == b"2"
    assert driver.diff_size("three", "one") == 2
    assert all(driver.mount_count(layer) == 0 for layer in ("one", "two", "three"))


def test_the_fallback_diff_unmounts_when_closed(driver: Any) -> None:
    make_layer(driver, "one", None, [Node.file("a", b"1")])
    make_layer(driver, "two", "one", [Node.file("b", b"2")])
    make_layer(driver, "three", "two", [Node.file("c", b"3")])
    stream = driver.diff("three", "one")
    assert driver.mount_count("three") == 1, "mounted while the stream is read"
    stream.read()
    stream.close()
    assert driver.mount_count("three") == 0 and driver.mount_count("one") == 0


def test_apply_diff_against_another_parent_applies_through_the_mount(driver: Any) -> None:
    make_layer(driver, "one", None, [Node.file("a", b"1"), Node.file("b", b"1")])
    driver.create("two", "one")
    driver.create("three", "two")
    driver.apply_diff("three", "one", io.BytesIO(layer_tar([Node.whiteout("a")])))
    root = driver.mount("three")
    try:
        assert sorted(os.listdir(root)) == ["b"]
    finally:
        driver.unmount("three")
    assert driver.mount_count("three") == 0


def test_a_bad_tar_writes_nothing_outside_the_layer(driver: Any, tmp_path: Path) -> None:
    make_layer(driver, "base", None, [Node.file("f", b"f")])
    driver.create("child", "base")
    with pytest.raises(ValueError):
        driver.apply_diff(
            "child", "base", io.BytesIO(layer_tar([Node.file("../../../../../escaped", b"x")]))
        )
    assert not list(tmp_path.rglob("escaped"))
    driver.remove("child")
    assert sorted(os.listdir(driver.home)) == ["base", "l"]


def test_diff_size_is_the_size_of_the_upper_files(driver: Any) -> None:
    make_layer(driver, "base", None, [Node.file("big", b"b" * 100_000)])
    driver.create_rw("rw", "base")
    root = driver.mount("rw")
    try:
        (root / "big").unlink()
        (root / "small").write_bytes(b"s" * 123)
    finally:
        driver.unmount("rw")
    assert driver.diff_size("rw", "base") == 123
    assert driver.diff_size("base", None) == 100_000
