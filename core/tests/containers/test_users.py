"""``-u`` and ``--group-add`` resolved from the image's passwd and group files (runc's rules,
Docker's errors), read without ever leaving the root file system."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from berth.engine.containers.users import (
    ResolvedUser,
    UserError,
    parse_group,
    parse_passwd,
    read_in_root,
    resolve_user,
)

from .kit import one_line, write_rootfs

pytestmark = pytest.mark.usefixtures("resolver")


@pytest.mark.parametrize(
    "spec, expected",
    [
        ("", ResolvedUser(0, 0, (0, 10), "/root", "root")),
        ("root", ResolvedUser(0, 0, (0, 10), "/root", "root")),
        ("0", ResolvedUser(0, 0, (0, 10), "/root", "root")),
        ("app", ResolvedUser(1000, 1000, (1000, 10, 29), "/home/app", "app")),
        ("1000", ResolvedUser(1000, 1000, (1000, 10, 29), "/home/app", "app")),
        ("nobody", ResolvedUser(65534, 65534, (65534,), "/nonexistent", "nobody")),
        ("app:wheel", ResolvedUser(1000, 10, (10,), "/home/app", "app")),
        ("app:29", ResolvedUser(1000, 29, (29,), "/home/app", "app")),
        ("app:4242", ResolvedUser(1000, 4242, (4242,), "/home/app", "app")),
        ("4242", ResolvedUser(4242, 0, (0,), "/", "")),
        ("4242:4343", ResolvedUser(4242, 4343, (4343,), "/", "")),
        (":audio", ResolvedUser(0, 29, (29,), "/root", "root")),
    ],
)
def test_user_specs(image_root: Path, spec: str, expected: ResolvedUser) -> None:
    assert resolve_user(image_root, spec) == expected


@pytest.mark.parametrize(
    "spec, message",
    [
        ("nope", "unable to find user nope: no matching entries in passwd file"),
        ("nope:wheel", "unable to find user nope: no matching entries in passwd file"),
        ("app:nogrp", "unable to find group nogrp: no matching entries in group file"),
        ("-1", "uids and gids must be in range 0-2147483647"),
        ("2147483648", "uids and gids must be in range 0-2147483647"),
        ("app:-5", "uids and gids must be in range 0-2147483647"),
        ("broken", "unable to find user broken: no matching entries in passwd file"),
    ],
)
def test_unknown_users_and_groups_fail_with_dockers_text(
    image_root: Path, spec: str, message: str
) -> None:
    with pytest.raises(UserError) as caught:
        resolve_user(image_root, spec)
    assert one_line(caught) == message
    assert caught.value.status == 400


def test_group_add_appends_groups_by_name_or_number(image_root: Path) -> None:
    user = resolve_user(image_root, "nobody", ["audio", "1000", "777", "audio"])
    assert user.additional_gids == (65534, 29, 1000, 777)
    with pytest.raises(UserError) as caught:
        resolve_user(image_root, "nobody", ["nosuchgroup"])
    assert one_line(caught) == (
        "Unable to find group nosuchgroup: no matching entries in group file"
    )


def test_without_passwd_only_numbers_work(tmp_path: Path) -> None:
    root = tmp_path / "bare"
    root.mkdir()
    assert resolve_user(root, "") == ResolvedUser(0, 0, (0,), "/", "")
    assert resolve_user(root, "1000:1000") == ResolvedUser(1000, 1000, (1000,), "/", "")
    with pytest.raises(UserError, match="unable to find user app: no matching entries"):
        resolve_user(root, "app")
    with pytest.raises(UserError, match="unable to find group staff"):
        resolve_user(root, "0:staff")


def test_parsers_skip_what_is_not_an_entry() -> None:
    entries = parse_passwd(b"a:x:1:2::/h:/bin/sh\n\n#c\nb:x:y:1\nshort:x\nc:x:3:4\n\xff:x:5:5\n")
    assert [(e.name, e.uid, e.gid, e.home) for e in entries] == [
        ("a", 1, 2, "/h"),
        ("c", 3, 4, ""),
        ("\ufffd", 5, 5, ""),
    ]
    groups = parse_group(b"g:x:5:a,,b\nbad:x:q:\nh:x:6\n")
    assert [(g.name, g.gid, g.members) for g in groups] == [("g", 5, ("a", "b")), ("h", 6, ())]


# --- confinement ----------------------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A passwd file next to the rootfs that resolution must never read."""
    place = tmp_path / "outside"
    (place / "etc").mkdir(parents=True)
    (place / "etc" / "passwd").write_text("evil:x:0:0::/evil:/bin/sh\n")
    (place / "passwd").write_text("evil:x:0:0::/evil:/bin/sh\n")
    return place


def test_absolute_symlinks_resolve_inside_the_rootfs(tmp_path: Path, outside: Path) -> None:
    root = write_rootfs(tmp_path / "r", "", "")
    real = root / "usr" / "share"
    real.mkdir(parents=True)
    (real / "passwd").write_text("inside:x:7:7::/in:/bin/sh\n")
    (root / "etc" / "passwd").unlink()
    os.symlink("/usr/share/passwd", root / "etc" / "passwd")
    assert resolve_user(root, "inside").home == "/in"
    (root / "etc" / "passwd").unlink()
    os.symlink(str(outside / "passwd"), root / "etc" / "passwd")  # the host path, absolute
    with pytest.raises(UserError, match="unable to find user evil"):
        resolve_user(root, "evil")


def test_dotdot_symlinks_stop_at_the_rootfs(tmp_path: Path, outside: Path) -> None:
    root = write_rootfs(tmp_path / "r", "", "")
    (root / "etc" / "passwd").unlink()
    # from <tmp>/r/etc, "../../outside/passwd" is exactly <tmp>/outside/passwd on the host
    os.symlink("../../outside/passwd", root / "etc" / "passwd")
    with pytest.raises(UserError, match="unable to find user evil"):
        resolve_user(root, "evil")
    # a whole /etc pointing out
    os.rename(root / "etc", root / "etc.old")
    os.symlink("../outside/etc", root / "etc")  # from <tmp>/r: <tmp>/outside/etc on the host
    with pytest.raises(UserError, match="unable to find user evil"):
        resolve_user(root, "evil")
    assert read_in_root(root, "/etc/passwd") is None


def test_symlink_loops_and_odd_files_are_errors_not_hangs(tmp_path: Path) -> None:
    root = write_rootfs(tmp_path / "r", "", "")
    (root / "etc" / "passwd").unlink()
    os.symlink("passwd", root / "etc" / "passwd")
    with pytest.raises(UserError) as caught:
        resolve_user(root, "x")
    assert "unable to read /etc/passwd of the container" in one_line(caught)

    (root / "etc" / "passwd").unlink()
    os.mkfifo(root / "etc" / "passwd")
    done = threading.Event()
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            resolve_user(root, "x")
        except BaseException as exc:
            errors.append(exc)
        done.set()

    threading.Thread(target=attempt, daemon=True).start()
    assert done.wait(5), "reading a FIFO blocked"
    assert isinstance(errors[0], UserError) and "not a regular file" in str(errors[0])

    (root / "etc" / "passwd").unlink()
    (root / "etc" / "passwd").mkdir()
    with pytest.raises(UserError):
        resolve_user(root, "x")


def test_huge_files_are_refused(tmp_path: Path) -> None:
    root = write_rootfs(tmp_path / "r", "", "")
    with open(root / "etc" / "passwd", "wb") as handle:
        handle.truncate(64 * 1024 * 1024)
    with pytest.raises(UserError, match="larger than"):
        resolve_user(root, "x")
    assert read_in_root(root, "/etc/passwd", limit=1 << 30) is not None


def test_read_in_root_reads_exactly_the_file(tmp_path: Path) -> None:
    root = write_rootfs(tmp_path / "r", "p\n", "g\n")
    assert read_in_root(root, "/etc/passwd") == b"p\n"
    assert read_in_root(root, "etc/group") == b"g\n"
    assert read_in_root(root, "/etc/missing") is None
    assert read_in_root(root, "/nodir/passwd") is None
    with pytest.raises(IsADirectoryError):
        read_in_root(root, "/etc/..")
