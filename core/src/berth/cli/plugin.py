"""`berth plugin ls`: which drivers are installed, which are in use, and why others are not."""

from __future__ import annotations

from typing import Any

import click

from berth.cli.context import CliState, pass_state

COLUMNS = ("Kind", "Name", "Distribution", "Version", "Status", "Reason")
DEFAULT_TABLE = "\t".join(f"{{{{.{column}}}}}" for column in COLUMNS)


def _normalized(entry: dict[str, Any]) -> dict[str, Any]:
    """Every column present, no null shown as `<no value>`."""
    out = dict(entry)
    for column in COLUMNS:
        if out.get(column) is None:
            out[column] = ""
    return out


@click.group()
def plugin() -> None:
    """Manage berth's plugins (drivers)."""


@plugin.command("ls")
@click.option(
    "--local",
    is_flag=True,
    help="Load and probe the plugins installed here, in a separate process, without a daemon.",
)
@click.option("-q", "--quiet", is_flag=True, help="Only display plugin names.")
@click.option(
    "--format",
    "format_",
    metavar="TEMPLATE",
    help="Format output: 'table', 'table TEMPLATE', 'json', or a Go template such as '{{.Name}}'.",
)
@pass_state
def ls(state: CliState, local: bool, quiet: bool, format_: str | None) -> None:
    """List plugins: kind, name, distribution, version, status and the reason for it."""
    from berth.cli.format import ListFormat

    if local:
        from berth.client.inventory import local_inventory

        entries = local_inventory()
    else:
        from berth.client import system as api_system

        entries = api_system.plugins(state.api())
    entries = [_normalized(entry) for entry in entries]
    if quiet:
        click.echo("".join(f"{entry['Name']}\n" for entry in entries), nl=False)
        return
    layout = ListFormat.from_option(format_, DEFAULT_TABLE)
    click.echo(layout.render(entries), nl=False)


plugin.add_command(ls, "list")
