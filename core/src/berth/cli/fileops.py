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
    from berth.cli.fileops_run import copy

    source, destination = args
    copy(state.api(), source, destination, follow=follow_link, archive=archive, quiet=quiet)


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
    from berth.cli.fileops_run import commit as commit_image

    target = args[1] if len(args) > 1 else None
    image_id = commit_image(
        state.api(),
        args[0],
        target,
        author=author,
        changes=changes,
        message=message,
        pause=pause,
    )
    click.echo(image_id)


#: the commands: (command, name), top level and under `container`
COMMANDS = ((cp, "cp"), (export, "export"), (diff, "diff"), (commit, "commit"))
