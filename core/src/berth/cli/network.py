"""The network commands, as the docker CLI has them: `network create`, `ls`, `inspect`, `rm`,
`prune`, `connect`, `disconnect` (`port` is with the container commands).

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

LS_TABLE = "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
LS_HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}
PRUNE_WARNING = (
    "WARNING! This will remove all custom networks not used by at least one container.\n"
    "Are you sure you want to continue?"
)


def network_row(network: Mapping[str, Any], no_trunc: bool = False) -> dict[str, str]:
    labels = network.get("Labels") or {}
    ident = str(network.get("Id") or "")
    return {
        "ID": ident if no_trunc else ident[:12],
        "Name": str(network.get("Name") or ""),
        "Driver": str(network.get("Driver") or ""),
        "Scope": str(network.get("Scope") or "local"),
        "IPv6": str(bool(network.get("EnableIPv6"))).lower(),
        "Internal": str(bool(network.get("Internal"))).lower(),
        "Labels": ",".join(f"{k}={v}" for k, v in sorted(labels.items())),
        "CreatedAt": str(network.get("Created") or ""),
    }


@click.command("create", cls=DockerCommand, use="[OPTIONS] NETWORK", min_args=1, max_args=1)
@click.option("-d", "--driver", default="bridge", metavar="string",
              help='Driver to manage the Network (default "bridge")')  # fmt: skip
@click.option("--subnet", "subnets", multiple=True, metavar="strings",
              help="Subnet in CIDR format that represents a network segment")  # fmt: skip
@click.option("--ip-range", "ip_ranges", multiple=True, metavar="strings",
              help="Allocate container ip from a sub-range")  # fmt: skip
@click.option("--gateway", "gateways", multiple=True, metavar="strings",
              help="IPv4 or IPv6 Gateway for the master subnet")  # fmt: skip
@click.option("--internal", is_flag=True, help="Restrict external access to the network")
@click.option("--attachable", is_flag=True, help="Enable manual container attachment")
@click.option("--ipv6", is_flag=True, help="Enable or disable IPv6 networking")
@click.option("--ipam-driver", default="default", metavar="string",
              help='IP Address Management Driver (default "default")')  # fmt: skip
@click.option("-o", "--opt", "opts", multiple=True, callback=callbacks.pairs, metavar="map",
              help="Set driver specific options")  # fmt: skip
@click.option("--label", "labels", multiple=True, metavar="list",
              help="Set metadata on a network")  # fmt: skip
@click.argument("args", nargs=-1, metavar="NETWORK")
@pass_state
def create(
    state: CliState,
    driver: str,
    subnets: tuple[str, ...],
    ip_ranges: tuple[str, ...],
    gateways: tuple[str, ...],
    internal: bool,
    attachable: bool,
    ipv6: bool,
    ipam_driver: str,
    opts: dict[str, str],
    labels: tuple[str, ...],
    args: tuple[str, ...],
) -> None:
    """Create a network."""
    from berth.client import networks

    if len(ip_ranges) > len(subnets) or len(gateways) > len(subnets):
        raise CliError("every ip-range or gateway must have a corresponding subnet")
    configs = []
    for index, subnet in enumerate(subnets):
        config = {"Subnet": subnet}
        if index < len(ip_ranges):
            config["IPRange"] = ip_ranges[index]
        if index < len(gateways):
            config["Gateway"] = gateways[index]
        configs.append(config)
    label_map = {}
    for item in labels:
        key, _, value = item.partition("=")
        label_map[key] = value
    body = {
        "Name": args[0],
        "Driver": driver,
        "Options": opts,
        "Labels": label_map,
        "Internal": internal,
        "Attachable": attachable,
        "EnableIPv6": ipv6,
        "IPAM": {"Driver": ipam_driver, "Config": configs, "Options": {}},
    }
    made = networks.create_network(state.api(), body)
    click.echo(str(made.get("Id") or ""))


@click.command("ls", cls=DockerCommand)
@click.option("-f", "--filter", "filters", multiple=True, metavar="filter",
              callback=callbacks.filters,
              help='Provide filter values (e.g. "driver=bridge")')  # fmt: skip
@click.option("--format", "format_", metavar="string",
              help="Format output using a custom template: 'table', 'table TEMPLATE', 'json', "
              "or a Go template")  # fmt: skip
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output")
@click.option("-q", "--quiet", is_flag=True, help="Only display network IDs")
@pass_state
def ls(
    state: CliState,
    filters: dict[str, list[str]],
    format_: str | None,
    no_trunc: bool,
    quiet: bool,
) -> None:
    """List networks."""
    from berth.cli.format import ListFormat
    from berth.client import networks

    found = sorted(networks.list_networks(state.api(), filters), key=lambda n: str(n.get("Name")))
    rows = [network_row(n, no_trunc) for n in found]
    if quiet and not format_:
        click.echo("".join(row["ID"] + "\n" for row in rows), nl=False)
        return
    layout = ListFormat.from_option(format_, LS_TABLE, LS_HEADERS)
    click.echo(layout.render(rows), nl=False)


@click.command("inspect", cls=DockerCommand, use="[OPTIONS] NETWORK [NETWORK...]", min_args=1)
@click.option("-f", "--format", "format_", metavar="string",
              help="Format output using a custom template: 'json', or a Go template")  # fmt: skip
@click.option("-v", "--verbose", is_flag=True, help="Verbose output for diagnostics")
@click.argument("args", nargs=-1, metavar="NETWORK [NETWORK...]")
@pass_state
def inspect(state: CliState, format_: str | None, verbose: bool, args: tuple[str, ...]) -> None:
    """Display detailed information on one or more networks."""
    from berth.cli.image import _inspect
    from berth.client import networks

    api = state.api()
    _inspect(args, format_, lambda name: networks.inspect_network(api, name))


@click.command("rm", cls=DockerCommand, use="[OPTIONS] NETWORK [NETWORK...]", min_args=1)
@click.option("-f", "--force", is_flag=True, help="Do not error if the network does not exist")
@click.argument("args", nargs=-1, metavar="NETWORK [NETWORK...]")
@pass_state
def rm(state: CliState, force: bool, args: tuple[str, ...]) -> None:
    """Remove one or more networks."""
    from berth.client import networks
    from berth.client.errors import ClientError, DaemonError

    api = state.api()
    errors: list[str] = []
    for name in args:
        try:
            networks.remove_network(api, name)
        except ClientError as exc:
            if force and isinstance(exc, DaemonError) and exc.status == 404:
                continue
            errors.append(str(exc))
            continue
        click.echo(name)
    if errors:
        raise CliError("\n".join(errors))


@click.command("prune", cls=DockerCommand)
@click.option("--filter", "filters", multiple=True, metavar="filter",
              callback=callbacks.filters,
              help='Provide filter values (e.g. "until=<timestamp>")')  # fmt: skip
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@pass_state
def prune(state: CliState, filters: dict[str, list[str]], force: bool) -> None:
    """Remove all unused networks."""
    from berth.cli.image import confirm
    from berth.client import networks

    if not force and not confirm(PRUNE_WARNING):
        return
    report = networks.prune_networks(state.api(), filters)
    deleted = [str(name) for name in report.get("NetworksDeleted") or []]
    if deleted:
        click.echo("Deleted Networks:\n" + "".join(name + "\n" for name in deleted))


@click.command("connect", cls=DockerCommand, use="[OPTIONS] NETWORK CONTAINER", min_args=2,
               max_args=2)  # fmt: skip
@click.option("--alias", "aliases", multiple=True, metavar="strings",
              help="Add network-scoped alias for the container")  # fmt: skip
@click.option("--ip", default="", metavar="string", help="IPv4 address (e.g., 172.30.100.104)")
@click.option("--driver-opt", "driver_opts", multiple=True, metavar="strings",
              callback=callbacks.pairs,
              help="driver options for the network")  # fmt: skip
@click.argument("args", nargs=-1, metavar="NETWORK CONTAINER")
@pass_state
def connect(
    state: CliState,
    aliases: tuple[str, ...],
    ip: str,
    driver_opts: dict[str, str],
    args: tuple[str, ...],
) -> None:
    """Connect a container to a network."""
    from berth.client import networks

    config: dict[str, Any] = {"Aliases": list(aliases), "DriverOpts": driver_opts}
    if ip:
        config["IPAMConfig"] = {"IPv4Address": ip}
    networks.connect(state.api(), args[0], args[1], config)


@click.command("disconnect", cls=DockerCommand, use="[OPTIONS] NETWORK CONTAINER", min_args=2,
               max_args=2)  # fmt: skip
@click.option("-f", "--force", is_flag=True, help="Force the container to disconnect")
@click.argument("args", nargs=-1, metavar="NETWORK CONTAINER")
@pass_state
def disconnect(state: CliState, force: bool, args: tuple[str, ...]) -> None:
    """Disconnect a container from a network."""
    from berth.client import networks

    networks.disconnect(state.api(), args[0], args[1], force)


@click.group()
def network() -> None:
    """Manage networks."""


network.add_command(create, "create")
network.add_command(ls, "ls")
network.add_command(ls, "list")
network.add_command(inspect, "inspect")
network.add_command(rm, "rm")
network.add_command(rm, "remove")
network.add_command(prune, "prune")
network.add_command(connect, "connect")
network.add_command(disconnect, "disconnect")
