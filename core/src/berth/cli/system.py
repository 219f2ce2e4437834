"""`berth version`, `berth info`, `berth events` and the `berth system` group."""

from __future__ import annotations

from typing import Any

import click

from berth.cli.context import CliState, pass_state

FORMAT_HELP = (
    "Format output using a Go template subset ('{{.Field}}', '{{json .}}'), or 'json' for JSON."
)


@click.command()
@click.option("-f", "--format", "format_", metavar="TEMPLATE", help=FORMAT_HELP)
@pass_state
def version(state: CliState, format_: str | None) -> None:
    """Show the berth version information."""
    from berth.cli.clientinfo import client_info
    from berth.client import system as api_system
    from berth.client.errors import ClientError

    client = client_info()
    server: dict[str, Any] | None = None
    failure: ClientError | None = None
    try:
        server = api_system.version(state.api())
    except ClientError as exc:
        failure = exc
    if format_ is not None:
        from berth.cli.format import TemplateError, render_one

        try:
            click.echo(render_one(format_, {"Client": client, "Server": server}), nl=False)
        except TemplateError:
            if failure is None:
                raise
    else:
        from berth.cli.system_views import version_text

        click.echo(version_text(client, server), nl=False)
    if failure is not None:
        click.echo(str(failure), err=True)
        raise click.exceptions.Exit(1)


@click.command()
@click.option("-f", "--format", "format_", metavar="TEMPLATE", help=FORMAT_HELP)
@pass_state
def info(state: CliState, format_: str | None) -> None:
    """Display system-wide information."""
    from berth.cli.clientinfo import VERSION
    from berth.client import system as api_system
    from berth.client.errors import ClientError

    client = {"Version": VERSION, "Debug": state.debug}
    if format_ is not None:
        from berth.cli.format import render_one

        data = api_system.info(state.api())
        click.echo(render_one(format_, {**data, "ClientInfo": client}), nl=False)
        return
    from berth.cli.system_views import info_text

    try:
        data = api_system.info(state.api())
    except ClientError as exc:
        click.echo(info_text(client, None) + "Server:", nl=True)
        click.echo(str(exc), err=True)
        raise click.exceptions.Exit(1) from None
    click.echo(info_text(client, data), nl=False)
    for warning in data.get("Warnings") or []:
        click.echo(str(warning), err=True)


def _timestamp(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Unix seconds, RFC 3339, or a duration before now, converted to the API's form."""
    if value is None:
        return None
    from berth.cli.timestamps import api_timestamp

    try:
        return api_timestamp(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _filters(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, list[str]]:
    """Repeated `key=value` into {key: [values]}, as docker gathers them."""
    by_key: dict[str, list[str]] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key.strip():
            message = f'bad format of filter "{value}" (expected name=value)'
            raise click.BadParameter(message, ctx, param)
        by_key.setdefault(key.strip(), []).append(val)
    return by_key


@click.command()
@click.option(
    "--since",
    metavar="TIMESTAMP",
    callback=_timestamp,
    help="Show all events created since timestamp (Unix seconds, RFC 3339, or a duration: 10m).",
)
@click.option(
    "--until",
    metavar="TIMESTAMP",
    callback=_timestamp,
    help="Stream events until this timestamp.",
)
@click.option(
    "-f",
    "--filter",
    "filters",
    metavar="FILTER",
    callback=_filters,
    multiple=True,
    help="Filter output based on conditions provided (key=value, repeatable).",
)
@click.option("--format", "format_", metavar="TEMPLATE", help=FORMAT_HELP)
@pass_state
def events(
    state: CliState,
    since: str | None,
    until: str | None,
    filters: dict[str, list[str]],
    format_: str | None,
) -> None:
    """Get real time events from the server.

    Streams until interrupted (Ctrl-C) or, with --until, until that time has passed.
    """
    from berth.cli.format import ListFormat
    from berth.cli.system_views import event_line
    from berth.client import system as api_system

    layout = ListFormat.from_option(format_, "") if format_ is not None else None
    stream = api_system.events(state.api(), since=since, until=until, filters=filters)
    for event in stream:
        line = layout.render_item(event) if layout else event_line(event) + "\n"
        click.echo(line, nl=False)


@click.group()
def system() -> None:
    """Manage berth."""


system.add_command(info)
system.add_command(events)
