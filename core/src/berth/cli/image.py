"""The image commands, as the docker CLI has them: `images`, `history`, `tag`, `rmi`, `save`,
`load`, `import`, the `image` group (`ls`, `inspect`, `history`, `tag`, `rm`, `save`, `load`,
`import`, `prune`) and `system df`. (The top-level `inspect`, which looks for containers first,
is in berth.cli.container.)

Module-level imports stay light (click only): each command imports what it needs when it runs.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any, BinaryIO

import click

from berth.cli import callbacks
from berth.cli.context import CliState, pass_state
from berth.cli.goflags import GoFlagsCommand

FORMAT_HELP = (
    "Format output: 'table', 'table TEMPLATE', 'json', or a Go template such as '{{.ID}}'."
)
INSPECT_FORMAT_HELP = "Format output using a Go template ('{{.Id}}'), or 'json' for one line."
NOT_FOUND = 404


def is_terminal(stream: IO[Any]) -> bool:
    """Whether a standard stream is a terminal (tests replace this)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def terminal_width() -> int:
    import shutil

    return shutil.get_terminal_size().columns


def _go_error(operation: str, path: str, exc: OSError) -> str:
    """An OSError in Go's words: `open /x: no such file or directory`."""
    what = exc.strerror or str(exc)
    return f"{operation} {path}: {what[:1].lower()}{what[1:]}"


def _echo_stream(messages: Iterable[Mapping[str, Any]]) -> None:
    """Show a JSON progress stream on stdout; an in-band error fails the command."""
    from berth.cli.jsonmessage import display

    stdout = sys.stdout
    terminal = is_terminal(stdout)

    def write(text: str) -> None:
        if text:
            click.echo(text, nl=False, color=terminal)  # cursor moves only on a terminal

    display(messages, write, terminal=terminal, width=terminal_width() if terminal else 80)


# --- images -------------------------------------------------------------------------------------


@click.command(cls=GoFlagsCommand)
@click.argument("repository", required=False, metavar="[REPOSITORY[:TAG]]")
@click.option(
    "-a", "--all", "all_", is_flag=True, help="Show all images (default hides intermediate images)."
)
@click.option("--digests", is_flag=True, help="Show digests.")
@click.option(
    "-f",
    "--filter",
    "filters",
    multiple=True,
    callback=callbacks.filters,
    metavar="FILTER",
    help="Filter output based on conditions provided (dangling=true, label=k=v, before=IMAGE, "
    "since=IMAGE, reference=PATTERN; repeatable).",
)
@click.option("--format", "format_", metavar="TEMPLATE", help=FORMAT_HELP)
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@pass_state
def images(
    state: CliState,
    repository: str | None,
    all_: bool,
    digests: bool,
    filters: dict[str, list[str]],
    format_: str | None,
    no_trunc: bool,
    quiet: bool,
) -> None:
    """List images."""
    from berth.cli import image_views as views

    text = views.images_text(
        state.api(),
        repository,
        all_=all_,
        digests=digests,
        filters=filters,
        format_=format_,
        no_trunc=no_trunc,
        quiet=quiet,
    )
    click.echo(text, nl=False)


def _render(layout: str, headers: Mapping[str, str], rows: list[dict[str, str]]) -> None:
    from berth.cli import image_views as views

    click.echo(views.render_rows(layout, headers, rows), nl=False)


# --- inspect ------------------------------------------------------------------------------------


def _inspect(
    names: tuple[str, ...], format_: str | None, lookup: Any, not_found: str | None = None
) -> None:
    """docker's inspect: every object found is printed, then every error; exit 1 if any."""
    from berth.cli import image_views as views
    from berth.client.errors import ClientError, DaemonError

    template = None
    if format_ and format_.strip() != "json":
        from berth.cli.format import Template

        template = Template(format_)  # a bad template fails before any request, as docker's
    found: list[Any] = []
    errors: list[str] = []
    for name in names:
        try:
            found.append(lookup(name))
        except DaemonError as exc:
            if exc.status == NOT_FOUND and not_found is not None:
                errors.append(not_found.format(name=name))
            else:
                errors.append(str(exc))
        except ClientError as exc:
            errors.append(str(exc))
    if template is not None:
        text = "".join(template.execute(value) + "\n" for value in found)
        click.echo(text or "\n", nl=False)
    elif format_:
        click.echo(views.compact_json(found), nl=False)
    else:
        click.echo(views.indented_json(found), nl=False)
    if errors:
        click.echo("\n".join(errors), err=True)
        raise click.exceptions.Exit(1)


@click.command("inspect")
@click.option("-f", "--format", "format_", metavar="TEMPLATE", help=INSPECT_FORMAT_HELP)
@click.argument("names", nargs=-1, required=True, metavar="IMAGE [IMAGE...]")
@pass_state
def image_inspect(state: CliState, format_: str | None, names: tuple[str, ...]) -> None:
    """Display detailed information on one or more images."""
    from berth.client import images as api_images

    api = state.api()
    _inspect(names, format_, lambda name: api_images.inspect_image(api, name))


# --- history ------------------------------------------------------------------------------------


@click.command(cls=GoFlagsCommand)
@click.option("--format", "format_", metavar="TEMPLATE", help=FORMAT_HELP)
@click.option(
    "-H",
    "--human/--no-human",
    default=True,
    help="Print sizes and dates in human readable format (default true; -H=false for raw).",
)
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.argument("image")
@pass_state
def history(
    state: CliState, format_: str | None, human: bool, no_trunc: bool, quiet: bool, image: str
) -> None:
    """Show the history of an image."""
    from berth.cli import image_views as views
    from berth.client import images as api_images

    layers = api_images.image_history(state.api(), image)
    rows = views.history_rows(layers, trunc=not no_trunc, human=human)
    _render(views.history_format(format_, quiet=quiet, human=human), views.HISTORY_HEADERS, rows)


# --- tag, rmi -----------------------------------------------------------------------------------


@click.command()
@click.argument("source", metavar="SOURCE_IMAGE[:TAG]")
@click.argument("target", metavar="TARGET_IMAGE[:TAG]")
@pass_state
def tag(state: CliState, source: str, target: str) -> None:
    """Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE."""
    from berth.client import images as api_images

    api_images.tag_image(state.api(), source, target)


@click.command(cls=GoFlagsCommand)
@click.option("-f", "--force", is_flag=True, help="Force removal of the image.")
@click.option("--no-prune", is_flag=True, help="Do not delete untagged parents.")
@click.argument("names", nargs=-1, required=True, metavar="IMAGE [IMAGE...]")
@pass_state
def rmi(state: CliState, force: bool, no_prune: bool, names: tuple[str, ...]) -> None:
    """Remove one or more images."""
    from berth.cli.errors import CliError
    from berth.client import images as api_images
    from berth.client.errors import ClientError, DaemonError

    api = state.api()
    errors: list[str] = []
    fatal = False
    for name in names:
        try:
            removed = api_images.remove_image(api, name, force=force, prune=not no_prune)
        except ClientError as exc:
            if not (isinstance(exc, DaemonError) and exc.status == NOT_FOUND):
                fatal = True
            errors.append(str(exc))
            continue
        for item in removed:
            if item.get("Deleted"):
                click.echo(f"Deleted: {item['Deleted']}")
            else:
                click.echo(f"Untagged: {item.get('Untagged', '')}")
    if errors:
        message = "\n".join(errors)
        if not force or fatal:
            raise CliError(message)
        click.echo(message, err=True)


# --- save, load, import -------------------------------------------------------------------------


def _check_output_path(path: str) -> None:
    """docker's ValidateOutputPath, in its words (prefixed "failed to save image: ")."""
    import stat

    from berth.cli.errors import CliError

    prefix = "failed to save image: "
    directory = os.path.dirname(os.path.normpath(path))
    if directory not in ("", "."):
        try:
            os.stat(directory)
        except OSError as exc:
            message = "invalid output path: " + _go_error("stat", directory, exc)
            raise CliError(prefix + message) from None
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise CliError(prefix + _go_error("stat", path, exc)) from None
    kinds = (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device file"),
        (stat.S_ISBLK, "a block device file"),
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
    )
    for test, what in kinds:
        if test(mode):
            raise CliError(f"{prefix}cannot write to {what}")


def _write_to_file(path: str, chunks: Iterator[bytes]) -> None:
    """Into a temporary file next to `path`, renamed over it only once complete."""
    import tempfile

    from berth.cli.errors import CliError

    first = next(chunks, b"")  # the daemon's errors (no such image) come before any file
    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, temp = tempfile.mkstemp(prefix=".berth_temp_", dir=directory)
    except OSError as exc:
        raise CliError("failed to save image: " + _go_error("open", path, exc)) from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(first)
            for chunk in chunks:
                out.write(chunk)
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise CliError("failed to save image: " + _go_error("write", path, exc)) from None
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@click.command(short_help="Save one or more images to a tar archive.")
@click.option("-o", "--output", metavar="FILE", help="Write to a file, instead of STDOUT.")
@click.argument("names", nargs=-1, required=True, metavar="IMAGE [IMAGE...]")
@pass_state
def save(state: CliState, output: str | None, names: tuple[str, ...]) -> None:
    """Save one or more images to a tar archive (streamed to STDOUT by default)."""
    from berth.cli.errors import CliError
    from berth.client import images as api_images

    if not output and is_terminal(sys.stdout):
        raise CliError("cowardly refusing to save to a terminal. Use the -o flag or redirect")
    if output:
        _check_output_path(output)
    chunks = api_images.save_images(state.api(), list(names))
    if output:
        _write_to_file(output, chunks)
        return
    stdout = sys.stdout.buffer
    for chunk in chunks:
        stdout.write(chunk)
    stdout.flush()


def _open_input(path: str) -> BinaryIO:
    from berth.cli.errors import CliError

    try:
        return open(path, "rb")
    except OSError as exc:
        raise CliError(_go_error("open", path, exc)) from None


@click.command(cls=GoFlagsCommand)
@click.option(
    "-i", "--input", "input_", metavar="FILE", help="Read from tar archive file, instead of STDIN."
)
@click.option("-q", "--quiet", is_flag=True, help="Suppress the load output.")
@click.option(
    "--platform",
    default="",
    metavar="OS/ARCH",
    help="Load only this platform's variant of a multi-platform archive.",
)
@pass_state
def load(state: CliState, input_: str | None, quiet: bool, platform: str) -> None:
    """Load an image from a tar archive or STDIN.

    The archive is Docker's (`docker save`) or an OCI image layout, plain or gzip-compressed.
    """
    from berth.cli.errors import CliError
    from berth.client import images as api_images

    if input_:
        archive = _open_input(input_)
    else:
        stdin = sys.stdin.buffer
        if is_terminal(stdin):
            raise CliError("requested load from stdin, but stdin is empty")
        archive = stdin
    if not is_terminal(sys.stdout):
        quiet = True
    try:
        _echo_stream(api_images.load_images(state.api(), archive, quiet=quiet, platform=platform))
    finally:
        if input_:
            archive.close()


@click.command("import", cls=GoFlagsCommand)
@click.option(
    "-c",
    "--change",
    "changes",
    multiple=True,
    metavar="LIST",
    help="Apply Dockerfile instruction to the created image (CMD, ENV, ...; repeatable).",
)
@click.option("-m", "--message", default="", metavar="STRING", help="Set commit message.")
@click.option(
    "--platform", default="", metavar="OS/ARCH", help="Set the platform of the image (linux/arm64)."
)
@click.argument("source", metavar="file|-")
@click.argument("reference", required=False, default="", metavar="[REPOSITORY[:TAG]]")
@pass_state
def import_(
    state: CliState,
    changes: tuple[str, ...],
    message: str,
    platform: str,
    source: str,
    reference: str,
) -> None:
    """Import the contents from a tarball to create a filesystem image.

    The tarball is a file, or - for STDIN (a URL is not accepted: download it first).
    """
    from berth.cli.errors import CliError
    from berth.client import images as api_images

    if source.startswith(("http://", "https://")):
        raise CliError(
            f"berth import reads a file or - (stdin), not a URL: download {source} first, "
            "then import the file"
        )
    if source == "-":
        stdin = sys.stdin.buffer
        if is_terminal(stdin):
            raise CliError("requested import from stdin, but stdin is a terminal: pipe a tarball")
        rootfs: BinaryIO = stdin
    else:
        rootfs = _open_input(source)
    try:
        messages = api_images.import_image(
            state.api(),
            rootfs,
            reference=reference,
            message=message,
            changes=changes,
            platform=platform,
        )
        _echo_stream(messages)
    finally:
        if source != "-":
            rootfs.close()


# --- prune --------------------------------------------------------------------------------------

DANGLING_WARNING = """WARNING! This will remove all dangling images.
Are you sure you want to continue?"""
ALL_WARNING = """WARNING! This will remove all images without at least one container associated \
to them.
Are you sure you want to continue?"""


def confirm(message: str) -> bool:
    """docker's PromptForConfirmation: `[y/N]`, only "y" or "Y" (spaces aside) says yes."""
    click.echo(f"{message} [y/N] ", nl=False)
    return sys.stdin.readline().strip().lower() == "y"


@click.command(cls=GoFlagsCommand)
@click.option(
    "-a", "--all", "all_", is_flag=True, help="Remove all unused images, not just dangling ones."
)
@click.option(
    "--filter",
    "filters",
    multiple=True,
    callback=callbacks.filters,
    metavar="FILTER",
    help='Provide filter values (e.g. "until=<timestamp>", "label=k=v").',
)
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@pass_state
def prune(state: CliState, all_: bool, filters: dict[str, list[str]], force: bool) -> None:
    """Remove unused images."""
    from berth.cli.jsonmessage import human_size
    from berth.client import images as api_images

    filters.setdefault("dangling", []).append("false" if all_ else "true")
    if not force and not confirm(ALL_WARNING if all_ else DANGLING_WARNING):
        return  # cancelled: docker says nothing more and exits 0
    report = api_images.prune_images(state.api(), filters)
    deleted = [d for d in report.get("ImagesDeleted") or [] if isinstance(d, dict)]
    reclaimed = 0
    if deleted:
        lines = ["Deleted Images:"]
        for item in deleted:
            if item.get("Untagged"):
                lines.append(f"untagged: {item['Untagged']}")
            else:
                lines.append(f"deleted: {item.get('Deleted', '')}")
        click.echo("\n".join(lines) + "\n")
        value = report.get("SpaceReclaimed")
        reclaimed = value if isinstance(value, int) else 0
    click.echo(f"Total reclaimed space: {human_size(reclaimed)}")


# --- system df ----------------------------------------------------------------------------------


@click.command(cls=GoFlagsCommand)
@click.option("--format", "format_", metavar="TEMPLATE", help=FORMAT_HELP)
@click.option("-v", "--verbose", is_flag=True, help="Show detailed information on space usage.")
@pass_state
def df(state: CliState, format_: str | None, verbose: bool) -> None:
    """Show berth disk usage."""
    from berth.cli import image_views as views
    from berth.cli.format import ListFormat
    from berth.client import images as api_images

    usage = api_images.disk_usage(state.api())
    if not verbose:
        layout = ListFormat.from_option(format_, views.DF_TABLE, views.DF_HEADERS)
        click.echo(layout.render(views.df_summary_rows(usage)), nl=False)
        return
    text = (format_ or "").strip()
    if text in ("", "table"):
        click.echo(_df_verbose_tables(usage), nl=False)
        return
    json_out = text == "json"  # docker's JSON has full IDs and no digest here
    data = {
        "Images": views.df_image_rows(usage, trunc=not json_out, digest="" if json_out else None),
        "Containers": views.df_container_rows(usage),
        "Volumes": views.df_volume_rows(usage),
        "BuildCache": views.df_cache_rows(usage),
    }
    if json_out:
        from berth.cli.template import go_json

        click.echo(go_json(data))
        return
    from berth.cli.format import Template

    click.echo(Template(format_ or "").execute(data))


def _df_verbose_tables(usage: Mapping[str, Any]) -> str:
    from berth.cli import image_views as views
    from berth.cli.format import ListFormat
    from berth.cli.jsonmessage import human_size

    def table(template: str, headers: Mapping[str, str], rows: list[dict[str, str]]) -> str:
        return ListFormat.from_option("table " + template, "", headers).render(rows)

    builder = usage.get("BuilderSize")
    parts = [
        "Images space usage:\n\n",
        table(views.DF_IMAGES_TABLE, views.IMAGE_HEADERS, views.df_image_rows(usage)),
        "\nContainers space usage:\n\n",
        table(
            views.DF_CONTAINERS_TABLE, views.DF_CONTAINER_HEADERS, views.df_container_rows(usage)
        ),
        "\nLocal Volumes space usage:\n\n",
        table(views.DF_VOLUMES_TABLE, views.DF_VOLUME_HEADERS, views.df_volume_rows(usage)),
        f"\nBuild cache usage: {human_size(builder if isinstance(builder, int) else 0)}\n\n",
        table(views.DF_CACHE_TABLE, views.DF_CACHE_HEADERS, views.df_cache_rows(usage)),
    ]
    return "".join(parts)


# --- the image group ----------------------------------------------------------------------------


@click.group()
def image() -> None:
    """Manage images."""


image.add_command(images, "ls")
image.add_command(images, "list")
image.add_command(image_inspect, "inspect")
image.add_command(history, "history")
image.add_command(tag, "tag")
image.add_command(rmi, "rm")
image.add_command(rmi, "remove")
image.add_command(save, "save")
image.add_command(load, "load")
image.add_command(import_, "import")
image.add_command(prune, "prune")

#: the top-level shortcuts docker has: (command, name)
TOP_LEVEL = (
    (images, "images"),
    (history, "history"),
    (tag, "tag"),
    (rmi, "rmi"),
    (save, "save"),
    (load, "load"),
    (import_, "import"),
)
