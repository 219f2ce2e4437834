"""tree_changes, overlay_changes and changes_size."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from berth.plugins import Change, ChangeKind
from berth.plugins.layers import (
    LayerError,
    WhiteoutFormat,
    apply_layer,
    changes_size,
    overlay_changes,
    tree_changes,
)
from berth.plugins.layers.changes import tree_changes as tree_changes_again

from .kit import MTIME, TarBuilder, copy_tree, needs_root

A, C, D = ChangeKind.ADD, ChangeKind.MODIFY, ChangeKind.DELETE
T = MTIME * 10**9


def as_pairs(changes: list[Change]) -> list[tuple[str, str]]:
    return [(c.path, "ACD"[[A, C, D].index(c.kind)]) for c in changes]


def base_tree(root: Path) -> Path:
    root.mkdir()
    tar = TarBuilder().dir("etc").file("etc/passwd", b"root:x:0:0").file("etc/group", b"g")
    tar.dir("etc/apt").file("etc/apt/sources", b"deb").dir("etc/apt/d").file("etc/apt/d/f", b"")
    tar.symlink("etc/link", "passwd").file("bin", b"busybox", mode=0o755)
    tar.hardlink("sh", "bin").dir("var").dir("var/log").file("var/log/x", b"x")
    apply_layer(tar.stream(), root)
    return root


@pytest.fixture
def trees(tmp_path: Path) -> tuple[Path, Path]:
    parent = base_tree(tmp_path / "parent")
    layer = tmp_path / "layer"
    layer.mkdir()
    copy_tree(parent, layer)
    return layer, parent


def keep_dir_time(path: Path) -> None:
    os.utime(path, ns=(T, T), follow_symlinks=False)


def test_no_parent_means_everything_added(trees: tuple[Path, Path]) -> None:
    layer, _ = trees
    found = as_pairs(tree_changes(layer, None))
    assert found == sorted(found)
    assert ("/etc", "A") in found and ("/etc/apt/d/f", "A") in found
    assert len(found) == 13


def test_identical_trees_have_no_changes(trees: tuple[Path, Path]) -> None:
    layer, parent = trees
    assert tree_changes(layer, parent) == []
    assert tree_changes_again is tree_changes


def test_each_kind_of_change(trees: tuple[Path, Path]) -> None:
    layer, parent = trees
    (layer / "etc/new").write_bytes(b"new")  # add (and etc's mtime changes: modified)
    (layer / "etc/group").write_bytes(b"gg")  # size
    os.utime(layer / "etc/passwd", ns=(T, T + 1))  # mtime, by one nanosecond
    os.chmod(layer / "var/log/x", 0o600)  # mode
    os.unlink(layer / "etc/link")  # a new symlink target of the same length, same times
    os.symlink("group_", layer / "etc/link")
    os.utime(layer / "etc/link", ns=(T, T), follow_symlinks=False)
    keep_dir_time(layer / "etc")  # so etc itself is unchanged
    found = as_pairs(tree_changes(layer, parent))
    assert found == [
        ("/etc/group", "C"),
        ("/etc/link", "C"),
        ("/etc/new", "A"),
        ("/etc/passwd", "C"),
        ("/var/log/x", "C"),
    ]


@needs_root
def test_owner_and_xattr_changes(trees: tuple[Path, Path]) -> None:
    layer, parent = trees
    os.chown(layer / "etc/group", 1000, 0)
    os.setxattr(layer / "etc/passwd", "user.added", b"1")
    os.setxattr(layer / "var", "trusted.note", b"1")  # a directory's own metadata
    found = as_pairs(tree_changes(layer, parent))
    assert found == [("/etc/group", "C"), ("/etc/passwd", "C"), ("/var", "C")]
    os.setxattr(parent / "etc/passwd", "user.added", b"2")  # same name, other value
    assert ("/etc/passwd", "C") in as_pairs(tree_changes(layer, parent))


def test_adding_a_file_modifies_its_directory(trees: tuple[Path, Path]) -> None:
    layer, parent = trees
    (layer / "etc/new").write_bytes(b"new")
    assert as_pairs(tree_changes(layer, parent)) == [("/etc", "C"), ("/etc/new", "A")]


def test_a_directory_is_modified_only_by_its_own_metadata(trees: tuple[Path, Path]) -> None:
    layer, parent = trees
    (layer / "etc/apt/sources").write_bytes(b"changed in place")
    os.utime(layer / "etc/apt/sources", ns=(T, T + 5))
    assert as_pairs(tree_changes(layer, parent)) == [("/etc/apt/sources", "C")]
    os.chmod(layer / "etc/apt", 0o700)
    assert ("/etc/apt", "C") in as_pairs(tree_changes(layer, parent))


def test_deleted_subtree_is_reported_once(trees: tuple[Path, Path]) -> None:
    layer, parent = trees
    import shutil

    shutil.rmtree(layer / "etc/apt")
    os.unlink(layer / "sh")
    keep_dir_time(layer / "etc")
    keep_dir_time(layer)
    assert as_pairs(tree_changes(layer, parent)) == [("/etc/apt", "D"), ("/sh", "D")]


def test_type_changes(trees: tuple[Path, Path]) -> None:
    layer, parent = trees
    import shutil

    shutil.rmtree(layer / "var/log")
    (layer / "var/log").write_bytes(b"now a file")  # dir -> file
    os.unlink(layer / "bin")
    (layer / "bin").mkdir()  # file -> dir, with content
    (layer / "bin/busybox").write_bytes(b"bb")
    for path in (layer, layer / "var"):
        keep_dir_time(path)
    assert as_pairs(tree_changes(layer, parent)) == [
        ("/bin", "C"),
        ("/bin/busybox", "A"),
        ("/var/log", "C"),
    ]


def test_added_directory_brings_all_it_holds(trees: tuple[Path, Path]) -> None:
    layer, parent = trees
    (layer / "opt/a/b").mkdir(parents=True)
    (layer / "opt/a/b/c").write_bytes(b"c")
    keep_dir_time(layer)
    assert as_pairs(tree_changes(layer, parent)) == [
        ("/opt", "A"),
        ("/opt/a", "A"),
        ("/opt/a/b", "A"),
        ("/opt/a/b/c", "A"),
    ]


def test_symlinked_directories_are_not_followed(trees: tuple[Path, Path], tmp_path: Path) -> None:
    layer, parent = trees
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"s")
    os.symlink(outside, layer / "escape")
    keep_dir_time(layer)
    assert as_pairs(tree_changes(layer, parent)) == [("/escape", "A")]


def test_missing_tree_is_a_layer_error(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match="cannot read the layer at"):
        tree_changes(tmp_path / "nope", None)


@needs_root
def test_device_number_change(tmp_path: Path) -> None:
    parent, layer = tmp_path / "p", tmp_path / "l"
    parent.mkdir()
    layer.mkdir()
    os.mknod(parent / "dev", stat.S_IFCHR | 0o600, os.makedev(1, 3))
    os.mknod(layer / "dev", stat.S_IFCHR | 0o600, os.makedev(1, 5))
    for root in (parent, layer):
        os.utime(root / "dev", ns=(T, T))
    assert as_pairs(tree_changes(layer, parent)) == [("/dev", "C")]


def test_changes_size_counts_hard_links_once(trees: tuple[Path, Path]) -> None:
    layer, parent = trees
    (layer / "big").write_bytes(b"x" * 10_000)
    os.link(layer / "big", layer / "big2")
    (layer / "etc/group").write_bytes(b"1234")
    os.symlink("target-of-9", layer / "sym")
    (layer / "newdir").mkdir()
    changes = tree_changes(layer, parent)
    assert changes_size(layer, changes) == 10_000 + 4 + len("target-of-9")
    assert changes_size(layer, [Change("/vanished", A), Change("/etc/passwd", D)]) == 0


# -- overlay upper directories -------------------------------------------------------------------


def overlay_layer(tmp_path: Path) -> tuple[Path, Path]:
    lower = base_tree(tmp_path / "lower")
    upper = tmp_path / "upper"
    upper.mkdir()
    tar = TarBuilder().dir("etc").file("etc/passwd", b"changed").whiteout("etc/group")
    tar.dir("etc/apt").opaque("etc/apt").file("etc/apt/only", b"o")
    tar.file("etc/fresh", b"f").dir("opt").file("opt/x", b"x").whiteout("var")
    apply_layer(tar.stream(), upper, whiteouts=WhiteoutFormat.OVERLAY)
    return upper, lower


@needs_root
def test_overlay_changes_with_lowers(tmp_path: Path) -> None:
    upper, lower = overlay_layer(tmp_path)
    assert as_pairs(overlay_changes(upper, [lower])) == [
        ("/etc", "C"),
        ("/etc/apt", "C"),
        ("/etc/apt/only", "A"),
        ("/etc/fresh", "A"),
        ("/etc/group", "D"),
        ("/etc/passwd", "C"),
        ("/opt", "A"),
        ("/opt/x", "A"),
        ("/var", "D"),
    ]


@needs_root
def test_overlay_changes_without_lowers_are_additions(tmp_path: Path) -> None:
    upper, _ = overlay_layer(tmp_path)
    found = as_pairs(overlay_changes(upper))
    assert ("/etc/passwd", "A") in found and ("/etc/group", "D") in found


@needs_root
def test_overlay_lowers_whiteouts_and_opaque_dirs_hide_what_is_below(tmp_path: Path) -> None:
    bottom = base_tree(tmp_path / "bottom")
    middle = tmp_path / "middle"
    middle.mkdir()
    tar = TarBuilder().dir("etc").whiteout("etc/passwd").dir("var").opaque("var")
    apply_layer(tar.stream(), middle, whiteouts=WhiteoutFormat.OVERLAY)
    upper = tmp_path / "upper"
    upper.mkdir()
    tar = TarBuilder().dir("etc").file("etc/passwd", b"again").file("etc/group", b"g2")
    tar.dir("var").dir("var/log").file("var/log/x", b"x2")
    apply_layer(tar.stream(), upper, whiteouts=WhiteoutFormat.OVERLAY)
    assert as_pairs(overlay_changes(upper, [middle, bottom])) == [
        ("/etc", "C"),
        ("/etc/group", "C"),  # the bottom layer has it
        ("/etc/passwd", "A"),  # deleted in the middle layer: new again
        ("/var", "C"),
        ("/var/log", "A"),  # the middle layer's var is opaque: bottom's var/log is hidden
        ("/var/log/x", "A"),
    ]


@needs_root
def test_changes_size_of_an_upper_dir_skips_whiteouts(tmp_path: Path) -> None:
    upper, lower = overlay_layer(tmp_path)
    size = changes_size(upper, overlay_changes(upper, [lower]))
    assert size == len(b"changed") + len(b"o") + len(b"f") + len(b"x")
