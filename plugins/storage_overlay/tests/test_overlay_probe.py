"""The overlay probe's answers, with /proc/filesystems and /lib/modules pointed at test files."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from berth.plugins import PluginContext, ProbeResult
from berth.testing.fixtures import PluginContextFactory
from berth_storage_overlay import probe as overlay
from berth_storage_overlay import syscalls

#: Tests that really mount need root (CI runs as root).
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting overlayfs needs root")


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


def test_kernel_with_overlayfs_goes_on_to_the_test_mount(
    host: Path, ctx: PluginContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    (host / "filesystems").write_text(WITH_OVERLAY)
    checked: list[Path] = []

    def check_data_dir(data_dir: Path) -> ProbeResult:
        checked.append(data_dir)
        return ProbeResult.unsupported("test mount reached")

    monkeypatch.setattr(overlay, "check_data_dir", check_data_dir)
    assert overlay.probe(ctx).reason == "test mount reached"
    assert checked == [ctx.data_dir]


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


@needs_root
def test_this_host_gets_a_known_answer(ctx: PluginContext) -> None:
    result = overlay.probe(ctx)
    if "overlay" in _real_filesystems():
        assert result.supported, result.reason
    else:
        assert result.reason in (overlay.NO_OVERLAYFS, overlay.NOT_LOADED)


def _real_filesystems() -> list[str]:
    return [line.split()[-1] for line in Path("/proc/filesystems").read_text().splitlines()]


# --- the test mount on the data directory's file system --------------------------------------


def _entries(path: Path) -> list[str]:
    return sorted(os.listdir(path))


@needs_root
def test_test_mount_works_here_and_leaves_nothing(tmp_path: Path) -> None:
    data_dir = tmp_path / "storage" / "overlay"
    data_dir.mkdir(parents=True)
    assert overlay.check_data_dir(data_dir) == ProbeResult.ok()
    assert _entries(data_dir) == []


@needs_root
def test_data_dir_not_created_yet_is_tested_in_its_nearest_ancestor(tmp_path: Path) -> None:
    result = overlay.check_data_dir(tmp_path / "data-root" / "storage" / "overlay")
    assert result.supported, result.reason
    assert _entries(tmp_path) == [], "the probe creates nothing that stays"


@needs_root
def test_overlay_on_overlayfs_is_refused_with_the_backing_fs(tmp_path: Path) -> None:
    for name in ("lower", "upper", "work", "merged"):
        (tmp_path / name).mkdir()
    syscalls.mount(
        "overlay",
        tmp_path / "merged",
        "overlay",
        f"lowerdir={tmp_path / 'lower'},upperdir={tmp_path / 'upper'},workdir={tmp_path / 'work'}",
    )
    try:
        result = overlay.check_data_dir(tmp_path / "merged" / "storage" / "overlay")
        assert _entries(tmp_path / "merged") == []
    finally:
        syscalls.unmount(tmp_path / "merged")
    assert not result.supported
    assert result.reason.startswith("overlay is not supported on overlayfs (")
    assert "use vfs" in result.reason and "\n" not in result.reason


@needs_root
def test_read_only_data_dir_is_refused(tmp_path: Path) -> None:
    (tmp_path / "ro").mkdir()
    syscalls.mount("tmpfs", tmp_path / "ro", "tmpfs", "size=1m", flags=1)  # MS_RDONLY
    try:
        result = overlay.check_data_dir(tmp_path / "ro" / "overlay")
    finally:
        syscalls.unmount(tmp_path / "ro")
    assert not result.supported
    assert result.reason.startswith(f"cannot use the data directory {tmp_path / 'ro' / 'overlay'}")
    assert "Read-only file system" in result.reason


def test_without_cap_sys_admin_the_reason_says_run_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Refused:
        api = "test"

        def mount(self, *args: object) -> None:
            raise syscalls.MountError(errno.EPERM, "fsopen overlay: Operation not permitted")

    monkeypatch.setattr(overlay, "choose_mounter", lambda api: Refused())
    assert overlay.check_data_dir(tmp_path) == ProbeResult.unsupported(overlay.NEEDS_ROOT)
    assert _entries(tmp_path) == []


def test_a_file_system_without_d_type_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(overlay, "reports_d_type", lambda path: False)
    result = overlay.check_data_dir(tmp_path)
    assert not result.supported
    assert "without d_type" in result.reason and "ftype=1" in result.reason
    assert _entries(tmp_path) == []


def test_data_dir_under_a_file_or_a_broken_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    under_file = overlay.check_data_dir(tmp_path / "file" / "overlay")
    assert f"{tmp_path / 'file'} is not a directory" in under_file.reason
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    broken = overlay.check_data_dir(tmp_path / "dangling" / "overlay")
    assert "broken symbolic link" in broken.reason
    assert not under_file.supported and not broken.supported


@needs_root
def test_scratch_left_by_a_killed_probe_is_swept(tmp_path: Path) -> None:
    old = tmp_path / f"{overlay.SCRATCH_PREFIX}killed"
    for name in ("lower", "upper", "work", "merged"):
        (old / name).mkdir(parents=True)
    syscalls.mount(
        "overlay",
        old / "merged",
        "overlay",
        f"lowerdir={old / 'lower'},upperdir={old / 'upper'},workdir={old / 'work'}",
    )
    os.utime(old, (0, 0))
    recent = tmp_path / f"{overlay.SCRATCH_PREFIX}running"
    recent.mkdir()  # another probe's, at work right now
    assert overlay.check_data_dir(tmp_path / "overlay").supported
    assert _entries(tmp_path) == [recent.name]
