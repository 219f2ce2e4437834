"""The volume commands, as the docker CLI has them: `volume create`, `ls`, `inspect`, `rm`,
`prune`.

Module-level imports stay light (click only): each command imports what it needs when it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click

from berth.cli import callbacks
from berth.cli.context import CliState, pass_state
from berth.cli.dockererrors import DockerCommand
from berth.cli.errors import CliError

LS_TABLE = "{{.Driver}}\t{{.Name}}"
LS_HEADERS = {
    "Driver": "DRIVER",
    "Name": "VOLUME NAME",
    "Scope": "SCOPE",
    "Mountpoint": "MOUNTPOINT",
    "Labels": "LABELS",
    "Links": "LINKS",
    "Size": "SIZE",
    "Group": "GROUP",
    "Availability": "AVAILABILITY",
    "Status": "STATUS",
}
PRUNE_WARNING = (
    "WARNING! This will remove anonymous local volumes not used by at least one container.\n"
    "Are you sure you want to continue?"
)
PRUNE_ALL_WARNING = (
    "WARNING! This will remove all local volumes not used by at least one container.\n"
    "Are you sure you want to continue?"
)


def volume_row(volume: Mapping[str, Any]) -> dict[str, str]:
    """One volume as docker's `volume ls` formatter shows it."""
    labels = volume.get("Labels") or {}
    usage = volume.get("UsageData") or {}
    size = usage.get("Size") if isinstance(usage, Mapping) else None
    links = usage.get("RefCount") if isinstance(usage, Mapping) else None
    return {
        "Availability": "N/A",
        "Driver": str(volume.get("Driver") or ""),
        "Group": "N/A",
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "Links": "N/A" if links is None else str(links),
        "Mountpoint": str(volume.get("Mountpoint") or ""),
        "Name": str(volume.get("Name") or ""),
        "Scope": str(volume.get("Scope") or "local"),
        "Size": "N/A" if size is None else str(size),
        "Status": "N/A",
    }


@click.command("create", cls=DockerCommand, use="[OPTIONS] [VOLUME]", max_args=1)
@click.option("-d", "--driver", default="local", metavar="string",
              help='Specify volume driver name (default "local")')  # fmt: skip
@click.option("--label", "labels", multiple=True, metavar="list",
              help="Set metadata for a volume")  # fmt: skip
@click.option("-o", "--opt", "opts", multiple=True, callback=callbacks.pairs, metavar="map",
              help="Set driver specific options")  # fmt: skip
@click.option("--name", default="", hidden=True, help="Specify volume name")
@click.argument("args", nargs=-1, metavar="[VOLUME]")
@pass_state
def create(
    state: CliState,
    driver: str,
    labels: tuple[str, ...],
    opts: dict[str, str],
    name: str,
    args: tuple[str, ...],
) -> None:
    """Create a volume."""
    from berth.client import volumes

    if args and name and args[0] != name:
        raise CliError(
            f"conflicting options: cannot specify a volume-name through both --name and as a "
            f'positional arg ("{name}" != "{args[0]}")'
        )
    label_map = {}
    for item in labels:
        key, _, value = item.partition("=")
        label_map[key] = value
    made = volumes.create_volume(
        state.api(), args[0] if args else name, driver, options=opts, labels=label_map
    )
    click.echo(str(made.get("Name") or ""))


@click.command("ls", cls=DockerCommand)
@click.option("-f", "--filter", "filters", multiple=True, metavar="filter",
              callback=callbacks.filters,
              help="Provide filter values (e.g. \"dangling=true\")")  # fmt: skip
@click.option("--format", "format_", metavar="string",
              help="Format output using a custom template: 'table', 'table TEMPLATE', 'json', "
              "or a Go template")  # fmt: skip
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names")
@pass_state
def ls(state: CliState, filters: dict[str, list[str]], format_: str | None, quiet: bool) -> None:
    """List volumes."""
    from berth.cli.format import ListFormat
    from berth.client import volumes

    found = sorted(volumes.list_volumes(state.api(), filters), key=lambda v: str(v.get("Name")))
    rows = [volume_row(v) for v in found]
    if quiet and not format_:
        click.echo("".join(row["Name"] + "\n" for row in rows), nl=False)
        return
    layout = ListFormat.from_option(format_, LS_TABLE, LS_HEADERS)
    click.echo(layout.render(rows), nl=False)


@click.command("inspect", cls=DockerCommand, use="[OPTIONS] VOLUME [VOLUME...]", min_args=1)
@click.option("-f", "--format", "format_", metavar="string",
              help="Format output using a custom template: 'json', or a Go template")  # fmt: skip
@click.argument("args", nargs=-1, metavar="VOLUME [VOLUME...]")
@pass_state
def inspect(state: CliState, format_: str | None, args: tuple[str, ...]) -> None:
    """Display detailed information on one or more volumes."""
    from berth.cli.image import _inspect
    from berth.client import volumes

    api = state.api()
    _inspect(args, format_, lambda name: volumes.inspect_volume(api, name))


@click.command("rm", cls=DockerCommand, use="[OPTIONS] VOLUME [VOLUME...]", min_args=1)
@click.option("-f", "--force", is_flag=True, help="Force the removal of one or more volumes")
@click.argument("args", nargs=-1, metavar="VOLUME [VOLUME...]")
@pass_state
def rm(state: CliState, force: bool, args: tuple[str, ...]) -> None:
    """Remove one or more volumes. You cannot remove a volume that is in use by a container."""
    from berth.client import volumes
    from berth.client.errors import ClientError

    api = state.api()
    errors: list[str] = []
    for name in args:
        try:
            volumes.remove_volume(api, name, force=force)
        except ClientError as exc:
            errors.append(str(exc))
            continue
        click.echo(name)
    if errors:
        raise CliError("\n".join(errors))


@click.command("prune", cls=DockerCommand)
@click.option("-a", "--all", "all_", is_flag=True,
              help="Remove all unused volumes, not just anonymous ones")  # fmt: skip
@click.option("--filter", "filters", multiple=True, metavar="filter",
              callback=callbacks.filters,
              help='Provide filter values (e.g. "label=<label>")')  # fmt: skip
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@pass_state
def prune(state: CliState, all_: bool, filters: dict[str, list[str]], force: bool) -> None:
    """Remove unused local volumes."""
    from berth.cli.image import confirm
    from berth.cli.jsonmessage import human_size
    from berth.client import volumes

    if all_:
        filters.setdefault("all", []).append("true")
    if not force and not confirm(PRUNE_ALL_WARNING if all_ else PRUNE_WARNING):
        return
    report = volumes.prune_volumes(state.api(), filters)
    deleted = [str(name) for name in report.get("VolumesDeleted") or []]
    if deleted:
        click.echo("Deleted Volumes:\n" + "".join(name + "\n" for name in deleted))
    reclaimed = report.get("SpaceReclaimed")
    click.echo(
        f"Total reclaimed space: {human_size(reclaimed if isinstance(reclaimed, int) else 0)}"
    )


@click.group()
def volume() -> None:
    """Manage volumes."""


volume.add_command(create, "create")
volume.add_command(ls, "ls")
volume.add_command(ls, "list")
volume.add_command(inspect, "inspect")
volume.add_command(rm, "rm")
volume.add_command(rm, "remove")
volume.add_command(prune, "prune")
