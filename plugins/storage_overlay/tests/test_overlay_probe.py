"""The overlay probe's answers, with /proc/filesystems and /lib/modules pointed at test files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from berth.plugins import PluginContext
from berth.testing.fixtures import PluginContextFactory
from berth_storage_overlay import probe as overlay

WITH_OVERLAY = "nodev\tsysfs\nnodev\tproc\n\text4\nnodev\toverlay\n"
WITHOUT_OVERLAY = "nodev\tsysfs\nnodev\tproc\n\text4\nnodev\toverlayfs\n"


@pytest.fixture
def ctx(plugin_context: PluginContextFactory) -> PluginContext:
    return plugin_context("storage", "overlay")


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake host: /proc/filesystems and an empty /lib/modules under ``tmp_path``."""
    monkeypatch.setattr(overlay, "PROC_FILESYSTEMS", tmp_path / "filesystems")
    monkeypatch.setattr(overlay, "MODULES_DIR", tmp_path / "modules")
    (tmp_path / "modules").mkdir()
    return tmp_path


def test_kernel_with_overlayfs_gets_to_not_implemented(host: Path, ctx: PluginContext) -> None:
    (host / "filesystems").write_text(WITH_OVERLAY)
    result = overlay.probe(ctx)
    assert not result.supported
    assert result.reason == overlay.NOT_IMPLEMENTED


def test_kernel_without_overlayfs_names_the_alternatives(host: Path, ctx: PluginContext) -> None:
    (host / "filesystems").write_text(WITHOUT_OVERLAY)  # "overlayfs" is not "overlay"
    result = overlay.probe(ctx)
    assert not result.supported
    assert result.reason == "the kernel has no overlayfs; use vfs or btrfs"


def test_module_installed_but_not_loaded_says_modprobe(host: Path, ctx: PluginContext) -> None:
    (host / "filesystems").write_text(WITHOUT_OVERLAY)
    release = host / "modules" / os.uname().release
    release.mkdir()
    (release / "modules.dep").write_text(
        "kernel/fs/fuse/fuse.ko.xz:\nkernel/fs/overlayfs/overlay.ko.xz:\n"
    )
    result = overlay.probe(ctx)
    assert not result.supported
    assert "modprobe overlay" in result.reason
    assert "vfs" in result.reason


def test_modules_of_another_kernel_do_not_count(host: Path, ctx: PluginContext) -> None:
    (host / "filesystems").write_text(WITHOUT_OVERLAY)
    other = host / "modules" / "0.0.0-other"
    other.mkdir()
    (other / "modules.dep").write_text("kernel/fs/overlayfs/overlay.ko:\n")
    assert overlay.probe(ctx).reason == overlay.NO_OVERLAYFS


def test_unreadable_proc_filesystems_is_a_reason_not_an_error(
    host: Path, ctx: PluginContext
) -> None:
    result = overlay.probe(ctx)  # the file was never written
    assert not result.supported
    assert result.reason.startswith(f"cannot read {host / 'filesystems'}")
    assert "\n" not in result.reason


def test_empty_proc_filesystems_means_no_overlayfs(host: Path, ctx: PluginContext) -> None:
    (host / "filesystems").write_text("")
    assert overlay.probe(ctx).reason == overlay.NO_OVERLAYFS


def test_this_host_gets_a_known_answer(ctx: PluginContext) -> None:
    expected = overlay.NOT_IMPLEMENTED if "overlay" in _real_filesystems() else None
    result = overlay.probe(ctx)
    assert not result.supported
    if expected:
        assert result.reason == expected
    else:
        assert result.reason in (overlay.NO_OVERLAYFS, overlay.NOT_LOADED)


def _real_filesystems() -> list[str]:
    return [line.split()[-1] for line in Path("/proc/filesystems").read_text().splitlines()]
