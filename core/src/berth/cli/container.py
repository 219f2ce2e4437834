"""The container commands, as the docker CLI (28) has them: `run`, `create`, `start`, `stop`,
`kill`, `restart`, `rm`, `pause`, `unpause`, `wait`, `rename`, `ps`, `top`, `stats`, `logs`,
`attach`, `exec`, `port`, `inspect` (containers first, then images), and the `container`
group (`ls`, `list`, `ps`, `prune`, and every one of the above).

Module-level imports stay light (click only): each command imports what it needs when it runs.
The attached ones (run, create, start, attach, exec) live in `container_run`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import click

from berth.cli.container_run import attach, create, exec_, run, start
from berth.cli.context import CliState, pass_state
from berth.cli.dockererrors import DockerCommand, StatusError
from berth.cli.errors import CliError

FORMAT_HELP = (
    "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template"
)
INSPECT_FORMAT_HELP = "Format output using a custom template: 'json', or a Go template"


def _filters(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, list[str]]:
    by_key: dict[str, list[str]] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep:
            from berth.cli.dockererrors import flag_error

            raise flag_error(
                ctx,
                f'invalid argument "{value}" for "-f, --filter" flag: bad format of filter '
                "(expected name=value)",
            )
        by_key.setdefault(key.strip().lower(), []).append(val.strip())
    return by_key


def _each(
    names: Iterable[str], action: Callable[[str], None], *, not_found_ok: bool = False
) -> None:
    """docker's parallelOperation loop: each name printed once done, errors listed after."""
    from berth.client.errors import ClientError, DaemonError

    errors: list[str] = []
    for name in names:
        try:
            action(name)
        except ClientError as exc:
            if not_found_ok and isinstance(exc, DaemonError) and exc.status == 404:
                click.echo(str(exc), err=True)
                continue
            errors.append(str(exc))
            continue
        except CliError as exc:
            errors.append(str(exc))
            continue
        click.echo(name)
    if errors:
        raise CliError("\n".join(errors))


# --- stop, kill, restart, rm, pause, unpause, wait, rename ---------------------------------------


def _timeout(ctx: click.Context, timeout: str | None, time_: str | None) -> int | None:
    from berth.cli.dockererrors import FlagError, invalid_argument
    from berth.cli.flagvalues import parse_int

    if timeout is not None and time_ is not None:
        raise CliError("conflicting options: cannot specify both --timeout and --time")
    value = timeout if timeout is not None else time_
    if value is None:
        return None
    try:
        return parse_int(value)
    except FlagError as exc:
        name = "timeout" if timeout is not None else "time"
        raise invalid_argument(ctx, name, value, str(exc)) from None


def _stop_like(name: str, help_text: str) -> click.Command:
    @click.command(name, cls=DockerCommand, use="[OPTIONS] CONTAINER [CONTAINER...]", min_args=1)
    @click.option("-s", "--signal", "signal_", default="", metavar="string",
                  help="Signal to send to the container")  # fmt: skip
    @click.option("-t", "--timeout", default=None, metavar="int",
                  help="Seconds to wait before killing the container")  # fmt: skip
    @click.option("--time", "time_", default=None, metavar="int", hidden=True,
                  help="Seconds to wait before killing the container (deprecated: use --timeout)")  # fmt: skip # noqa: E501
    @click.argument("args", nargs=-1, metavar="CONTAINER [CONTAINER...]")
    @pass_state
    @click.pass_context
    def command(
        ctx: click.Context,
        state: CliState,
        signal_: str,
        timeout: str | None,
        time_: str | None,
        args: tuple[str, ...],
    ) -> None:
        from berth.client import containers

        seconds = _timeout(ctx, timeout, time_)
        if time_ is not None:
            click.echo("Flag --time has been deprecated, use --timeout instead", err=True)
        api = state.api()
        action = containers.stop if name == "stop" else containers.restart
        _each(args, lambda ref: action(api, ref, signal=signal_, timeout=seconds))

    command.help = help_text
    return command


stop = _stop_like("stop", "Stop one or more running containers.")
restart = _stop_like("restart", "Restart one or more containers.")


@click.command("kill", cls=DockerCommand, use="[OPTIONS] CONTAINER [CONTAINER...]", min_args=1)
@click.option("-s", "--signal", "signal_", default="", metavar="string",
              help="Signal to send to the container")  # fmt: skip
@click.argument("args", nargs=-1, metavar="CONTAINER [CONTAINER...]")
@pass_state
def kill(state: CliState, signal_: str, args: tuple[str, ...]) -> None:
    """Kill one or more running containers."""
    from berth.client import containers

    api = state.api()
    _each(args, lambda ref: containers.kill(api, ref, signal_))


@click.command("rm", cls=DockerCommand, use="[OPTIONS] CONTAINER [CONTAINER...]", min_args=1)
@click.option("-f", "--force", is_flag=True,
              help="Force the removal of a running container (uses SIGKILL)")  # fmt: skip
@click.option("-l", "--link", is_flag=True, help="Remove the specified link")
@click.option("-v", "--volumes", is_flag=True,
              help="Remove anonymous volumes associated with the container")  # fmt: skip
@click.argument("args", nargs=-1, metavar="CONTAINER [CONTAINER...]")
@pass_state
def rm(state: CliState, force: bool, link: bool, volumes: bool, args: tuple[str, ...]) -> None:
    """Remove one or more containers."""
    from berth.client import containers

    api = state.api()

    def remove(ref: str) -> None:
        ref = ref.strip("/")
        if not ref:
            raise CliError("container name cannot be empty")
        containers.remove(api, ref, force=force, volumes=volumes, links=link)

    _each(args, remove, not_found_ok=force)


def _simple(name: str, help_text: str, call: str) -> click.Command:
    @click.command(name, cls=DockerCommand, use="CONTAINER [CONTAINER...]", min_args=1)
    @click.argument("args", nargs=-1, metavar="CONTAINER [CONTAINER...]")
    @pass_state
    def command(state: CliState, args: tuple[str, ...]) -> None:
        from berth.client import containers

        api = state.api()
        action = getattr(containers, call)
        _each(args, lambda ref: action(api, ref))

    command.help = help_text
    return command


pause = _simple("pause", "Pause all processes within one or more containers.", "pause")
unpause = _simple("unpause", "Unpause all processes within one or more containers.", "unpause")


@click.command("wait", cls=DockerCommand, use="CONTAINER [CONTAINER...]", min_args=1)
@click.argument("args", nargs=-1, metavar="CONTAINER [CONTAINER...]")
@pass_state
def wait(state: CliState, args: tuple[str, ...]) -> None:
    """Block until one or more containers stop, then print their exit codes."""
    from berth.client import containers
    from berth.client.errors import ClientError

    api = state.api()
    errors = []
    for ref in args:
        try:
            code, _ = containers.Wait(api, ref, "").result()
        except ClientError as exc:
            errors.append(str(exc))
            continue
        click.echo(str(code))
    if errors:
        raise CliError("\n".join(errors))


@click.command("rename", cls=DockerCommand, use="CONTAINER NEW_NAME", min_args=2, max_args=2)
@click.argument("args", nargs=-1, metavar="CONTAINER NEW_NAME")
@pass_state
def rename(state: CliState, args: tuple[str, ...]) -> None:
    """Rename a container."""
    from berth.client import containers
    from berth.client.errors import ClientError

    old, new = (a.strip() for a in args)
    if not old or not new:
        raise CliError("Error: Neither old nor new names may be empty")
    try:
        containers.rename(state.api(), old, new)
    except ClientError as exc:
        click.echo(str(exc), err=True)
        raise CliError(f"Error: failed to rename container named {old}") from None


# --- ps ------------------------------------------------------------------------------------------


@click.command("ps", cls=DockerCommand, use="[OPTIONS]", max_args=0)
@click.option("-a", "--all", "all_", is_flag=True,
              help="Show all containers (default shows just running)")  # fmt: skip
@click.option("-f", "--filter", "filters", multiple=True, callback=_filters, metavar="filter",
              help="Filter output based on conditions provided")  # fmt: skip
@click.option("--format", "format_", metavar="string", help=FORMAT_HELP)
@click.option("-n", "--last", default=None, metavar="int",
              help="Show n last created containers (includes all states) (default -1)")  # fmt: skip
@click.option("-l", "--latest", is_flag=True,
              help="Show the latest created container (includes all states)")  # fmt: skip
@click.option("--no-trunc", is_flag=True, help="Don't truncate output")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs")
@click.option("-s", "--size", is_flag=True, default=None, help="Display total file sizes")
@click.argument("args", nargs=-1)
@pass_state
@click.pass_context
def ps(
    ctx: click.Context,
    state: CliState,
    all_: bool,
    filters: dict[str, list[str]],
    format_: str | None,
    last: str | None,
    latest: bool,
    no_trunc: bool,
    quiet: bool,
    size: bool | None,
    args: tuple[str, ...],
) -> None:
    """List containers."""
    from berth.cli import container_views as views
    from berth.cli.dockererrors import FlagError, invalid_argument
    from berth.cli.flagvalues import parse_int
    from berth.cli.format import ListFormat, TemplateError
    from berth.client import containers

    limit = -1
    if last is not None:
        try:
            limit = parse_int(last)
        except FlagError as exc:
            raise invalid_argument(ctx, "last", last, str(exc)) from None
    if latest and limit == -1:
        limit = 1
    if format_ and quiet:
        click.echo("WARNING: Ignoring custom format, because both --format and --quiet are set.",
                   err=True)  # fmt: skip
    want_size = bool(size)
    if format_ and not quiet and size is None:
        text = format_.strip()
        want_size = ".Size" in text or text == "json" or "json ." in text
    layout = views.ps_format(format_, quiet=quiet, size=want_size)
    try:
        rendering = ListFormat.from_option(layout, "", views.PS_HEADERS)
    except TemplateError as exc:
        raise CliError(f"failed to parse template: {exc}") from None
    found = containers.list_containers(
        state.api(), all_containers=all_, limit=limit, size=want_size, filters=filters
    )
    now = time.time()
    rows = [views.ps_row(c, trunc=not no_trunc, now=now) for c in found]
    if layout == "{{.ID}}":
        click.echo("".join(row["ID"] + "\n" for row in rows), nl=False)
        return
    click.echo(rendering.render(rows), nl=False)


# --- top, port -----------------------------------------------------------------------------------


@click.command(
    "top",
    cls=DockerCommand,
    use="CONTAINER [ps OPTIONS]",
    min_args=1,
    context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True},
)
@click.argument("args", nargs=-1, metavar="CONTAINER [ps OPTIONS]")
@pass_state
def top(state: CliState, args: tuple[str, ...]) -> None:
    """Display the running processes of a container."""
    from berth.cli import container_views as views
    from berth.client import containers

    answer = containers.top(state.api(), args[0], args[1:])
    click.echo("".join(line + "\n" for line in views.top_lines(answer)), nl=False)


@click.command("port", cls=DockerCommand, use="CONTAINER [PRIVATE_PORT[/PROTO]]", min_args=1,
               max_args=2)  # fmt: skip
@click.argument("args", nargs=-1, metavar="CONTAINER [PRIVATE_PORT[/PROTO]]")
@pass_state
def port(state: CliState, args: tuple[str, ...]) -> None:
    """List port mappings or a specific mapping for the container."""
    from berth.cli import container_views as views
    from berth.client import containers

    found = containers.inspect(state.api(), args[0])
    settings = found.get("NetworkSettings") or {}
    ports = settings.get("Ports") if isinstance(settings, dict) else None
    private = ""
    if len(args) > 1:
        number, _, proto = args[1].partition("/")
        if not number.isdigit() or int(number) > 65535:
            raise CliError(
                f'Error: invalid port ({number}): strconv.ParseUint: parsing "{number}": '
                + ("value out of range" if number.isdigit() else "invalid syntax")
            )
        private = f"{number}/{proto or 'tcp'}"
    lines = views.port_lines(ports if isinstance(ports, dict) else None, private)
    if lines is None:
        raise CliError(f"Error: No public port '{args[1]}' published for {args[0]}")
    if lines:
        click.echo("\n".join(lines))


# --- logs ----------------------------------------------------------------------------------------


@click.command("logs", cls=DockerCommand, use="[OPTIONS] CONTAINER", min_args=1, max_args=1)
@click.option("--details", is_flag=True, help="Show extra details provided to logs")
@click.option("-f", "--follow", is_flag=True, help="Follow log output")
@click.option("--since", default="", metavar="string",
              help='Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative '
                   '(e.g. "42m" for 42 minutes)')  # fmt: skip
@click.option("-n", "--tail", default="all", metavar="string",
              help='Number of lines to show from the end of the logs (default "all")')  # fmt: skip
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps")
@click.option("--until", default="", metavar="string",
              help='Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative '
                   '(e.g. "42m" for 42 minutes)')  # fmt: skip
@click.argument("args", nargs=-1, metavar="CONTAINER")
@pass_state
def logs(
    state: CliState,
    details: bool,
    follow: bool,
    since: str,
    tail: str,
    timestamps: bool,
    until: str,
    args: tuple[str, ...],
) -> None:
    """Fetch the logs of a container."""
    from berth.cli.timestamps import api_timestamp
    from berth.client import containers
    from berth.client.containers import STDERR, STDIN, STDOUT, FrameReader

    api = state.api()
    found = containers.inspect(api, args[0])
    tty = bool((found.get("Config") or {}).get("Tty"))
    times = {}
    for what, value in (("since", since), ("until", until)):
        if value:
            try:
                times[what] = api_timestamp(value)
            except ValueError as exc:
                raise CliError(f'invalid value for "{what}": {exc}') from None
    chunks = containers.logs(
        api,
        str(found.get("Id") or args[0]),
        follow=follow,
        since=times.get("since", ""),
        until=times.get("until", ""),
        timestamps=timestamps,
        tail=tail,
        details=details,
    )
    sys.stdout.flush()
    out, err = sys.stdout.buffer, sys.stderr.buffer
    frames = FrameReader()
    for chunk in chunks:
        if tty:
            out.write(chunk)
            out.flush()
            continue
        for stream, payload in frames.feed(chunk):
            target = out if stream in (STDIN, STDOUT) else err if stream == STDERR else None
            if target is None:
                raise CliError(f"error from daemon in stream: {payload.decode(errors='replace')}")
            target.write(payload)
            target.flush()


# --- stats ---------------------------------------------------------------------------------------


@click.command("stats", cls=DockerCommand, use="[OPTIONS] [CONTAINER...]")
@click.option("-a", "--all", "all_", is_flag=True,
              help="Show all containers (default shows just running)")  # fmt: skip
@click.option("--format", "format_", metavar="string", help=FORMAT_HELP)
@click.option("--no-stream", is_flag=True,
              help="Disable streaming stats and only pull the first result")  # fmt: skip
@click.option("--no-trunc", is_flag=True, help="Do not truncate output")
@click.argument("args", nargs=-1, metavar="[CONTAINER...]")
@pass_state
def stats(
    state: CliState,
    all_: bool,
    format_: str | None,
    no_stream: bool,
    no_trunc: bool,
    args: tuple[str, ...],
) -> None:
    """Display a live stream of container(s) resource usage statistics."""
    from berth.cli.container_stats import run_stats

    run_stats(state.api(), list(args), all_=all_, format_=format_, stream=not no_stream,
              trunc=not no_trunc)  # fmt: skip


# --- prune ---------------------------------------------------------------------------------------

PRUNE_WARNING = """WARNING! This will remove all stopped containers.
Are you sure you want to continue?"""


@click.command("prune", cls=DockerCommand, use="[OPTIONS]", max_args=0)
@click.option("--filter", "filters", multiple=True, callback=_filters, metavar="filter",
              help='Provide filter values (e.g. "until=<timestamp>")')  # fmt: skip
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation")
@click.argument("args", nargs=-1)
@pass_state
def prune(
    state: CliState, filters: dict[str, list[str]], force: bool, args: tuple[str, ...]
) -> None:
    """Remove all stopped containers."""
    from berth.cli.image import confirm
    from berth.cli.jsonmessage import human_size
    from berth.client import containers

    if not force and not confirm(PRUNE_WARNING):
        return
    report = containers.prune(state.api(), filters)
    deleted = [str(i) for i in report.get("ContainersDeleted") or []]
    reclaimed = 0
    if deleted:
        click.echo("Deleted Containers:\n" + "".join(i + "\n" for i in deleted))
        value = report.get("SpaceReclaimed")
        reclaimed = value if isinstance(value, int) else 0
    click.echo(f"Total reclaimed space: {human_size(reclaimed)}")


# --- inspect -------------------------------------------------------------------------------------

INSPECT_TYPES = (
    "config", "container", "image", "network", "node", "plugin", "secret", "service", "task",
    "volume",
)  # fmt: skip


def _inspect(refs: Iterable[str], format_: str | None, lookup: Callable[[str], Any]) -> None:
    """docker's inspect.Inspect: every object found, then every error (exit 1); a template
    that does not parse is refused first (exit 64)."""
    from berth.cli import image_views as views
    from berth.client.errors import ClientError

    template = None
    if format_ and format_.strip() != "json":
        from berth.cli.format import Template, TemplateError

        try:
            template = Template(format_)
        except TemplateError as exc:
            raise StatusError(str(exc), 64) from None
    found: list[Any] = []
    errors: list[str] = []
    for ref in refs:
        try:
            found.append(lookup(ref))
        except (ClientError, CliError) as exc:
            errors.append(str(exc))
    if template is not None:
        text = "".join(template.execute(value) + "\n" for value in found)
        click.echo(text or "\n", nl=False)
    elif format_:
        click.echo(views.compact_json(found), nl=False)
    else:
        click.echo(views.indented_json(found), nl=False)
    if errors:
        raise StatusError("\n".join(errors), 1)


@click.command("inspect", cls=DockerCommand, use="[OPTIONS] CONTAINER [CONTAINER...]",
               min_args=1)  # fmt: skip
@click.option("-f", "--format", "format_", metavar="string", help=INSPECT_FORMAT_HELP)
@click.option("-s", "--size", is_flag=True, help="Display total file sizes")
@click.argument("args", nargs=-1, metavar="CONTAINER [CONTAINER...]")
@pass_state
def container_inspect(
    state: CliState, format_: str | None, size: bool, args: tuple[str, ...]
) -> None:
    """Display detailed information on one or more containers."""
    from berth.client import containers

    api = state.api()
    _inspect(args, format_, lambda ref: containers.inspect(api, ref, size=size))


@click.command("inspect", cls=DockerCommand, use="[OPTIONS] NAME|ID [NAME|ID...]", min_args=1)
@click.option("-f", "--format", "format_", metavar="string", help=INSPECT_FORMAT_HELP)
@click.option("-s", "--size", is_flag=True,
              help="Display total file sizes if the type is container")  # fmt: skip
@click.option("--type", "type_", default=None, metavar="string",
              help="Only inspect objects of the given type")  # fmt: skip
@click.argument("args", nargs=-1, metavar="NAME|ID [NAME|ID...]")
@pass_state
def inspect(
    state: CliState, format_: str | None, size: bool, type_: str | None, args: tuple[str, ...]
) -> None:
    """Return low-level information on berth objects (containers first, then images)."""
    from berth.client import containers, images
    from berth.client.errors import DaemonError

    choices = '", "'.join(INSPECT_TYPES)
    if type_ is not None and not type_:
        raise CliError(f'type is empty: must be one of "{choices}"')
    if type_ and type_ not in INSPECT_TYPES:
        raise CliError(f'unknown type: "{type_}": must be one of "{choices}"')
    api = state.api()
    lookups: list[tuple[str, Callable[[str], Any]]] = [
        ("container", lambda ref: containers.inspect(api, ref, size=size)),
        ("image", lambda ref: images.inspect_image(api, ref)),
        ("network", lambda ref: api.get_json(f"/networks/{ref}")),
        ("volume", lambda ref: api.get_json(f"/volumes/{ref}")),
        ("plugin", lambda ref: api.get_json(f"/plugins/{ref}/json")),
    ]

    def skippable(exc: Exception) -> bool:
        text = str(exc)
        return (isinstance(exc, DaemonError) and exc.status == 404) or (
            "not supported" in text or "invalid reference format" in text
        )

    def lookup(ref: str) -> Any:
        for kind, find in lookups:
            if type_ and kind != type_:
                continue
            try:
                value = find(ref)
            except (DaemonError, CliError) as exc:
                if not type_ and skippable(exc):
                    continue
                raise
            if size and kind != "container":
                click.echo(f"WARNING: --size ignored for {kind}", err=True)
            return value
        raise CliError(f"Error: No such object: {ref}")

    _inspect(args, format_, lookup)


# --- the container group -------------------------------------------------------------------------


@click.group("container")
def container() -> None:
    """Manage containers."""


for _command, _names in (
    (attach, ("attach",)),
    (create, ("create",)),
    (exec_, ("exec",)),
    (container_inspect, ("inspect",)),
    (kill, ("kill",)),
    (logs, ("logs",)),
    (ps, ("ls", "list", "ps")),
    (pause, ("pause",)),
    (port, ("port",)),
    (prune, ("prune",)),
    (rename, ("rename",)),
    (restart, ("restart",)),
    (rm, ("rm", "remove")),
    (run, ("run",)),
    (start, ("start",)),
    (stats, ("stats",)),
    (stop, ("stop",)),
    (top, ("top",)),
    (unpause, ("unpause",)),
    (wait, ("wait",)),
):
    for _name in _names:
        container.add_command(_command, _name)

#: the top-level shortcuts docker has: (command, name)
TOP_LEVEL = (
    (attach, "attach"),
    (create, "create"),
    (exec_, "exec"),
    (inspect, "inspect"),
    (kill, "kill"),
    (logs, "logs"),
    (pause, "pause"),
    (port, "port"),
    (ps, "ps"),
    (rename, "rename"),
    (restart, "restart"),
    (rm, "rm"),
    (run, "run"),
    (start, "start"),
    (stats, "stats"),
    (stop, "stop"),
    (top, "top"),
    (unpause, "unpause"),
    (wait, "wait"),
)
