"""`berth`: the root command group, its global flags and how errors reach the user."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from berth.cli import (
    build,
    completion,
    container,
    fileops,
    image,
    network,
    plugin,
    registry,
    system,
    volume,
)
from berth.cli.clientinfo import version_line
from berth.cli.context import CliState
from berth.cli.errors import CliError
from berth.client.errors import ClientError

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
EXIT_INTERRUPTED = 130


class BerthGroup(click.Group):
    """Turns every error into one line on stderr with docker's exit status, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except (ClientError, CliError) as exc:
            click.echo(str(exc), err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            ctx.exit(EXIT_INTERRUPTED)
        except BrokenPipeError:
            # `berth events | head`: the reader left; say nothing more to it
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(1)
        except Exception as exc:
            state = ctx.find_object(CliState)
            if state is not None and state.debug:
                import traceback

                traceback.print_exc()
            else:
                click.echo(
                    f"berth: unexpected error: {type(exc).__name__}: {exc} "
                    "(run with -D for the traceback, and please report it)",
                    err=True,
                )
            ctx.exit(1)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(version_line())
        ctx.exit(0)


@click.group("berth", cls=BerthGroup, context_settings=CONTEXT_SETTINGS)
@click.option(
    "-H",
    "--host",
    metavar="URL",
    help="Daemon socket to connect to: unix:///path or tcp://host:port "
    "(default: $BERTH_HOST, else $DOCKER_HOST, else unix:///run/berth/berth.sock).",
)
@click.option("-D", "--debug", is_flag=True, help="Enable debug mode.")
@click.option(
    "-v",
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Print version information and quit.",
)
@click.pass_context
def cli(ctx: click.Context, host: str | None, debug: bool) -> None:
    """A container engine for Linux, with the docker CLI's commands."""
    ctx.obj = CliState(host=host, debug=debug)


cli.add_command(system.version)
cli.add_command(system.info)
cli.add_command(system.events)
cli.add_command(system.system)
cli.add_command(plugin.plugin)
cli.add_command(image.image)
for registry_command, registry_name in registry.TOP_LEVEL:
    cli.add_command(registry_command, registry_name)
for registry_command, registry_name in registry.IMAGE_GROUP:
    image.image.add_command(registry_command, registry_name)
for command, name in image.TOP_LEVEL:
    cli.add_command(command, name)
cli.add_command(container.container)
for command, name in container.TOP_LEVEL:
    cli.add_command(command, name)
system.system.add_command(image.df, "df")
cli.add_command(volume.volume)
for build_command, build_name in build.TOP_LEVEL:
    cli.add_command(build_command, build_name)
image.image.add_command(build.build, "build")
cli.add_command(network.network)
for command, name in fileops.COMMANDS:
    cli.add_command(command, name)
    container.container.add_command(command, name)
cli.add_command(completion.completion)


def main() -> None:
    """Run the CLI, then leave without the interpreter's teardown.

    Tearing down click and the rest costs about 10 ms per command, a sixth of the start-up
    budget; nothing berth holds needs it (output is flushed here, sockets are closed by exit).
    """
    code = 0
    try:
        cli.main(prog_name="berth")
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
        if isinstance(stop.code, str):
            sys.stderr.write(stop.code + "\n")
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        code = code or 1
    os._exit(code)


if __name__ == "__main__":
    main()
