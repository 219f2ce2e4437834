"""The container file commands, as the docker CLI (28) has them: `cp`, `export`, `diff`,
`commit` (top level and under `container`).

Module-level imports stay light (click only): each command imports what it needs when it runs.
"""

from __future__ import annotations

import sys

import click

from berth.cli.context import CliState, pass_state
from berth.cli.dockererrors import DockerCommand
from berth.cli.errors import CliError

CHANGE_KINDS = {0: "C", 1: "A", 2: "D"}
CP_USE = (
    "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH"
)


@click.command("cp", cls=DockerCommand, use=CP_USE, min_args=2, max_args=2)
@click.option("-a", "--archive", is_flag=True,
              help="Archive mode (copy all uid/gid information)")  # fmt: skip
@click.option("-L", "--follow-link", is_flag=True,
              help="Always follow symbol link in SRC_PATH")  # fmt: skip
@click.option("-q", "--quiet", is_flag=True,
              help="Suppress progress output during copy. Progress output is automatically "
              "suppressed if no terminal is attached to STDERR")  # fmt: skip
@click.argument("args", nargs=-1, metavar="SRC DEST")
@pass_state
def cp(
    state: CliState, archive: bool, follow_link: bool, quiet: bool, args: tuple[str, ...]
) -> None:
    """Copy files/folders between a container and the local filesystem.

    Use '-' as the source to read a tar archive from stdin and extract it to a directory
    destination in a container. Use '-' as the destination to stream a tar archive of a
    container source to stdout.
    """
    from berth.cli.copying import split_cp_arg

    source, destination = args
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
    api = state.api()
    if src_container:
        copied = _from_container(api, src_container, src_path, dst_path, follow_link, archive)
        where = dst_path
    else:
        copied = _to_container(api, dst_container, src_path, dst_path, follow_link, archive)
        where = destination
    if copied >= 0 and not quiet and sys.stderr.isatty():
        from berth.cli.jsonmessage import human_size

        click.echo(f"Successfully copied {human_size(copied, 3)} to {where}", err=True)


def _from_container(
    api: object, container: str, src_path: str, dst_path: str, follow: bool, archive: bool
) -> int:
    import os

    from berth.cli.copying import CopyInfo, rebase_name, split_path_dir_entry, untar_to_host
    from berth.client import fileops
    from berth.client.api import APIClient

    assert isinstance(api, APIClient)
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
        count = 0
        for chunk in chunks:
            out.write(chunk)
            count += len(chunk)
        out.flush()
        return -1
    is_dir = bool(int(found.get("mode", 0)) & fileops.MODE_DIR)
    src = CopyInfo(src_path, True, is_dir, renamed)
    return untar_to_host(chunks, src, dst_path, archive)


def _to_container(
    api: object, container: str, src_path: str, dst_path: str, follow: bool, archive: bool
) -> int:
    import os

    from berth.cli.copying import CopyInfo, prepare, source_info, split_path_dir_entry, tar_source
    from berth.client import fileops
    from berth.client.api import APIClient

    assert isinstance(api, APIClient)
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
        return -1
    src = source_info(os.path.abspath(src_path) + ("/" if src_path.endswith("/") else ""), follow)
    if src_path.endswith("/.") or src_path == ".":
        src.path = src.path.rstrip("/") + "/." if not src.path.endswith("/.") else src.path
    dst_dir, renaming = prepare(src, dst)
    fileops.put_archive(api, container, dst_dir, tar_source(src, renaming), copy_uid_gid=archive)
    return _size_of(src.path)


def _size_of(path: str) -> int:
    import contextlib
    import os

    total = 0
    if not os.path.isdir(path):
        return os.lstat(path).st_size
    for top, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(top, name)).st_size
    return total


@click.command("export", cls=DockerCommand, use="[OPTIONS] CONTAINER", min_args=1, max_args=1)
@click.option("-o", "--output", default="", metavar="string",
              help="Write to a file, instead of STDOUT")  # fmt: skip
@click.argument("args", nargs=-1, metavar="CONTAINER")
@pass_state
def export(state: CliState, output: str, args: tuple[str, ...]) -> None:
    """Export a container's filesystem as a tar archive."""
    import os

    from berth.client import fileops

    (ref,) = args
    if not output and sys.stdout.isatty():
        raise CliError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    chunks = fileops.export(state.api(), ref)
    if not output:
        out = sys.stdout.buffer
        for chunk in chunks:
            out.write(chunk)
        out.flush()
        return
    partial = f"{output}.berth-partial-{os.getpid()}"
    try:
        with open(partial, "wb") as sink:
            for chunk in chunks:
                sink.write(chunk)
        os.replace(partial, output)
    except OSError as exc:
        raise CliError(f"failed to export container: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


@click.command("diff", cls=DockerCommand, use="CONTAINER", min_args=1, max_args=1)
@click.argument("args", nargs=-1, metavar="CONTAINER")
@pass_state
def diff(state: CliState, args: tuple[str, ...]) -> None:
    """Inspect changes to files or directories on a container's filesystem."""
    from berth.client import fileops

    (ref,) = args
    for change in fileops.changes(state.api(), ref):
        kind = CHANGE_KINDS.get(int(change.get("Kind", 0)), "?")
        click.echo(f"{kind} {change.get('Path', '')}")


@click.command("commit", cls=DockerCommand, use="[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
               min_args=1, max_args=2)  # fmt: skip
@click.option("-a", "--author", default="", metavar="string",
              help='Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")')  # fmt: skip
@click.option("-c", "--change", "changes", multiple=True, metavar="list",
              help="Apply Dockerfile instruction to the created image")  # fmt: skip
@click.option("-m", "--message", default="", metavar="string", help="Commit message")
@click.option("-p", "--pause/--no-pause", default=True,
              help="Pause container during commit (default true)")  # fmt: skip
@click.argument("args", nargs=-1, metavar="CONTAINER [REPOSITORY[:TAG]]")
@pass_state
def commit(
    state: CliState,
    author: str,
    changes: tuple[str, ...],
    message: str,
    pause: bool,
    args: tuple[str, ...],
) -> None:
    """Create a new image from a container's changes."""
    from berth.client import fileops

    ref = args[0]
    repo, tag = _repo_tag(args[1]) if len(args) > 1 else ("", "")
    image_id = fileops.commit(
        state.api(),
        ref,
        repo=repo,
        tag=tag,
        comment=message,
        author=author,
        changes=changes,
        pause=pause,
    )
    click.echo(image_id)


def _repo_tag(text: str) -> tuple[str, str]:
    """`REPOSITORY[:TAG]` split (a `:` in a registry's host:port is no tag)."""
    if "@" in text:
        raise CliError(f"refusing to create a tag with a digest reference: {text}")
    repo, sep, tag = text.rpartition(":")
    if not sep or "/" in tag:
        return text, ""
    return repo, tag


#: the commands: (command, name), top level and under `container`
COMMANDS = ((cp, "cp"), (export, "export"), (diff, "diff"), (commit, "commit"))
