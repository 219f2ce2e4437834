"""The commands that talk with a container's processes: `run`, `create`, `start`, `attach`
and `exec`, in the docker CLI's order of calls and with its exit statuses.

`run`: create (pulling the image when it is missing and `--pull` allows) -> attach (the
hijacked stream, before anything runs, so no output is lost) -> wait (its answer's head, so
that the daemon is waiting for the exit before it happens) -> start -> resize (TTY). The exit
status is the container's; 125 when berth could not run it, 126 when the command cannot be
executed, 127 when it is not found. A session ends when the output does, when the detach keys
are typed (the container keeps running), or after a third SIGINT/SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING, Any, BinaryIO

import click

from berth.cli.container_flags import add_flags
from berth.cli.context import CliState, pass_state
from berth.cli.dockererrors import DockerCommand, StatusError, with_help
from berth.cli.errors import CliError
from berth.cli.exitstatus import ENGINE_ERROR, status_of

if TYPE_CHECKING:
    from berth.cli.container_opts import ContainerRequest
    from berth.client.api import APIClient


def _run_failure(ctx: click.Context, message: str) -> StatusError:
    return StatusError(with_help(message, ctx.command_path), status_of(message))


def _stdin() -> BinaryIO:
    return sys.stdin.buffer


def _stdout() -> IO[bytes]:
    sys.stdout.flush()
    return sys.stdout.buffer


def _stderr() -> IO[bytes]:
    sys.stderr.flush()
    return sys.stderr.buffer


def _warn(text: str) -> None:
    click.echo(text, err=True)


def _detach_keys(option: str) -> bytes:
    from berth.cli.hijack import DEFAULT_DETACH_KEYS, detach_key_bytes

    if not option:
        return DEFAULT_DETACH_KEYS
    try:
        return detach_key_bytes(option)
    except ValueError as exc:  # docker warns and keeps the default
        _warn(f"WARNING: invalid detach escape keys, using default: {exc}")
        return DEFAULT_DETACH_KEYS


def _check_tty(attach_stdin: bool, tty: bool) -> None:
    from berth.cli.hijack import is_terminal

    if tty and attach_stdin and not is_terminal(sys.stdin):
        raise CliError("the input device is not a TTY")


# --- create (and the pull it may need) -----------------------------------------------------------


def _pull(api: APIClient, image: str, platform: str, quiet: bool) -> None:
    """`POST /images/create?fromImage=...`, its progress on stderr (nothing with --quiet)."""
    from berth.cli.hijack import is_terminal
    from berth.cli.jsonmessage import display
    from berth.client.credentials import header_value, lookup
    from berth.client.reference import parse_normalized

    ref = parse_normalized(image)
    tag = ref.digest or ref.tag or "latest"
    query = {"fromImage": ref.name, "tag": tag, "platform": platform or None}
    auth = {"X-Registry-Auth": header_value(lookup(ref.domain))}
    messages = api.stream_json("POST", "/images/create", query=query, headers=auth)
    terminal = is_terminal(sys.stderr)

    def write(text: str) -> None:
        if text and not quiet:
            click.echo(text, nl=False, err=True)

    display(messages, write, terminal=terminal)


def create_container(api: APIClient, request: ContainerRequest) -> str:
    """docker's createContainer: the container's ID; warnings on stderr; the cidfile."""
    from berth.client import containers
    from berth.client.errors import DaemonError
    from berth.client.reference import ReferenceError, check_any, is_image_id, parse_normalized

    image = request.body["Image"]
    cidfile = None
    if request.cidfile:
        if os.path.exists(request.cidfile):
            raise CliError(
                "container ID file found, make sure the other container isn't running or "
                f"delete {request.cidfile}"
            )
        try:
            cidfile = open(request.cidfile, "w")  # noqa: SIM115 (closed below, on every path)
        except OSError as exc:
            raise CliError(f"failed to create the container ID file: {exc}") from None
    written = False
    try:
        try:
            check_any(image)
        except ReferenceError as exc:
            raise CliError(str(exc)) from None
        named = None
        if not is_image_id(image):  # an ID or a digest alone names no repository to pull
            with contextlib.suppress(ReferenceError):
                named = parse_normalized(image).with_default_tag()
        if request.pull == "always" and named is not None:
            _pull(api, image, request.platform, request.quiet)
        try:
            created = containers.create(
                api, request.body, name=request.name, platform=request.platform
            )
        except DaemonError as exc:
            if exc.status != 404 or named is None or request.pull != "missing":
                raise
            if not request.quiet:
                _warn(f"Unable to find image '{named.familiar()}' locally")
            _pull(api, image, request.platform, request.quiet)
            created = containers.create(
                api, request.body, name=request.name, platform=request.platform
            )
        ident = str(created.get("Id") or "")
        for warning in created.get("Warnings") or []:
            _warn(f"WARNING: {warning}")
        if cidfile is not None:
            try:
                cidfile.write(ident)
                written = True
            except OSError as exc:
                raise CliError(f"failed to write the container ID to the file: {exc}") from None
        return ident
    finally:
        if cidfile is not None:
            cidfile.close()
            if not written:
                with contextlib.suppress(OSError):
                    os.unlink(request.cidfile)


def _request(ctx: click.Context, params: dict[str, Any], args: Sequence[str]) -> ContainerRequest:
    from berth.cli.container_opts import OptionsError, build_request
    from berth.cli.dockererrors import FlagError, flag_error
    from berth.cli.hijack import terminal_size

    image, command = args[0], list(args[1:])
    try:
        return build_request(params, image, command, console_size=terminal_size(sys.stdout))
    except FlagError as exc:
        raise flag_error(ctx, str(exc)) from None
    except OptionsError as exc:
        raise StatusError(with_help(str(exc), ctx.command_path), ENGINE_ERROR) from None


@click.command(
    "create",
    cls=DockerCommand,
    use="[OPTIONS] IMAGE [COMMAND] [ARG...]",
    min_args=1,
    context_settings={"help_option_names": ["--help"], "allow_interspersed_args": False},
)
@click.argument("args", nargs=-1, metavar="IMAGE [COMMAND] [ARG...]")
@pass_state
@click.pass_context
def create(ctx: click.Context, state: CliState, /, args: tuple[str, ...], **params: Any) -> None:
    """Create a new container."""
    request = _request(ctx, params, args)
    ident = create_container(state.api(), request)
    click.echo(ident)


add_flags(create, run=False)


# --- the attached session ----------------------------------------------------------------------


class Session:
    """Events of an attached run/start: the stream's end ("stream", outcome) and the
    container's ("status", exit code), in the order they happen."""

    def __init__(self) -> None:
        self.events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.streamer: Any = None
        self.raw: Any = None
        self.waiter: Any = None
        self._pending: list[tuple[str, Any]] = []
        self._closing = threading.Event()  # after close(), a broken wait is no news

    def attach(
        self,
        api: APIClient,
        ident: str,
        *,
        stdin: bool,
        stdout: bool,
        stderr: bool,
        tty: bool,
        detach_keys: str,
    ) -> None:
        """docker's attachContainer: the hijack, then its streamer on a thread."""
        from berth.cli.hijack import Streamer
        from berth.client import containers

        self.raw = containers.attach(
            api, ident, stdin=stdin, stdout=stdout, stderr=stderr, detach_keys=detach_keys
        )
        out = _stdout() if stdout else None
        err: IO[bytes] | None = None
        if stderr:
            err = _stdout() if tty else _stderr()
        self.streamer = Streamer(
            self.raw,
            stdin=_stdin() if stdin else None,
            stdout=out,
            stderr=err,
            tty=tty,
            detach_keys=_detach_keys(detach_keys),
        )
        streamer = self.streamer

        def stream() -> None:
            try:
                outcome = streamer.run()
            except BaseException as exc:
                outcome = exc
            self.events.put(("stream", outcome))

        threading.Thread(target=stream, name="berth-stream", daemon=True).start()

    def wait(self, api: APIClient, ident: str, condition: str) -> None:
        """docker's waitExitOrRemoved: the request now, the exit code later on a thread."""
        from berth.client import containers
        from berth.client.errors import ClientError

        try:
            self.waiter = containers.Wait(api, ident, condition)
        except ClientError as exc:
            _warn(f"ERRO[0000] error waiting for container: {exc}")
            self.events.put(("status", ENGINE_ERROR))
            return
        waiter = self.waiter

        def wait() -> None:
            try:
                code, error = waiter.result()
            except (ClientError, OSError, ValueError, RuntimeError) as exc:
                if self._closing.is_set():  # closed by us: nobody waits any more
                    return
                _warn(f"ERRO[0000] error waiting for container: {exc}")
                code, error = ENGINE_ERROR, ""
            if error:
                _warn(f"ERRO[0000] Error waiting for container: {error}")
                code = ENGINE_ERROR
            self.events.put(("status", code))

        threading.Thread(target=wait, name="berth-wait", daemon=True).start()

    def next(self, *kinds: str) -> tuple[str, Any]:
        """The next event of one of these kinds (others are kept for later)."""
        for i, event in enumerate(self._pending):
            if event[0] in kinds:
                return self._pending.pop(i)
        while True:
            event = self.events.get()
            if event[0] in kinds:
                return event
            self._pending.append(event)

    def cancel_stream(self) -> None:
        if self.streamer is not None:
            self.streamer.cancel()

    def restore(self) -> None:
        if self.streamer is not None:
            self.streamer.restore()

    def close(self) -> None:
        self._closing.set()
        if self.streamer is not None:
            self.streamer.restore()
        if self.raw is not None:
            self.raw.close()
        if self.waiter is not None:
            self.waiter.close()


def _resize_container(api: APIClient, ident: str, delta: int = 0) -> Callable[[], None]:
    from berth.cli.hijack import terminal_size
    from berth.client import containers

    def resize() -> None:
        height, width = terminal_size(sys.stdout)
        if height == 0 and width == 0:
            return
        containers.resize(api, ident, height + delta, width + delta)

    return resize


def _forwarder(api: APIClient, ident: str) -> Callable[[str], None]:
    from berth.client import containers

    def forward(name: str) -> None:
        containers.kill(api, ident, name)

    return forward


def _stream_failure(outcome: Any) -> int | None:
    """How a stream outcome ends the command: None (go on), or an exit status."""
    from berth.cli.hijack import CANCELLED, DETACHED

    if outcome is DETACHED:
        return 0
    if outcome is None or outcome is CANCELLED:
        return None
    if isinstance(outcome, BrokenPipeError):
        return 141  # docker dies of SIGPIPE when its stdout goes away
    message = str(outcome) or type(outcome).__name__
    if isinstance(outcome, OSError) and outcome.strerror:
        message = outcome.strerror
    _warn(message)
    return 1


# --- run -----------------------------------------------------------------------------------------


@click.command(
    "run",
    cls=DockerCommand,
    use="[OPTIONS] IMAGE [COMMAND] [ARG...]",
    min_args=1,
    context_settings={"help_option_names": ["--help"], "allow_interspersed_args": False},
)
@click.argument("args", nargs=-1, metavar="IMAGE [COMMAND] [ARG...]")
@pass_state
@click.pass_context
def run(ctx: click.Context, state: CliState, /, args: tuple[str, ...], **params: Any) -> None:
    """Create and run a new container from an image."""
    request = _request(ctx, params, args)
    config = request.body
    detach = params["detach"]
    if not detach:
        _check_tty(config["AttachStdin"], config["Tty"])
    else:
        if params["attach"]:
            raise CliError("conflicting options: cannot specify both --attach and --detach")
        for key in ("AttachStdin", "AttachStdout", "AttachStderr", "StdinOnce"):
            config[key] = False
    api = state.api()
    from berth.client.errors import ClientError

    try:
        ident = create_container(api, request)
    except (ClientError, CliError) as exc:
        raise _run_failure(ctx, str(exc)) from None
    code = _run_created(ctx, api, ident, request, params)
    if code:
        raise click.exceptions.Exit(code)


def _run_created(
    ctx: click.Context,
    api: APIClient,
    ident: str,
    request: ContainerRequest,
    params: dict[str, Any],
) -> int:
    from berth.cli.hijack import SignalProxy, initial_resize, is_terminal
    from berth.client import containers
    from berth.client.errors import ClientError

    config = request.body
    attach = config["AttachStdin"] or config["AttachStdout"] or config["AttachStderr"]
    session = Session()
    proxy = SignalProxy(
        _forwarder(api, ident) if params["sig_proxy"] else None, restore=session.restore
    )
    with proxy:
        try:
            if not attach:
                click.echo(ident)
                sys.stdout.flush()
            else:
                session.attach(
                    api,
                    ident,
                    stdin=config["AttachStdin"],
                    stdout=config["AttachStdout"],
                    stderr=config["AttachStderr"],
                    tty=config["Tty"],
                    detach_keys=params["detach_keys"] or "",
                )
                session.wait(api, ident, "removed" if request.auto_remove else "next-exit")
            try:
                containers.start(api, ident)
            except ClientError as exc:
                if attach:
                    session.cancel_stream()
                    session.next("stream")
                session.restore()
                if request.auto_remove:
                    if not attach:
                        with contextlib.suppress(ClientError):
                            containers.Wait(api, ident, "removed").result()
                    else:
                        session.next("status")
                raise _run_failure(ctx, str(exc)) from None
            if not attach:
                return 0
            if config["Tty"] and is_terminal(sys.stdout):
                resize = _resize_container(api, ident)
                proxy.resize = resize
                proxy.watch_resize()
                initial_resize(resize, _warn)
            kind, value = session.next("stream", "status")
            if kind == "stream":
                failure = _stream_failure(value)
                if failure is not None:
                    return failure
                _, status = session.next("status")
                return int(status)
            status = int(value)
            if not config["AttachStdout"] and not config["AttachStderr"]:
                session.cancel_stream()
            session.next("stream")
            return status
        finally:
            session.close()


run = add_flags(run, run=True)  # type: ignore[assignment]


# --- start ---------------------------------------------------------------------------------------


@click.command(
    "start",
    cls=DockerCommand,
    use="[OPTIONS] CONTAINER [CONTAINER...]",
    min_args=1,
)
@click.option("-a", "--attach", is_flag=True, help="Attach STDOUT/STDERR and forward signals")
@click.option(
    "--detach-keys", default="", metavar="string",
    help="Override the key sequence for detaching a container",
)  # fmt: skip
@click.option("-i", "--interactive", is_flag=True, help="Attach container's STDIN")
@click.argument("args", nargs=-1, metavar="CONTAINER [CONTAINER...]")
@pass_state
def start(
    state: CliState, attach: bool, detach_keys: str, interactive: bool, args: tuple[str, ...]
) -> None:
    """Start one or more stopped containers."""
    from berth.client import containers
    from berth.client.errors import ClientError

    api = state.api()
    if not attach and not interactive:
        failed = []
        for name in args:
            try:
                containers.start(api, name)
            except ClientError as exc:
                _warn(str(exc))
                failed.append(name)
                continue
            click.echo(name)
        if failed:
            raise CliError(f"Error: failed to start containers: {', '.join(failed)}")
        return
    if len(args) > 1:
        raise CliError("you cannot start and attach multiple containers at once")
    code = _start_attached(api, args[0], interactive, detach_keys)
    if code:
        raise click.exceptions.Exit(code)


def _start_attached(api: APIClient, ref: str, interactive: bool, detach_keys: str) -> int:
    from berth.cli.hijack import SignalProxy, initial_resize, is_terminal
    from berth.client import containers
    from berth.client.errors import ClientError

    found = containers.inspect(api, ref)
    ident = str(found.get("Id") or ref)
    config = found.get("Config") or {}
    host = found.get("HostConfig") or {}
    tty = bool(config.get("Tty"))
    auto_remove = bool(host.get("AutoRemove"))
    session = Session()
    forward = None if tty else _forwarder(api, ident)
    with SignalProxy(forward, restore=session.restore) as proxy:
        try:
            session.attach(
                api,
                ident,
                stdin=interactive and bool(config.get("OpenStdin")),
                stdout=True,
                stderr=True,
                tty=tty,
                detach_keys=detach_keys,
            )
            session.wait(api, ident, "removed" if auto_remove else "next-exit")
            try:
                containers.start(api, ident)
            except ClientError:
                session.cancel_stream()
                session.next("stream")
                if auto_remove:
                    session.next("status")
                raise
            if tty and is_terminal(sys.stdout):
                resize = _resize_container(api, ident)
                proxy.resize = resize
                proxy.watch_resize()
                initial_resize(resize, _warn)
            _, outcome = session.next("stream")
            failure = _stream_failure(outcome)
            if failure is not None:
                return failure
            _, status = session.next("status")
            return int(status)
        finally:
            session.close()


# --- attach --------------------------------------------------------------------------------------


@click.command(
    "attach",
    cls=DockerCommand,
    use="[OPTIONS] CONTAINER",
    min_args=1,
    max_args=1,
)
@click.option(
    "--detach-keys", default="", metavar="string",
    help="Override the key sequence for detaching a container",
)  # fmt: skip
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN")
@click.option(
    "--sig-proxy/--no-sig-proxy", default=True, help="Proxy all received signals to the process"
)
@click.argument("args", nargs=-1, metavar="CONTAINER")
@pass_state
def attach(
    state: CliState, detach_keys: str, no_stdin: bool, sig_proxy: bool, args: tuple[str, ...]
) -> None:
    """Attach local standard input, output, and error streams to a running container."""
    from berth.cli.hijack import DETACHED, SignalProxy, Streamer, is_terminal
    from berth.client import containers

    api = state.api()
    ref = args[0]
    waiter = containers.Wait(api, ref, "")
    raw = None
    try:
        found = _attachable(api, ref)
        config = found.get("Config") or {}
        tty = bool(config.get("Tty"))
        _check_tty(not no_stdin, tty)
        stdin = not no_stdin and bool(config.get("OpenStdin"))
        ident = str(found.get("Id") or ref)
        forward = _forwarder(api, ident) if sig_proxy and not tty else None
        with SignalProxy(forward) as proxy:
            raw = containers.attach(
                api, ident, stdin=stdin, stdout=True, stderr=True, detach_keys=detach_keys
            )
            _attachable(api, ref)
            if tty and is_terminal(sys.stdout):
                from berth.cli.hijack import initial_resize

                with contextlib.suppress(Exception):
                    _resize_container(api, ident, 1)()
                resize = _resize_container(api, ident)
                proxy.resize = resize
                proxy.watch_resize()
                initial_resize(resize, _warn)
            streamer = Streamer(
                raw,
                stdin=_stdin() if stdin else None,
                stdout=_stdout(),
                stderr=_stderr(),
                tty=tty,
                detach_keys=_detach_keys(detach_keys),
            )
            proxy.restore = streamer.restore
            outcome = streamer.run()
        if outcome is DETACHED:
            raise CliError("read escape sequence")
        if isinstance(outcome, BaseException):
            code = _stream_failure(outcome)
            raise click.exceptions.Exit(code or 1)
        code, error = waiter.result()
        if error:
            raise CliError(error)
        if code:
            raise click.exceptions.Exit(code)
    finally:
        if raw is not None:
            raw.close()
        waiter.close()


def _attachable(api: APIClient, ref: str) -> dict[str, Any]:
    from berth.client import containers

    found = containers.inspect(api, ref)
    state = found.get("State") or {}
    if not state.get("Running"):
        raise CliError("You cannot attach to a stopped container, start it first")
    if state.get("Paused"):
        raise CliError("You cannot attach to a paused container, unpause it first")
    if state.get("Restarting"):
        raise CliError("You cannot attach to a restarting container, wait until it is running")
    return found


# --- exec ----------------------------------------------------------------------------------------


@click.command(
    "exec",
    cls=DockerCommand,
    use="[OPTIONS] CONTAINER COMMAND [ARG...]",
    min_args=2,
    context_settings={"allow_interspersed_args": False},
)
@click.option("-d", "--detach", is_flag=True, help="Detached mode: run command in the background")
@click.option(
    "--detach-keys", default="", metavar="string",
    help="Override the key sequence for detaching a container",
)  # fmt: skip
@click.option("-e", "--env", multiple=True, metavar="list", help="Set environment variables")
@click.option(
    "--env-file", multiple=True, metavar="list", help="Read in a file of environment variables"
)
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached")
@click.option("--privileged", is_flag=True, help="Give extended privileges to the command")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY")
@click.option(
    "-u", "--user", default="", metavar="string",
    help='Username or UID (format: "<name|uid>[:<group|gid>]")',
)  # fmt: skip
@click.option(
    "-w", "--workdir", default="", metavar="string", help="Working directory inside the container"
)
@click.argument("args", nargs=-1, metavar="CONTAINER COMMAND [ARG...]")
@pass_state
@click.pass_context
def exec_(
    ctx: click.Context,
    state: CliState,
    detach: bool,
    detach_keys: str,
    env: tuple[str, ...],
    env_file: tuple[str, ...],
    interactive: bool,
    privileged: bool,
    tty: bool,
    user: str,
    workdir: str,
    args: tuple[str, ...],
) -> None:
    """Execute a command in a running container."""
    from berth.cli.container_opts import OptionsError, read_kv_file
    from berth.cli.dockererrors import FlagError, invalid_argument
    from berth.cli.flagvalues import validate_env
    from berth.cli.hijack import terminal_size
    from berth.client import containers

    variables: list[str] = []
    try:
        for path in env_file:
            variables.extend(read_kv_file(path, os.environ.get))
    except OptionsError as exc:
        raise CliError(str(exc)) from None
    for item in env:
        try:
            variables.append(validate_env(item))
        except FlagError as exc:
            raise invalid_argument(ctx, "env", item, str(exc)) from None
    ref, command = args[0], list(args[1:])
    config: dict[str, Any] = {
        "User": user,
        "Privileged": privileged,
        "Tty": tty,
        "ConsoleSize": None,
        "AttachStdin": interactive and not detach,
        "AttachStderr": not detach,
        "AttachStdout": not detach,
        "Detach": detach,
        "DetachKeys": detach_keys,
        "Env": variables or None,
        "WorkingDir": workdir,
        "Cmd": command,
    }
    api = state.api()
    containers.inspect(api, ref)
    if not detach:
        _check_tty(config["AttachStdin"], tty)
    if tty:
        config["ConsoleSize"] = list(terminal_size(sys.stdout))
    exec_id = containers.exec_create(api, ref, config)
    if detach:
        containers.exec_start(api, exec_id, tty=tty, console_size=config["ConsoleSize"])
        return
    code = _exec_attached(api, exec_id, config)
    if code:
        raise click.exceptions.Exit(code)


def _exec_attached(api: APIClient, exec_id: str, config: dict[str, Any]) -> int:
    from berth.cli.hijack import (
        DETACHED,
        SignalProxy,
        Streamer,
        initial_resize,
        is_terminal,
        terminal_size,
    )
    from berth.client import containers

    tty = bool(config["Tty"])
    if tty:
        config["ConsoleSize"] = list(terminal_size(sys.stdout))
    raw = containers.exec_attach(api, exec_id, tty=tty, console_size=config["ConsoleSize"])
    try:
        streamer = Streamer(
            raw,
            stdin=_stdin() if config["AttachStdin"] else None,
            stdout=_stdout(),
            stderr=_stdout() if tty else _stderr(),
            tty=tty,
            detach_keys=_detach_keys(str(config["DetachKeys"])),
        )
        with SignalProxy(None, restore=streamer.restore) as proxy:
            if tty and is_terminal(sys.stdin):

                def resize() -> None:
                    height, width = terminal_size(sys.stdout)
                    if height or width:
                        containers.exec_resize(api, exec_id, height, width)

                proxy.resize = resize
                proxy.watch_resize()
                initial_resize(resize, _warn)
            outcome = streamer.run()
    finally:
        raw.close()
    if outcome is DETACHED:
        raise CliError("read escape sequence")
    if isinstance(outcome, BaseException):
        return _stream_failure(outcome) or 1
    found = containers.exec_inspect(api, exec_id)
    code = found.get("ExitCode")
    return code if isinstance(code, int) and not isinstance(code, bool) else 0
