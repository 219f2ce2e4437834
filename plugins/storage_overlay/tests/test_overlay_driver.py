"""The overlay driver's layout, mounts and recovery, with real overlayfs mounts (root only)."""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from berth_storage_overlay import layout, mountinfo
from berth_storage_overlay.syscalls import MountError

#: Every test here really mounts: root only (CI runs as root).
pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="mounting overlayfs needs root"),
]


APIS = ["fsconfig", "legacy"]
Make = Callable[..., Any]


def layer_id(n: int) -> str:
    return f"{n:064x}"


def chain(driver: Any, depth: int, prefix: int = 0) -> list[str]:
    """``depth`` read-only layers, each adding ``f<i>``; returns their IDs, base first."""
    ids: list[str] = []
    parent = None
    for i in range(depth):
        lid = layer_id(prefix + i + 1)
        driver.create(lid, parent)
        (driver.home / lid / "diff" / f"f{i}").write_text(str(i))
        ids.append(lid)
        parent = lid
    return ids


def is_mounted(path: Path) -> bool:
    return mountinfo.is_mount_point(path)


# --- layout --------------------------------------------------------------------------------


def test_base_layer_has_only_diff_and_its_link(make_driver: Make) -> None:
    driver = make_driver()
    base = layer_id(1)
    driver.create(base, None)
    layer = driver.home / base
    assert sorted(p.name for p in layer.iterdir()) == ["diff", "link"]
    short = (layer / "link").read_text()
    assert layout.SHORT_ID.fullmatch(short)
    assert os.readlink(driver.home / "l" / short) == f"../{base}/diff"
    assert stat.S_IMODE((layer / "diff").stat().st_mode) == 0o755
    assert driver.exists(base)


def test_child_layers_get_lower_work_and_merged(make_driver: Make) -> None:
    driver = make_driver()
    ids = chain(driver, 3)
    driver.create_rw("container", ids[-1])
    layer = driver.home / "container"
    assert sorted(p.name for p in layer.iterdir()) == ["diff", "link", "lower", "merged", "work"]
    links = [(driver.home / lid / "link").read_text() for lid in reversed(ids)]
    assert (layer / "lower").read_text() == ":".join(f"l/{s}" for s in links)


def test_create_refuses_duplicates_missing_parents_bad_ids_and_options(make_driver: Make) -> None:
    driver = make_driver()
    driver.create(layer_id(1), None)
    with pytest.raises(FileExistsError, match="already exists"):
        driver.create(layer_id(1), None)
    with pytest.raises(FileNotFoundError, match=f"parent layer {layer_id(9)} does not exist"):
        driver.create(layer_id(2), layer_id(9))
    assert not driver.exists(layer_id(2))
    for bad in ("", "../x", "a/b", ".hidden", "l", "x" * 129, "tab\there"):
        with pytest.raises(ValueError, match="invalid layer ID"):
            driver.create(bad, None)
    with pytest.raises(ValueError, match="takes no layer options"):
        driver.create_rw(layer_id(3), layer_id(1), {"size": "10G"})
    assert not driver.exists(layer_id(3))
    assert sorted(p.name for p in driver.home.iterdir()) == sorted(["l", layer_id(1)])


def test_exists_is_false_for_unknown_and_invalid_ids(make_driver: Make) -> None:
    driver = make_driver()
    assert not driver.exists(layer_id(1))
    assert not driver.exists("../../etc")
    assert not driver.exists("l")


# --- mounts --------------------------------------------------------------------------------


@pytest.mark.parametrize("api", APIS)
def test_mount_stacks_the_chain_and_writes_go_up(make_driver: Make, api: str) -> None:
    driver = make_driver(api)
    ids = chain(driver, 3)
    (driver.home / ids[0] / "diff" / "f1").write_text("shadowed")
    driver.create_rw("c1", ids[-1])
    root = driver.mount("c1")
    assert root == driver.home / "c1" / "merged"
    assert is_mounted(root)
    assert sorted(os.listdir(root)) == ["f0", "f1", "f2"]
    assert (root / "f1").read_text() == "1"  # the upper layer wins
    (root / "new").write_text("n")
    (root / "f0").unlink()
    upper = driver.home / "c1" / "diff"
    assert (upper / "new").read_text() == "n"
    whiteout = os.lstat(upper / "f0")
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == 0
    assert (driver.home / ids[0] / "diff" / "f0").exists(), "lower layers are never written"
    driver.unmount("c1")
    assert not is_mounted(root)


def test_a_layer_without_parent_mounts_as_its_diff(make_driver: Make) -> None:
    driver = make_driver()
    driver.create_rw("scratch", None)
    root = driver.mount("scratch")
    assert root == driver.home / "scratch" / "diff"
    assert not is_mounted(root)
    assert driver.mount_count("scratch") == 1
    driver.unmount("scratch")
    assert driver.mount_count("scratch") == 0


def test_mounts_are_reference_counted(make_driver: Make) -> None:
    driver = make_driver()
    ids = chain(driver, 2)
    driver.create_rw("c1", ids[-1])
    first = driver.mount("c1")
    assert driver.mount("c1") == first
    assert driver.mount_count("c1") == 2
    driver.unmount("c1")
    assert is_mounted(first), "one reference is still held"
    driver.unmount("c1")
    assert not is_mounted(first)
    driver.unmount("c1")  # one too many: harmless
    assert driver.mount_count("c1") == 0
    assert driver.mount("c1") == first and is_mounted(first)
    driver.unmount("c1")


def test_mount_of_a_missing_layer_is_a_clear_error(make_driver: Make) -> None:
    driver = make_driver()
    with pytest.raises(FileNotFoundError, match=f"layer {layer_id(5)} does not exist"):
        driver.mount(layer_id(5))
    with pytest.raises(ValueError, match="invalid layer ID"):
        driver.mount("../escape")


@pytest.mark.parametrize("api", APIS)
def test_a_128_deep_chain_mounts(make_driver: Make, api: str) -> None:
    driver = make_driver(api)
    ids = chain(driver, 128)
    driver.create_rw("deep", ids[-1])
    root = driver.mount("deep")
    try:
        assert len(os.listdir(root)) == 128
        assert (root / "f0").read_text() == "0" and (root / "f127").read_text() == "127"
    finally:
        driver.unmount("deep")
    assert not is_mounted(root)


def test_fsconfig_mounts_chains_deeper_than_one_page_of_options(make_driver: Make) -> None:
    driver = make_driver("fsconfig")
    ids = chain(driver, 200)
    driver.create_rw("deeper", ids[-1])
    root = driver.mount("deeper")
    try:
        assert len(os.listdir(root)) == 200
    finally:
        driver.unmount("deeper")


def test_legacy_mount_says_when_the_chain_is_too_deep(make_driver: Make) -> None:
    driver = make_driver("legacy")
    ids = chain(driver, 200)
    driver.create_rw("deeper", ids[-1])
    with pytest.raises(MountError, match="cannot mount layer deeper: its 200 lower layers"):
        driver.mount("deeper")
    assert driver.mount_count("deeper") == 0


def test_chains_deeper_than_the_kernel_stacks_are_refused(make_driver: Make) -> None:
    driver = make_driver()
    ids = chain(driver, 501)
    with pytest.raises(ValueError, match="overlayfs stacks at most 500"):
        driver.create_rw("too-deep", ids[-1])
    assert not driver.exists("too-deep")


def spy_on_helper(mounter: Any) -> list[str]:
    """Record the targets the legacy helper process mounts (and let it mount them)."""
    helped: list[str] = []
    legacy = getattr(mounter, "fallback", mounter)
    helper_mount = legacy.mount_with_helper

    def spy(base: Path, lowers: list[str], upper: str, work: str, target: str) -> None:
        helped.append(target)
        helper_mount(base, lowers, upper, work, target)

    legacy.mount_with_helper = spy
    return helped


def test_fsconfig_falls_back_to_the_helper_for_long_paths(
    make_driver: Make, tmp_path: Path
) -> None:
    driver = make_driver("fsconfig", home=tmp_path / ("d" * 100) / ("e" * 100) / "overlay")
    helped = spy_on_helper(driver.mounter)
    ids = chain(driver, 2)
    driver.create_rw("c1", ids[-1])
    root = driver.mount("c1")
    assert sorted(os.listdir(root)) == ["f0", "f1"]
    assert helped == ["c1/merged"], "paths over 255 bytes go to the helper"
    driver.unmount("c1")


def test_fsconfig_mounts_in_process(make_driver: Make) -> None:
    driver = make_driver("fsconfig")
    helped = spy_on_helper(driver.mounter)
    driver.create_rw("c1", chain(driver, 128)[-1])
    driver.mount("c1")
    driver.unmount("c1")
    assert helped == []


@pytest.mark.parametrize(
    ("depth", "home_name", "helper"),
    [(3, "overlay", False), (128, "overlay", True), (3, "over,lay:x", True)],
)
def test_legacy_mounts_directly_when_the_options_allow(
    make_driver: Make, tmp_path: Path, depth: int, home_name: str, helper: bool
) -> None:
    driver = make_driver("legacy", home=tmp_path / home_name)
    helped = spy_on_helper(driver.mounter)
    driver.create_rw("c1", chain(driver, depth)[-1])
    root = driver.mount("c1")
    assert len(os.listdir(root)) == depth
    driver.unmount("c1")
    assert helped == (["c1/merged"] if helper else [])


@pytest.mark.parametrize("api", APIS)
def test_mounting_leaves_the_daemon_cwd_alone(make_driver: Make, api: str) -> None:
    driver = make_driver(api)
    ids = chain(driver, 2)
    driver.create_rw("c1", ids[-1])
    before = os.getcwd()
    driver.mount("c1")
    assert os.getcwd() == before
    driver.unmount("c1")


def test_a_failed_mount_is_reported_and_not_counted(make_driver: Make) -> None:
    driver = make_driver()
    ids = chain(driver, 2)
    driver.create_rw("c1", ids[-1])
    (driver.home / "c1" / "work").rmdir()
    with pytest.raises(MountError, match="cannot mount layer c1"):
        driver.mount("c1")
    assert driver.mount_count("c1") == 0


def test_concurrent_mounts_and_unmounts_keep_one_mount(make_driver: Make) -> None:
    driver = make_driver()
    ids = chain(driver, 3)
    driver.create_rw("c1", ids[-1])
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(20):
                driver.mount("c1")
                driver.unmount("c1")
        except BaseException as exc:
            errors.append(exc)

    driver.mount("c1")  # held throughout: the others only count
    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert driver.mount_count("c1") == 1
    merged = driver.home / "c1" / "merged"
    assert sum(m.mount_point == merged for m in mountinfo.mounts()) == 1
    driver.unmount("c1")


# --- remove, cleanup, restart --------------------------------------------------------------


def test_remove_unmounts_and_removes_layer_and_link(make_driver: Make) -> None:
    driver = make_driver()
    ids = chain(driver, 2)
    driver.create_rw("c1", ids[-1])
    short = (driver.home / "c1" / "link").read_text()
    root = driver.mount("c1")
    driver.remove("c1")
    assert not is_mounted(root)
    assert not driver.exists("c1")
    assert not os.path.lexists(driver.home / "c1")
    assert not os.path.lexists(driver.home / "l" / short)
    assert driver.mount_count("c1") == 0
    driver.remove("c1")  # again: not an error
    driver.remove(layer_id(99))
    assert sorted(os.listdir(driver.home)) == sorted(["l", *ids])
    assert (driver.home / ids[-1] / "diff" / "f1").exists(), "the parent is untouched"


def test_cleanup_unmounts_everything(make_driver: Make) -> None:
    driver = make_driver()
    ids = chain(driver, 2)
    roots = []
    for name in ("c1", "c2", "c3"):
        driver.create_rw(name, ids[-1])
        roots.append(driver.mount(name))
    driver.mount("c1")
    driver.cleanup()
    assert not any(is_mounted(root) for root in roots)
    assert driver.mount_count("c1") == 0


def test_a_restarted_driver_adopts_mounts_still_there(make_driver: Make) -> None:
    first = make_driver()
    ids = chain(first, 2)
    first.create_rw("c1", ids[-1])
    first.create_rw("c2", ids[-1])
    root = first.mount("c1")
    (root / "kept").write_text("still here")
    # The daemon dies without cleanup: a new driver on the same directory takes over.
    second = make_driver(home=first.home)
    assert second.mount_count("c1") == 1
    assert second.mount_count("c2") == 0
    assert second.restore(["c1", "c2", layer_id(77)]) == ["c2", layer_id(77)]
    assert second.mount("c1") == root
    assert second.mount_count("c1") == 2
    second.unmount("c1")
    assert is_mounted(root)
    second.unmount("c1")
    assert not is_mounted(root)
    assert (first.home / "c1" / "diff" / "kept").read_text() == "still here"


def test_start_up_clears_what_a_crash_left_behind(make_driver: Make) -> None:
    driver = make_driver()
    ids = chain(driver, 2)
    home = driver.home
    # A crash in the middle of a create: a half-made layer in a temp dir, a dangling link.
    (home / ".tmp-halfmade" / "diff").mkdir(parents=True)
    (home / "l" / ("A" * 26)).symlink_to("../gone/diff")
    # ... in the middle of a remove: the layer renamed to trash.
    (home / ".trash-halfgone" / "diff").mkdir(parents=True)
    # A link lost (e.g. a crash right after the rename of a create).
    short = (home / ids[0] / "link").read_text()
    (home / "l" / short).unlink()
    # Junk in l/, a link out of the data directory, and a layer directory without its diff.
    (home / "l" / "not-a-link").write_text("x")
    (home / "l" / ("B" * 26)).symlink_to("../../../../../etc")
    (home / layer_id(50)).mkdir()
    restarted = make_driver(home=home)
    assert sorted(os.listdir(home)) == sorted(["l", *ids, layer_id(50)])
    assert os.readlink(home / "l" / short) == f"../{ids[0]}/diff"
    assert len(os.listdir(home / "l")) == 2
    assert not restarted.exists(layer_id(50))
    restarted.create_rw("c1", ids[-1])
    assert sorted(os.listdir(restarted.mount("c1"))) == ["f0", "f1"]
    restarted.unmount("c1")
    restarted.remove(layer_id(50))
    assert not os.path.lexists(home / layer_id(50))


def test_status_reports_what_docker_shows(make_driver: Make) -> None:
    driver = make_driver()
    chain(driver, 3)
    status = dict(driver.status())
    assert status == {
        "Backing Filesystem": status["Backing Filesystem"],
        "Supports d_type": "true",
        "Using metacopy": "false",
        "Native Overlay Diff": "true",
        "userxattr": "false",
        "Layers": "3",
    }
    assert status["Backing Filesystem"] and not status["Backing Filesystem"].startswith("unknown")


def test_mount_and_unmount_are_fast(make_driver: Make) -> None:
    """A container's start waits for its mount: 128 layers well under 100 ms (median)."""
    driver = make_driver()
    ids = chain(driver, 128)
    driver.create_rw("c1", ids[-1])
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        driver.mount("c1")
        driver.unmount("c1")
        samples.append(time.perf_counter() - started)
    assert sorted(samples)[2] < 0.1
