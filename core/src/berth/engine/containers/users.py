"""``-u``/``--user`` and ``--group-add``: who the container's process runs as.

Resolved from the image's own ``/etc/passwd`` and ``/etc/group``, with the rules of runc's
``GetExecUser`` that Docker uses: ``""`` is uid 0; ``name`` and ``uid`` are looked up in passwd
(a numeric uid needs no entry); ``user:group`` sets the primary group explicitly (a numeric gid
needs no entry); a user found by name or uid without an explicit group gets the groups listing
it as a member as supplementary groups; ``HOME`` is the passwd entry's, else ``/``.

The files are read *inside* the root file system: every symlink on the way is resolved as if
the rootfs were ``/`` (``/etc/passwd -> /usr/share/…`` works; ``-> ../../../etc/shadow`` stays
inside), only regular files are read, and at most :data:`MAX_FILE` bytes of them.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from berth.engine.errors import BadParameter
from berth.plugins.layers.rootfs import open_dir

MAX_ID = 2**31 - 1
MAX_FILE = 16 * 1024 * 1024
_MAX_LINKS = 40
_RANGE = "uids and gids must be in range 0-2147483647"


class UserError(BadParameter):
    """The user or a group cannot be resolved (Docker's and runc's texts)."""


@dataclass(frozen=True)
class ResolvedUser:
    uid: int = 0
    gid: int = 0
    #: The primary gid first, then supplementary groups, then ``--group-add`` (Docker's order).
    additional_gids: tuple[int, ...] = (0,)
    home: str = "/"
    #: The passwd name that matched, "" when none did.
    name: str = ""


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


def read_in_root(rootfs: str | Path, path: str, limit: int = MAX_FILE) -> bytes | None:
    """The contents of the regular file ``path`` of the root file system ``rootfs``, following
    symlinks as if ``rootfs`` were ``/``; None when it does not exist. Raises OSError when it
    is not a regular file or is larger than ``limit``."""
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        target = path
        for _ in range(_MAX_LINKS):
            parent, _, leaf = target.strip("/").rpartition("/")
            if leaf in ("", ".", ".."):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
            try:
                dir_fd = open_dir(root_fd, os.fsencode(parent), follow=True)
            except (FileNotFoundError, NotADirectoryError):
                return None
            try:
                fd = os.open(
                    leaf,
                    os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC,
                    dir_fd=dir_fd,
                )
            except FileNotFoundError:
                return None
            except OSError as exc:
                if exc.errno != errno.ELOOP:
                    raise
                link = os.readlink(leaf, dir_fd=dir_fd)
                target = link if link.startswith("/") else f"{parent}/{link}"
                continue
            finally:
                os.close(dir_fd)
            try:
                info = os.fstat(fd)
                if not stat.S_ISREG(info.st_mode):
                    raise OSError(errno.EINVAL, "not a regular file", path)
                if info.st_size > limit:
                    raise OSError(errno.EFBIG, f"larger than {limit} bytes", path)
                chunks = []
                size = 0
                while chunk := os.read(fd, 65536):
                    size += len(chunk)
                    if size > limit:
                        raise OSError(errno.EFBIG, f"larger than {limit} bytes", path)
                    chunks.append(chunk)
                return b"".join(chunks)
            finally:
                os.close(fd)
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
    finally:
        os.close(root_fd)


def _number(text: str) -> int | None:
    text = text.strip()
    if not text or not (text.isdigit() or (text[0] in "+-" and text[1:].isdigit())):
        return None
    return int(text)


def parse_passwd(data: bytes) -> list[PasswdEntry]:
    """The entries of a passwd file; lines that are blank, comments or malformed are skipped."""
    entries = []
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":")
        if len(fields) < 4:
            continue
        uid, gid = _number(fields[2]), _number(fields[3])
        if uid is None or gid is None:
            continue
        home = fields[5] if len(fields) > 5 else ""
        entries.append(PasswdEntry(fields[0], uid, gid, home))
    return entries


def parse_group(data: bytes) -> list[GroupEntry]:
    entries = []
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":")
        if len(fields) < 3:
            continue
        gid = _number(fields[2])
        if gid is None:
            continue
        members = tuple(m for m in (fields[3].split(",") if len(fields) > 3 else ()) if m)
        entries.append(GroupEntry(fields[0], gid, members))
    return entries


def _read(rootfs: str | Path, path: str) -> bytes | None:
    try:
        return read_in_root(rootfs, path)
    except OSError as exc:
        raise UserError(f"unable to read {path} of the container: {exc.strerror or exc}") from None


def _in_range(value: int) -> int:
    if not 0 <= value <= MAX_ID:
        raise UserError(_RANGE)
    return value


def resolve_user(rootfs: str | Path, user: str = "", group_add: Sequence[str] = ()) -> ResolvedUser:
    """Resolve ``user`` (``""``, ``name``, ``uid``, ``name:group``, ``uid:gid``, …) and the
    ``--group-add`` groups against the rootfs's passwd and group files. Raises UserError with
    Docker's texts (``unable to find user nope: no matching entries in passwd file``)."""
    passwd_data = _read(rootfs, "/etc/passwd")
    group_data = _read(rootfs, "/etc/group")
    passwd = parse_passwd(passwd_data) if passwd_data is not None else []
    groups = parse_group(group_data) if group_data is not None else []
    return resolve_user_from(passwd, groups, user, group_add)


def resolve_user_from(
    passwd: Sequence[PasswdEntry],
    groups: Sequence[GroupEntry],
    user: str = "",
    group_add: Sequence[str] = (),
) -> ResolvedUser:
    """:func:`resolve_user` on parsed files (no file means an empty list)."""
    user_arg, _, group_arg = user.partition(":")
    uid_arg = _number(user_arg)
    gid_arg = _number(group_arg)

    uid, gid, home, matched = 0, 0, "/", ""
    if user_arg == "":
        found = next((e for e in passwd if e.uid == 0), None)
    elif uid_arg is not None:
        found = next((e for e in passwd if e.uid == uid_arg), None)
    else:
        found = next((e for e in passwd if e.name == user_arg), None)
    if found is not None:
        uid, gid, home, matched = found.uid, found.gid, found.home or "/", found.name
    elif user_arg != "":
        if uid_arg is None:
            raise UserError(f"unable to find user {user_arg}: no matching entries in passwd file")
        uid = _in_range(uid_arg)

    supplementary: list[int] = []
    if group_arg != "":
        if gid_arg is not None:
            match = next((g for g in groups if g.gid == gid_arg), None)
        else:
            match = next((g for g in groups if g.name == group_arg), None)
        if match is not None:
            gid = match.gid
        elif gid_arg is None:
            raise UserError(f"unable to find group {group_arg}: no matching entries in group file")
        else:
            gid = _in_range(gid_arg)
    elif matched:
        supplementary = [g.gid for g in groups if matched in g.members]

    extra = additional_groups(groups, group_add) if group_add else []
    ordered: list[int] = []
    for value in (gid, *supplementary, *extra):
        if value not in ordered:
            ordered.append(value)
    return ResolvedUser(uid, gid, tuple(ordered), home, matched)


def additional_groups(groups: Sequence[GroupEntry], wanted: Sequence[str]) -> list[int]:
    """The gids of ``--group-add`` values: a group name or gid from the group file, or any
    number in range. Raises UserError (``Unable to find group nope: …``)."""
    result: list[int] = []
    for item in wanted:
        match = next((g for g in groups if g.name == item or str(g.gid) == item), None)
        if match is not None:
            gid = match.gid
        else:
            number = _number(item)
            if number is None:
                raise UserError(f"Unable to find group {item}: no matching entries in group file")
            gid = _in_range(number)
        if gid not in result:
            result.append(gid)
    return result
