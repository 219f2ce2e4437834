"""Mount destinations are resolved inside the root file system, symbolic links included."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from berth_isolation_linux.mounts import resolve_in_root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "var" / "lib").mkdir(parents=True)
    (root / "abs").symlink_to("/etc")
    (root / "rel").symlink_to("var/lib")
    (root / "escape").symlink_to("../../../../..")
    (root / "var" / "up").symlink_to("../../..")
    (root / "loop").symlink_to("loop")
    (root / "etc" / "host").symlink_to("/")
    return root


@pytest.mark.parametrize(
    ("path", "inside"),
    [
        ("/etc/hosts", "etc/hosts"),
        ("/abs/resolv.conf", "etc/resolv.conf"),
        ("/rel/data", "var/lib/data"),
        ("/escape/etc/passwd", "etc/passwd"),
        ("/var/up/etc/x", "etc/x"),
        ("/var/up/up/x", "up/x"),
        ("/../../etc", "etc"),
        ("/etc/host/tmp", "tmp"),
        ("/new/dir/deep", "new/dir/deep"),
        ("/./etc/./x/../y", "etc/y"),
        ("/", ""),
    ],
)
def test_paths_stay_inside_the_root(root: Path, path: str, inside: str) -> None:
    got = resolve_in_root(str(root), path)
    assert got == os.path.join(str(root), inside).rstrip("/")
    assert os.path.realpath(got).startswith(str(root))


def test_a_symlink_loop_is_refused(root: Path) -> None:
    with pytest.raises(OSError, match="too many symbolic links"):
        resolve_in_root(str(root), "/loop/x")
