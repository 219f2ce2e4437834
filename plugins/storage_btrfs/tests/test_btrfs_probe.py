"""The btrfs probe's answers, with /proc/self/mountinfo pointed at test files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from berth.plugins import PluginContext
from berth_storage_btrfs import filesystem, probe
from berth_storage_btrfs.filesystem import filesystem_type, mounts


def context_at(data_root: Path) -> PluginContext:
    return PluginContext(
        kind="storage",
        name="btrfs",
        data_root=data_root,
        data_dir=data_root / "storage" / "btrfs",
        run_dir=data_root / "run",
    )


@pytest.fixture
def fake_mounts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A mountinfo where ``/`` is ext4 and ``tmp_path/bt`` and ``tmp_path/with space`` btrfs."""
    (tmp_path / "bt").mkdir()
    (tmp_path / "with space").mkdir()
    spaced = str(tmp_path / "with space").replace(" ", "\\040")
    (tmp_path / "mountinfo").write_text(
        "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
        f"90 22 7:0 / {tmp_path}/bt rw,relatime shared:50 - btrfs /dev/loop0 rw,subvol=/\n"
        f"91 22 7:1 / {spaced} rw shared:51 - btrfs /dev/loop1 rw\n"
        "not a mountinfo line\n"
    )
    monkeypatch.setattr(filesystem, "MOUNTINFO", tmp_path / "mountinfo")
    return tmp_path


def test_data_root_on_btrfs_is_supported(fake_mounts: Path) -> None:
    result = probe.probe(context_at(fake_mounts / "bt" / "berth"))
    assert result.supported, result.reason


def test_mount_point_with_a_space_is_understood(fake_mounts: Path) -> None:
    assert probe.probe(context_at(fake_mounts / "with space" / "berth")).supported


def test_data_root_on_ext4_names_the_file_system_and_the_alternatives(fake_mounts: Path) -> None:
    root = fake_mounts / "elsewhere" / "berth"
    result = probe.probe(context_at(root))
    assert not result.supported
    assert result.reason == (
        f"the data root {root} is not on btrfs (it is on ext4); use overlay or vfs, "
        "or put --data-root on a btrfs file system"
    )


def test_a_later_mount_on_the_same_point_wins(fake_mounts: Path) -> None:
    with open(filesystem.MOUNTINFO, "a") as mountinfo:
        mountinfo.write(f"99 90 0:50 / {fake_mounts}/bt rw - tmpfs tmpfs rw\n")
    result = probe.probe(context_at(fake_mounts / "bt" / "berth"))
    assert "(it is on tmpfs)" in result.reason


def test_the_probe_creates_nothing(fake_mounts: Path) -> None:
    probe.probe(context_at(fake_mounts / "bt" / "new" / "berth"))
    assert not (fake_mounts / "bt" / "new").exists()


def test_data_dir_under_a_file_is_refused(fake_mounts: Path) -> None:
    (fake_mounts / "bt" / "file").write_text("x")
    result = probe.probe(context_at(fake_mounts / "bt" / "file" / "berth"))
    assert not result.supported
    assert "is not a directory" in result.reason and "--data-root" in result.reason


def test_unreadable_mountinfo_is_a_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(filesystem, "MOUNTINFO", tmp_path / "missing")
    result = probe.probe(context_at(tmp_path / "berth"))
    assert not result.supported
    assert result.reason.startswith(f"cannot read {tmp_path / 'missing'}")
    assert "\n" not in result.reason


def test_mountinfo_parsing_skips_junk() -> None:
    table = mounts("x\n36 35 98:0 /mnt1 /mnt\\0402 rw - ext3 /dev/root rw\n\n")
    assert table == [("/mnt 2", "ext3")]


def test_this_host_gets_the_file_system_it_has(tmp_path: Path) -> None:
    real = subprocess.run(
        ["stat", "-f", "-c", "%T", str(tmp_path)], capture_output=True, text=True, check=True
    ).stdout.strip()
    found = filesystem_type(tmp_path)
    assert found.startswith(real[:3]) or (real == "ext2/ext3" and found.startswith("ext"))
    result = probe.probe(context_at(tmp_path / "data-root"))
    assert result.supported == (found == "btrfs")


def test_a_real_btrfs_is_supported(btrfs_dir: Path) -> None:
    result = probe.probe(context_at(btrfs_dir / "data-root"))
    assert result.supported, result.reason
