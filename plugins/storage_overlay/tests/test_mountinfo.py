"""Picking the mounts under a directory from mountinfo text (escaped paths, prefixes)."""

from __future__ import annotations

from pathlib import Path

from berth_storage_overlay import mountinfo

TEXT = "\n".join(
    [
        "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
        "30 22 0:40 / /var/lib/x/a/merged rw - overlay overlay rw,lowerdir=/l",
        "31 22 0:41 / /var/lib/x/ab/merged rw - overlay overlay rw",
        "32 22 0:42 / /var/lib/x rw shared:2 - tmpfs tmpfs rw",
        "33 22 0:43 / /var/lib/x/with\\040space/m\\134n rw - overlay overlay rw",
        "34 22 0:44 / /var/lib/xy rw - tmpfs tmpfs rw",
        "not a mountinfo line",
    ]
)


def points(root: str) -> list[str]:
    return [str(m.mount_point) for m in mountinfo.mounted_under(Path(root), TEXT)]


def test_the_root_itself_and_what_is_below_it_in_order() -> None:
    assert points("/var/lib/x") == [
        "/var/lib/x/a/merged",
        "/var/lib/x/ab/merged",
        "/var/lib/x",
        "/var/lib/x/with space/m\\n",
    ]


def test_a_sibling_sharing_a_prefix_is_not_below() -> None:
    assert points("/var/lib/x/a") == ["/var/lib/x/a/merged"]


def test_escaped_paths_match_their_real_names() -> None:
    assert points("/var/lib/x/with space") == ["/var/lib/x/with space/m\\n"]
    assert mountinfo.escape("/a b\\c\td") == "/a\\040b\\134c\\011d"


def test_the_filesystem_root_holds_every_mount() -> None:
    assert len(points("/")) == 6


def test_nothing_below_a_directory_without_mounts() -> None:
    assert points("/srv") == []
    assert mountinfo.mounted_under(Path("/nonexistent-berth-dir")) == []
