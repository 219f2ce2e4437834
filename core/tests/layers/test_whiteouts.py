"""Whiteouts: deletions applied in place (NAIVE) or recorded as overlayfs reads them (OVERLAY)."""

from __future__ import annotations

import os
import stat

from berth.plugins.layers import WhiteoutFormat, apply_layer

from .conftest import Sandbox
from .kit import TarBuilder, needs_root


def parent_layer() -> TarBuilder:
    tar = TarBuilder().dir("etc").file("etc/passwd", b"root").file("etc/group", b"g")
    tar.dir("etc/apt").file("etc/apt/sources", b"deb").dir("etc/apt/conf.d")
    tar.file("etc/apt/conf.d/x", b"x").symlink("etc/link", "passwd")
    return tar.dir("var").dir("var/empty")


def test_naive_whiteouts_delete_files_dirs_and_links(sandbox: Sandbox) -> None:
    apply_layer(parent_layer().stream(), sandbox.dest)
    tar = TarBuilder().whiteout("etc/passwd").whiteout("etc/apt").whiteout("etc/link")
    tar.whiteout("etc/never-existed").whiteout("nowhere/at/all")
    apply_layer(tar.stream(), sandbox.dest)
    assert sorted(os.listdir(sandbox.dest / "etc")) == ["group"]
    assert not (sandbox.dest / "nowhere").exists()  # a whiteout creates nothing


def test_naive_opaque_keeps_only_this_layers_content(sandbox: Sandbox) -> None:
    apply_layer(parent_layer().stream(), sandbox.dest)
    tar = TarBuilder().dir("etc").file("etc/-early", b"sorted before the marker")
    tar.dir("etc/apt").file("etc/apt/new", b"new")  # etc/apt is kept, its old content is not
    tar.opaque("etc")
    tar.file("etc/late", b"after the marker")
    tar.file("etc/sub/deep", b"parents made on the way")
    apply_layer(tar.stream(), sandbox.dest)
    found = sorted(
        os.path.relpath(os.path.join(top, name), sandbox.dest / "etc")
        for top, dirs, files in os.walk(sandbox.dest / "etc")
        for name in dirs + files
    )
    assert found == ["-early", "apt", "apt/new", "late", "sub", "sub/deep"]
    assert (sandbox.dest / "var/empty").is_dir()  # other directories untouched


def test_naive_opaque_keeps_implicit_parents_of_unpacked_entries(sandbox: Sandbox) -> None:
    apply_layer(parent_layer().stream(), sandbox.dest)
    tar = TarBuilder().file("etc/apt/conf.d/y", b"y").opaque("etc")
    apply_layer(tar.stream(), sandbox.dest)
    assert sorted(os.listdir(sandbox.dest / "etc")) == ["apt"]
    assert sorted(os.listdir(sandbox.dest / "etc/apt")) == ["conf.d"]
    assert sorted(os.listdir(sandbox.dest / "etc/apt/conf.d")) == ["y"]


def test_naive_opaque_of_the_root(sandbox: Sandbox) -> None:
    apply_layer(parent_layer().stream(), sandbox.dest)
    apply_layer(TarBuilder().file("only", b"1").opaque(".").stream(), sandbox.dest)
    assert os.listdir(sandbox.dest) == ["only"]


def test_whiteout_then_recreate_in_the_same_layer(sandbox: Sandbox) -> None:
    apply_layer(parent_layer().stream(), sandbox.dest)
    tar = TarBuilder().whiteout("etc/apt").dir("etc/apt").file("etc/apt/fresh", b"f")
    apply_layer(tar.stream(), sandbox.dest)
    assert os.listdir(sandbox.dest / "etc/apt") == ["fresh"]


def test_aufs_metadata_is_skipped(sandbox: Sandbox) -> None:
    tar = TarBuilder().dir(".wh..wh.plnk").file(".wh..wh.plnk/123.456", b"x")
    tar.file(".wh..wh.aufs", b"").file("kept", b"k")
    apply_layer(tar.stream(), sandbox.dest)
    assert os.listdir(sandbox.dest) == ["kept"]


@needs_root
def test_overlay_whiteouts_are_char_devices_and_opaque_is_an_xattr(sandbox: Sandbox) -> None:
    tar = TarBuilder().dir("etc", mode=0o750).whiteout("etc/passwd").opaque("etc")
    tar.file("etc/new", b"n").whiteout("missing/parent/name").opaque("made/by/opaque")
    apply_layer(tar.stream(), sandbox.dest, whiteouts=WhiteoutFormat.OVERLAY)
    gone = os.lstat(sandbox.dest / "etc/passwd")
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0
    assert os.getxattr(sandbox.dest / "etc", "trusted.overlay.opaque") == b"y"
    assert stat.S_IMODE(os.lstat(sandbox.dest / "etc").st_mode) == 0o750
    assert (sandbox.dest / "etc/new").read_bytes() == b"n"
    assert os.lstat(sandbox.dest / "missing/parent/name").st_rdev == 0
    assert os.getxattr(sandbox.dest / "made/by/opaque", "trusted.overlay.opaque") == b"y"
    assert not any(name.startswith(".wh.") for _, d, f in os.walk(sandbox.dest) for name in d + f)


@needs_root
def test_overlay_whiteout_replaces_what_this_layer_put_there(sandbox: Sandbox) -> None:
    tar = TarBuilder().dir("d").file("d/x", b"x").whiteout("d/x").dir("e").whiteout("e")
    apply_layer(tar.stream(), sandbox.dest, whiteouts=WhiteoutFormat.OVERLAY)
    assert (sandbox.dest / "d/x").is_char_device()
    assert (sandbox.dest / "e").is_char_device()


@needs_root
def test_overlay_opaque_keeps_the_upper_content(sandbox: Sandbox) -> None:
    tar = TarBuilder().dir("d").file("d/a", b"a").opaque("d").file("d/b", b"b")
    apply_layer(tar.stream(), sandbox.dest, whiteouts=WhiteoutFormat.OVERLAY)
    assert sorted(os.listdir(sandbox.dest / "d")) == ["a", "b"]
