"""The vfs probe's answers: a usable data directory, or why it is not one."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from berth.plugins import PluginContext
from berth.testing.fixtures import PluginContextFactory
from berth_storage_vfs import probe as vfs


@pytest.fixture
def ctx(plugin_context: PluginContextFactory) -> PluginContext:
    return plugin_context("storage", "vfs")


def with_data_dir(ctx: PluginContext, data_dir: Path) -> PluginContext:
    return PluginContext(
        kind=ctx.kind,
        name=ctx.name,
        data_root=data_dir.parent,
        data_dir=data_dir,
        run_dir=ctx.run_dir,
    )


def test_writable_data_dir_is_supported(ctx: PluginContext) -> None:
    assert ctx.data_dir.is_dir()
    result = vfs.probe(ctx)
    assert result.supported
    assert result.reason == ""


def test_data_dir_not_created_yet_is_fine(ctx: PluginContext, tmp_path: Path) -> None:
    result = vfs.probe(with_data_dir(ctx, tmp_path / "new" / "storage" / "vfs"))
    assert result.supported, result.reason
    assert not (tmp_path / "new").exists(), "the probe must not create anything"


def test_data_dir_under_a_file_is_refused(ctx: PluginContext, tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("x")
    result = vfs.probe(with_data_dir(ctx, tmp_path / "plain-file" / "storage" / "vfs"))
    assert not result.supported
    assert f"{tmp_path / 'plain-file'} is not a directory" in result.reason
    assert "--data-root" in result.reason


def test_data_dir_that_is_a_file_is_refused(ctx: PluginContext, tmp_path: Path) -> None:
    (tmp_path / "vfs").write_text("x")
    result = vfs.probe(with_data_dir(ctx, tmp_path / "vfs"))
    assert not result.supported
    assert "is not a directory" in result.reason


def test_broken_symlink_is_refused(ctx: PluginContext, tmp_path: Path) -> None:
    (tmp_path / "vfs").symlink_to(tmp_path / "gone")
    result = vfs.probe(with_data_dir(ctx, tmp_path / "vfs" / "sub"))
    assert not result.supported
    assert "broken symbolic link" in result.reason


def test_unwritable_data_dir_is_refused(
    ctx: PluginContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_access: Callable[..., bool] = os.access

    def access(path: object, mode: int, **kwargs: object) -> bool:
        if Path(str(path)) == ctx.data_dir and mode & os.W_OK:
            return False  # as on a read-only mount, which even root cannot write
        return real_access(path, mode)

    monkeypatch.setattr(os, "access", access)
    result = vfs.probe(ctx)
    assert not result.supported
    assert result.reason.startswith(f"the data directory {ctx.data_dir} is not writable")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write in a mode 0500 directory")
def test_read_only_directory_is_refused_for_a_user(ctx: PluginContext, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        result = vfs.probe(with_data_dir(ctx, locked / "storage" / "vfs"))
    finally:
        locked.chmod(0o700)
    assert "is not writable" in result.reason
