"""`berth build` (and `berth image build`, `berth builder build`, `berth builder prune`): the
classic builder's client side, as `DOCKER_BUILDKIT=0 docker build` behaves. The work is in
`berth.cli.buildrun`, which the lean entry point uses too.

Module-level imports stay light (click only): the rest is imported when a command runs.
"""

from __future__ import annotations

import sys

import click

from berth.cli import callbacks
from berth.cli.context import CliState, pass_state
from berth.cli.goflags import GoFlagsCommand


@click.command(cls=GoFlagsCommand)
@click.argument("path", metavar="PATH | -")
@click.option(
    "-t",
    "--tag",
    "tags",
    multiple=True,
    metavar="NAME[:TAG]",
    help="Name and optionally a tag (repeatable).",
)
@click.option(
    "-f",
    "--file",
    "dockerfile",
    default="",
    metavar="FILE",
    help="Name of the Dockerfile (default: PATH/Dockerfile; - reads it from STDIN).",
)
@click.option(
    "--build-arg",
    "build_args",
    multiple=True,
    metavar="KEY[=VALUE]",
    help="Set build-time variables (repeatable).",
)
@click.option("--target", default="", metavar="STAGE", help="Set the target build stage to build.")
@click.option(
    "--label",
    "labels",
    multiple=True,
    metavar="KEY=VALUE",
    help="Set metadata for an image (repeatable).",
)
@click.option("--iidfile", default="", metavar="FILE", help="Write the image ID to the file.")
@click.option(
    "-q", "--quiet", is_flag=True, help="Suppress the build output and print image ID on success."
)
@click.option("--no-cache", is_flag=True, help="Do not use cache when building the image.")
@click.option("--pull", is_flag=True, help="Always attempt to pull a newer version of the image.")
@click.option(
    "--network",
    default="default",
    metavar="NETWORK",
    help="Set the networking mode for the RUN instructions during build.",
)
@click.option(
    "--platform",
    default="",
    envvar="DOCKER_DEFAULT_PLATFORM",
    metavar="OS/ARCH",
    help="Set platform if server is multi-platform capable.",
)
@click.option(
    "--cache-from",
    "cache_from",
    multiple=True,
    metavar="IMAGE",
    help="Images to consider as cache sources (repeatable).",
)
@click.option(
    "--rm/--no-rm",
    "remove",
    default=True,
    help="Remove intermediate containers after a successful build (default true).",
)
@click.option("--force-rm", is_flag=True, help="Always remove intermediate containers.")
@click.option("--compress", is_flag=True, help="Compress the build context using gzip.")
@click.option(
    "--disable-content-trust",
    is_flag=True,
    default=True,
    hidden=True,
    help="Accepted for docker's scripts; berth does not verify image signatures.",
)
@pass_state
def build(
    state: CliState,
    path: str,
    tags: tuple[str, ...],
    dockerfile: str,
    build_args: tuple[str, ...],
    target: str,
    labels: tuple[str, ...],
    iidfile: str,
    quiet: bool,
    no_cache: bool,
    pull: bool,
    network: str,
    platform: str,
    cache_from: tuple[str, ...],
    remove: bool,
    force_rm: bool,
    compress: bool,
    disable_content_trust: bool,
) -> None:
    """Build an image from a Dockerfile."""
    from berth.cli.buildrun import BuildRequest, run
    from berth.cli.image import is_terminal, terminal_width

    request = BuildRequest(path)
    request.tags, request.dockerfile, request.build_args = list(tags), dockerfile, list(build_args)
    request.target, request.labels, request.iidfile = target, list(labels), iidfile
    request.quiet, request.no_cache, request.pull = quiet, no_cache, pull
    request.network, request.platform, request.cache_from = network, platform, list(cache_from)
    request.remove, request.force_rm, request.compress = remove, force_rm, compress
    terminal = is_terminal(sys.stdout)
    code = run(request, state.api(), terminal, terminal_width() if terminal else 80)
    if code:
        raise click.exceptions.Exit(code)


# --- builder ----------------------------------------------------------------------------------


@click.group()
def builder() -> None:
    """Manage builds."""


_CONTINUE = "Are you sure you want to continue?"
BUILDER_PRUNE_WARNING = f"WARNING! This will remove all dangling build cache. {_CONTINUE}"
BUILDER_PRUNE_ALL_WARNING = f"WARNING! This will remove all build cache. {_CONTINUE}"


@builder.command("prune", cls=GoFlagsCommand)
@click.option(
    "-a",
    "--all",
    "all_",
    is_flag=True,
    help="Remove all unused build cache, not just dangling ones.",
)
@click.option(
    "--filter",
    "filters",
    multiple=True,
    callback=callbacks.filters,
    metavar="FILTER",
    help='Provide filter values (e.g. "until=24h").',
)
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option(
    "--keep-storage", default="0", metavar="BYTES", help="Amount of disk space to keep for cache."
)
@pass_state
def builder_prune(
    state: CliState, all_: bool, filters: dict[str, list[str]], force: bool, keep_storage: str
) -> None:
    """Remove build cache."""
    from berth.cli.dockererrors import FlagError
    from berth.cli.errors import CliError
    from berth.cli.flagvalues import ram_in_bytes
    from berth.cli.image import confirm
    from berth.cli.jsonmessage import human_size
    from berth.client import builds

    try:
        keep = ram_in_bytes(keep_storage)
    except FlagError as exc:
        raise CliError(
            f'invalid argument "{keep_storage}" for "--keep-storage" flag: {exc}'
        ) from None
    if not force and not confirm(BUILDER_PRUNE_ALL_WARNING if all_ else BUILDER_PRUNE_WARNING):
        return
    report = builds.prune_build_cache(state.api(), all_=all_, filters=filters, keep_storage=keep)
    deleted = [str(item) for item in report.get("CachesDeleted") or []]
    if deleted:
        click.echo("Deleted build cache objects:\n" + "".join(f"{item}\n" for item in deleted))
    reclaimed = report.get("SpaceReclaimed")
    click.echo(
        f"Total reclaimed space: {human_size(reclaimed if isinstance(reclaimed, int) else 0)}"
    )


builder.add_command(build, "build")
TOP_LEVEL = ((build, "build"), (builder, "builder"))
