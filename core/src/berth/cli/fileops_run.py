"""What `berth cp` and `berth commit` do once their flags are read, without click: the full
CLI's commands (`berth.cli.fileops`) and the lean path (`berth.cli.fastpath`) both run these.

Errors are CliError or ClientError (one line, exit status 1, as the full CLI prints them).
Module-level imports stay light: each step imports what it needs when it runs.
"""

from __future__ import annotations

import os
import sys

from berth.cli.errors import CliError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

    from berth.client.api import APIClient


def copy(
    api: APIClient, source: str, destination: str, *, follow: bool, archive: bool, quiet: bool
) -> None:
    """`cp SRC DEST`: one side `CONTAINER:PATH`, the other a host path or `-`."""
    from berth.cli.copying import split_cp_arg

    if not source:
        raise CliError("source can not be empty")
    if not destination:
        raise CliError("destination can not be empty")
    src_container, src_path = split_cp_arg(source)
    dst_container, dst_path = split_cp_arg(destination)
    if src_container and dst_container:
        raise CliError("copying between containers is not supported")
    if not src_container and not dst_container:
        raise CliError("must specify at least one container source")
    # The size is only said on a terminal: counting it means walking the source again.
    say_size = not quiet and sys.stderr.isatty()
    if src_container:
        copied = _from_container(api, src_container, src_path, dst_path, follow, archive)
        where = dst_path
    else:
        sent = _to_container(api, dst_container, src_path, dst_path, follow, archive)
        copied = _size_of(sent) if sent and say_size else -1
        where = destination
    if copied >= 0 and say_size:
        from berth.cli.jsonmessage import human_size

        sys.stderr.write(f"Successfully copied {human_size(copied, 3)} to {where}\n")


def _from_container(
    api: APIClient, container: str, src_path: str, dst_path: str, follow: bool, archive: bool
) -> int:
    from berth.cli.copying import CopyInfo, rebase_name, split_path_dir_entry, untar_to_host
    from berth.client import fileops

    renamed = ""
    if follow:
        found = fileops.stat_path(api, container, src_path)
        if found is not None and int(found.get("mode", 0)) & fileops.MODE_SYMLINK:
            target = str(found.get("linkTarget") or "")
            if not target.startswith("/"):
                target = os.path.join(split_path_dir_entry(src_path)[0], target)
            src_path, renamed = rebase_name(src_path, target)
    found, chunks = fileops.get_archive(api, container, src_path)
    if dst_path == "-":
        out = sys.stdout.buffer
        for chunk in chunks:
            out.write(chunk)
        out.flush()
        return -1
    is_dir = bool(int(found.get("mode", 0)) & fileops.MODE_DIR)
    src = CopyInfo(src_path, True, is_dir, renamed)
    return untar_to_host(chunks, src, dst_path, archive)


def _to_container(
    api: APIClient, container: str, src_path: str, dst_path: str, follow: bool, archive: bool
) -> str:
    """Send the host's ``src_path`` (or stdin's tar, for ``-``); the host path sent, or ``""``
    for stdin."""
    from berth.cli.copying import CopyInfo, prepare, source_info, split_path_dir_entry, tar_source
    from berth.client import fileops

    dst = CopyInfo(dst_path)
    found = fileops.stat_path(api, container, dst_path)
    if found is not None and int(found.get("mode", 0)) & fileops.MODE_SYMLINK:
        target = str(found.get("linkTarget") or "")
        if not target.startswith("/"):
            target = os.path.join(split_path_dir_entry(dst_path)[0], target)
        dst.path = target
        found = fileops.stat_path(api, container, target)
    if found is not None:
        mode = int(found.get("mode", 0))
        dst.exists, dst.is_dir = True, bool(mode & fileops.MODE_DIR)
    if src_path == "-":
        if not dst.is_dir:
            raise CliError(f'destination "{container}:{dst_path}" must be a directory')
        stdin = sys.stdin.buffer
        if stdin.isatty():
            raise CliError("the source is stdin, which is a terminal: pipe a tar archive into it")
        fileops.put_archive(api, container, dst.path, stdin, copy_uid_gid=archive)
        return ""
    src = source_info(os.path.abspath(src_path) + ("/" if src_path.endswith("/") else ""), follow)
    if src_path.endswith("/.") or src_path == ".":
        src.path = src.path.rstrip("/") + "/." if not src.path.endswith("/.") else src.path
    dst_dir, renaming = prepare(src, dst)
    fileops.put_archive(api, container, dst_dir, tar_source(src, renaming), copy_uid_gid=archive)
    return src.path


def _size_of(path: str) -> int:
    import contextlib

    total = 0
    if not os.path.isdir(path):
        return os.lstat(path).st_size
    for top, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(top, name)).st_size
    return total


def commit(
    api: APIClient,
    ref: str,
    target: str | None,
    *,
    author: str = "",
    changes: Sequence[str] = (),
    message: str = "",
    pause: bool = True,
) -> str:
    """`commit CONTAINER [REPOSITORY[:TAG]]`: the new image's ID."""
    from berth.client import fileops

    repo, tag = repo_tag(target) if target else ("", "")
    return fileops.commit(
        api,
        ref,
        repo=repo,
        tag=tag,
        comment=message,
        author=author,
        changes=changes,
        pause=pause,
    )


def repo_tag(text: str) -> tuple[str, str]:
    """`REPOSITORY[:TAG]` split (a `:` in a registry's host:port is no tag)."""
    if "@" in text:
        raise CliError(f"refusing to create a tag with a digest reference: {text}")
    repo, sep, tag = text.rpartition(":")
    if not sep or "/" in tag:
        return text, ""
    return repo, tag
