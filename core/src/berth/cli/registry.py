"""The registry commands, as the docker CLI has them: `pull`, `push`, `login`, `logout`
(also `image pull` and `image push`).

Credentials are the client's business, as in Docker: read from config.json (berth's, then
Docker's, or a credential helper) and sent with each pull and push as `X-Registry-Auth`.
Module-level imports stay light (click only).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any

import click

from berth.cli.context import CliState, pass_state
from berth.cli.goflags import GoFlagsCommand


def _parse(name: str) -> Any:
    from berth.cli.errors import CliError
    from berth.client.reference import ReferenceError, parse_normalized

    try:
        return parse_normalized(name)
    except ReferenceError as exc:
        raise CliError(
            f"invalid reference format: {exc}" if "format" not in str(exc) else str(exc)
        ) from None


def _echo(messages: Iterable[Mapping[str, Any]], quiet: bool) -> None:
    from berth.cli.image import _echo_stream
    from berth.cli.jsonmessage import drain

    if quiet:
        drain(messages)
    else:
        _echo_stream(messages)


def pull_reference(state: CliState, name: str, *, all_tags: bool = False, platform: str = "",
                   quiet: bool = False) -> str:  # fmt: skip
    """Pull ``name``; show Docker's progress (unless quiet); return the full reference."""
    from berth.cli.errors import CliError
    from berth.client import credentials
    from berth.client.distribution import pull_image

    ref = _parse(name)
    if all_tags and (ref.tag or ref.digest):
        raise CliError("tag can't be used with --all-tags/-a")
    if not all_tags:
        ref = ref.with_default_tag()
    tag = ref.digest or ref.tag
    auth = credentials.lookup(ref.domain)
    messages = pull_image(state.api(), ref.name, tag, platform=platform, auth=auth)
    _echo(messages, quiet)
    return str(ref) if not all_tags else ref.name


@click.command(cls=GoFlagsCommand)
@click.option(
    "-a", "--all-tags", is_flag=True, help="Download all tagged images in the repository."
)
@click.option(
    "--platform",
    default="",
    metavar="OS/ARCH",
    help="Set platform if server is multi-platform capable.",
)
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@click.option("--disable-content-trust", is_flag=True, default=True, hidden=True)
@click.argument("name", metavar="NAME[:TAG|@DIGEST]")
@pass_state
def pull(
    state: CliState,
    all_tags: bool,
    platform: str,
    quiet: bool,
    name: str,
    disable_content_trust: bool,
) -> None:
    """Download an image from a registry."""
    full = pull_reference(state, name, all_tags=all_tags, platform=platform, quiet=quiet)
    click.echo(full)


@click.command(cls=GoFlagsCommand)
@click.option("-a", "--all-tags", is_flag=True, help="Push all tags of an image to the repository.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@click.option("--disable-content-trust", is_flag=True, default=True, hidden=True)
@click.argument("name", metavar="NAME[:TAG]")
@pass_state
def push(
    state: CliState, all_tags: bool, quiet: bool, name: str, disable_content_trust: bool
) -> None:
    """Upload an image to a registry."""
    from berth.cli.errors import CliError
    from berth.client import credentials
    from berth.client.distribution import push_image

    ref = _parse(name)
    if ref.digest:
        raise CliError("cannot push a digest reference")
    if all_tags and ref.tag:
        raise CliError("tag can't be used with --all-tags/-a")
    if not all_tags:
        ref = ref.with_default_tag()
    auth = credentials.lookup(ref.domain)
    _echo(push_image(state.api(), ref.name, ref.tag, auth=auth), quiet)
    if quiet:
        click.echo(str(ref) if ref.tag else ref.name)


def _read_password_stdin() -> str:
    data = sys.stdin.read()
    return data.rstrip("\r\n")


@click.command(cls=GoFlagsCommand)
@click.option("-u", "--username", default="", metavar="STRING", help="Username.")
@click.option("-p", "--password", default="", metavar="STRING", help="Password.")
@click.option("--password-stdin", is_flag=True, help="Take the password from stdin.")
@click.argument("server", required=False, default="", metavar="[SERVER]")
@pass_state
def login(state: CliState, username: str, password: str, password_stdin: bool, server: str) -> None:
    """Log in to a registry.

    If no server is specified, the default is Docker Hub.
    """
    from berth.cli.errors import CliError
    from berth.client import credentials
    from berth.client.distribution import login as api_login

    if password and password_stdin:
        raise CliError("--password and --password-stdin are mutually exclusive")
    if password_stdin:
        if not username:
            raise CliError("Must provide --username with --password-stdin")
        password = _read_password_stdin()
    elif password:
        click.echo(
            "WARNING! Using --password via the CLI is insecure. Use --password-stdin.", err=True
        )
    key = credentials.server_key(server or "docker.io")
    if not username or not password:
        if not sys.stdin.isatty():
            raise CliError("Error: Cannot perform an interactive login from a non TTY device")
        if not username:
            username = click.prompt("Username", default="", show_default=False).strip()
        if not password:
            password = click.prompt("Password", hide_input=True, default="", show_default=False)
        if not username or not password:
            raise CliError("Error: Username and password are required")
    auth = {"username": username, "password": password, "serveraddress": key}
    answer = api_login(state.api(), auth)
    path = credentials.store(key, username, password)
    click.echo(f"WARNING! Your password will be stored unencrypted in {path}.", err=True)
    click.echo(str(answer.get("Status") or "Login Succeeded"))


@click.command(cls=GoFlagsCommand)
@click.argument("server", required=False, default="", metavar="[SERVER]")
def logout(server: str) -> None:
    """Log out from a registry.

    If no server is specified, the default is Docker Hub.
    """
    from berth.client import credentials

    key = credentials.server_key(server or "docker.io")
    if credentials.erase(key):
        click.echo(f"Removing login credentials for {key}")
    else:
        click.echo(f"Not logged in to {key}")


#: the top-level commands: (command, name); pull and push are in the image group too
TOP_LEVEL: tuple[tuple[click.Command, str], ...] = (
    (pull, "pull"),
    (push, "push"),
    (login, "login"),
    (logout, "logout"),
)
IMAGE_GROUP: tuple[tuple[click.Command, str], ...] = ((pull, "pull"), (push, "push"))
