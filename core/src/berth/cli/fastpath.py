"""`berth`'s entry point: the budgeted commands on a lean path, the rest through click.

Loading click and the whole CLI costs about 50 ms, more than the daemon's share of an `exec`
and a third of a `run`. Without a terminal or stdin (what scripts, health probes and
benchmarks run), these commands are answered here, their output exactly the full command's:

- `berth exec [-e K=V] [-u U] [-w DIR] [--privileged] CONTAINER CMD...`, with the standard
  library's C modules only;
- `berth run [FLAGS] IMAGE [CMD...]`, for every run flag but those of terminals, stdin,
  attaching, signals and cid files; the flags are read by the full CLI's own flag table and
  request builder (`container_flags`, `container_opts`), only click is left out;
- `build`, `cp`, `commit`, `images` and `pull` in their plain forms (their modules say which).

Anything else — another command, other flags, `-i`/`-t`, global flags, a daemon that does not
answer, any error before the container or exec exists — goes to the full CLI
(`berth.cli.main`), which gives the usual messages (and pulls a missing image).
"""

from __future__ import annotations

import os
import sys

from berth import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from berth.cli.hijack import SignalProxy
    from berth.client.api import APIClient
    from berth.client.hosts import Host
    from berth.client.transport import Connection, Response

API_PREFIX = "/v1.44"
FRAME_HEADER = 8
STDERR, SYSTEMERR = 2, 3
EXIT_INTERRUPTED = 130

# exec flags taking a value, by every spelling the fast path accepts, and their config key
_VALUE_FLAGS = {
    "-e": "Env",
    "--env": "Env",
    "-u": "User",
    "--user": "User",
    "-w": "WorkingDir",
    "--workdir": "WorkingDir",
}


def main() -> None:
    args = sys.argv[1:]
    fast = {
        "exec": fast_exec,
        "run": fast_run,
        "build": fast_build,
        "cp": fast_cp,
        "commit": fast_commit,
        "images": fast_images,
        "pull": fast_pull,
    }.get(args[0] if args else "")
    if fast is not None:
        code = fast(args[1:])
        if code is not None:
            _leave(code)
    from berth.cli.main import main as full_cli

    full_cli()


def fast_build(args: list[str]) -> int | None:
    """`berth build` without click (berth.cli.buildrun); None for the full CLI."""
    from berth.cli.buildrun import fast_build as build

    return build(args)


def fast_pull(args: list[str]) -> int | None:
    """`berth pull` without click (berth.cli.pull_fast); None for the full CLI."""
    from berth.cli.pull_fast import fast_pull as pull

    return pull(args)


def fast_cp(args: list[str]) -> int | None:
    """`berth cp` without click (berth.cli.fileops_fast); None for the full CLI."""
    from berth.cli.fileops_fast import fast_cp as cp

    return cp(args)


def fast_commit(args: list[str]) -> int | None:
    """`berth commit` without click (berth.cli.fileops_fast); None for the full CLI."""
    from berth.cli.fileops_fast import fast_commit as commit

    return commit(args)


# `images` flags the fast path reads: booleans, and --format with its value
_IMAGES_FLAGS = {
    "-a": "all_",
    "--all": "all_",
    "--digests": "digests",
    "--no-trunc": "no_trunc",
    "-q": "quiet",
    "--quiet": "quiet",
}


def fast_images(args: list[str]) -> int | None:
    """`berth images [-a] [-q] [--digests] [--no-trunc] [--format F] [REPOSITORY]`."""
    options: dict[str, bool] = dict.fromkeys(_IMAGES_FLAGS.values(), False)
    format_: str | None = None
    repository: str | None = None
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg in _IMAGES_FLAGS:
            options[_IMAGES_FLAGS[arg]] = True
        elif arg == "--format" and index < len(args):
            format_ = args[index]
            index += 1
        elif arg.startswith("--format="):
            format_ = arg.partition("=")[2]
        elif not arg.startswith("-") and repository is None:
            repository = arg
        else:
            return None
    from berth.cli.image_views import images_text
    from berth.cli.template import TemplateError
    from berth.client.api import APIClient
    from berth.client.errors import ClientError
    from berth.client.hosts import resolve_host

    try:
        api = APIClient(resolve_host(None))
        text = images_text(api, repository, filters={}, format_=format_, **options)
    except (ClientError, OSError, ValueError, TemplateError):
        return None  # a GET: the full CLI asks again and reports the problem
    _write(1, text.encode())
    return 0


def _leave(code: int) -> None:
    """Exit without the interpreter's teardown, as the full CLI does."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        code = code or 1
    os._exit(code)


def exec_config(args: list[str]) -> tuple[str, dict[str, object]] | None:
    """(container, exec config) for the plain exec forms; None for anything else."""
    config: dict[str, object] = {
        "User": "",
        "Privileged": False,
        "Tty": False,
        "ConsoleSize": None,
        "AttachStdin": False,
        "AttachStderr": True,
        "AttachStdout": True,
        "Detach": False,
        "DetachKeys": "",
        "Env": None,
        "WorkingDir": "",
        "Cmd": [],
    }
    env: list[str] = []
    index = 0
    while index < len(args) and args[index].startswith("-"):
        flag, has_value, value = args[index].partition("=")
        index += 1
        if flag == "--privileged" and not has_value:
            config["Privileged"] = True
            continue
        key = _VALUE_FLAGS.get(flag)
        if key is None or flag == "--":
            return None
        if not has_value:
            if index == len(args):
                return None
            value = args[index]
            index += 1
        if key == "Env":
            name, sep, _ = value.partition("=")
            if not name or not sep:  # `-e KEY` takes the shell's value: the full CLI's rules
                return None
            env.append(value)
        else:
            config[key] = value
    if len(args) - index < 2:
        return None
    config["Env"] = env or None
    config["Cmd"] = args[index + 1 :]
    return args[index], config


def fast_exec(args: list[str]) -> int | None:
    """Run a plain exec: its exit code, or None when the full CLI must take over."""
    parsed = exec_config(args)
    if parsed is None:
        return None
    ref, config = parsed
    from berth.client import jsonlite
    from berth.client.errors import ClientError
    from berth.client.hosts import resolve_host
    from berth.client.paths import container_path, exec_path

    try:
        host = resolve_host(None)
    except ClientError:
        return None
    if host.scheme != "unix":
        return None
    try:
        status, body = _call(host, "POST", container_path(ref, "exec"), jsonlite.dumps(config))
        if status != 201:
            return None  # nothing was made: the full CLI says what is wrong
        exec_id = jsonlite.loads(body)["Id"]
        if not isinstance(exec_id, str) or not exec_id:
            return None
        connection, response = _send(
            host,
            "POST",
            exec_path(exec_id, "start"),
            jsonlite.dumps({"Detach": False, "Tty": False}),
            {"Connection": "Upgrade", "Upgrade": "tcp"},
        )
        if response.status != 101:
            connection.close()
            return None  # an unused exec is harmless; the full CLI reports the problem
        stream = connection.raw_stream(response.headers.get("content-type", ""))
        try:
            failure = _copy_output(stream.recv, stream.multiplexed)
        finally:
            stream.close()
        if failure is not None:  # the daemon's own error frame ends the command, as in the CLI
            _write(STDERR, f"error from daemon in stream: {failure}\n".encode())
            return 1
        status, body = _call(host, "GET", exec_path(exec_id, "json"), None)
    except (OSError, ClientError, ValueError, KeyError, TypeError):
        return None
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    if status != 200:
        return None
    code = jsonlite.loads(body).get("ExitCode")
    return code if isinstance(code, int) and not isinstance(code, bool) else 0


# run flags left to the full CLI: terminals, stdin and attaching, signals, files it writes
_RUN_FLAGS_HANDED_OVER = frozenset(
    {"interactive", "tty", "attach", "detach_keys", "sig_proxy", "cidfile", "disable_content_trust"}
)


def run_params(args: list[str]) -> tuple[dict[str, object], str, list[str]] | None:
    """(flag values as click would pass them, image, command); None for what the full CLI
    must read (see `_RUN_FLAGS_HANDED_OVER`, combined short flags, `--flag=value` booleans)."""
    from berth.cli.container_flags import CONTAINER_FLAGS, RUN_ONLY_FLAGS, unset_values

    by_spelling = {
        decl: flag
        for flag in (*CONTAINER_FLAGS, *RUN_ONLY_FLAGS)
        if flag.dest not in _RUN_FLAGS_HANDED_OVER
        for decl in flag.decls
    }
    params = unset_values(run=True)
    index = 0
    while index < len(args) and args[index].startswith("-") and args[index] != "-":
        arg = args[index]
        index += 1
        if arg.startswith("--"):
            spelling, equals, value = arg.partition("=")
        elif len(arg) == 2:
            spelling, equals, value = arg, "", ""
        else:  # -dit, -eK=V: pflag's short forms, left to the full CLI
            return None
        flag = by_spelling.get(spelling)
        if flag is None:
            return None
        if flag.kind == "bool":
            if equals:
                return None
            params[flag.dest] = True
            continue
        if not equals:
            if index == len(args):
                return None
            value = args[index]
            index += 1
        if flag.kind == "list":
            params[flag.dest] = (*params[flag.dest], value)
        else:
            params[flag.dest] = value
    if index == len(args):
        return None
    return params, args[index], args[index + 1 :]


def fast_run(args: list[str]) -> int | None:
    """Run a container without a terminal: its exit code, or None for the full CLI."""
    parsed = run_params(args)
    if parsed is None:
        return None
    params, image, command = parsed
    from berth.cli.container_opts import OptionsError, build_request
    from berth.cli.exitstatus import FlagError
    from berth.cli.hijack import SignalProxy, terminal_size
    from berth.client import containers
    from berth.client.api import APIClient
    from berth.client.errors import ClientError, DaemonError
    from berth.client.hosts import resolve_host

    try:
        request = build_request(params, image, command, console_size=terminal_size(sys.stdout))
        api = APIClient(resolve_host(None))
    except (FlagError, OptionsError, ClientError):
        return None
    if request.pull == "always" or request.cidfile:
        return None
    body = request.body
    detach = bool(params["detach"])
    if detach:
        for key in ("AttachStdin", "AttachStdout", "AttachStderr", "StdinOnce"):
            body[key] = False
    try:
        created = containers.create(api, body, name=request.name, platform=request.platform)
    except (ClientError, OSError):
        return None  # nothing was made: the full CLI reports it (or pulls the image)
    ident = str(created.get("Id") or "")
    for warning in created.get("Warnings") or []:
        _write(STDERR, f"WARNING: {warning}\n".encode())
    if detach:
        return _detached_start(api, ident, request.auto_remove)
    try:
        return _attached_run(api, ident, body, request.auto_remove, SignalProxy)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except (DaemonError, OSError, ClientError) as exc:
        _write(STDERR, f"berth: {exc}\n".encode())
        return 125


def _detached_start(api: APIClient, ident: str, auto_remove: bool) -> int:
    """`run -d` after create: the ID on stdout, then the start (as the full CLI orders them)."""
    import contextlib

    from berth.cli.exitstatus import status_of, with_help
    from berth.client import containers
    from berth.client.errors import ClientError

    _write(1, f"{ident}\n".encode())
    try:
        containers.start(api, ident)
    except ClientError as exc:
        if auto_remove:
            with contextlib.suppress(ClientError, OSError):
                containers.Wait(api, ident, "removed").result()
        _write(STDERR, (with_help(str(exc), "berth run") + "\n").encode())
        return status_of(str(exc))
    return 0


def _attached_run(
    api: APIClient, ident: str, body: dict[str, object], auto_remove: bool, proxy: type[SignalProxy]
) -> int:
    """docker's run after create: attach, wait, start, copy the output, the exit status."""
    import contextlib  # loaded already, by hijack

    from berth.cli.exitstatus import status_of, with_help
    from berth.client import containers
    from berth.client.errors import ClientError

    stream = containers.attach(
        api,
        ident,
        stdin=False,
        stdout=bool(body["AttachStdout"]),
        stderr=bool(body["AttachStderr"]),
    )
    try:
        waiter = containers.Wait(api, ident, "removed" if auto_remove else "next-exit")

        def forward(name: str) -> None:
            containers.kill(api, ident, name)

        with proxy(forward):
            try:
                containers.start(api, ident)
            except ClientError as exc:
                stream.close()
                if auto_remove:
                    with contextlib.suppress(ClientError, OSError):
                        waiter.result()
                _write(STDERR, (with_help(str(exc), "berth run") + "\n").encode())
                return status_of(str(exc))
            failure = _copy_output(stream.recv, stream.multiplexed)
            if failure is not None:
                _write(STDERR, f"error from daemon in stream: {failure}\n".encode())
                return 1
            code, error = waiter.result()
    finally:
        stream.close()
    if error:
        _write(STDERR, f"ERRO[0000] Error waiting for container: {error}\n".encode())
        return 125
    return code


def _send(
    host: Host, method: str, path: str, body: str | None, headers: dict[str, str] | None = None
) -> tuple[Connection, Response]:
    from berth.client.transport import Connection

    connection = Connection(host)
    connection.connect()
    head = {"User-Agent": f"Berth-Client/{__version__} (linux)", **(headers or {})}
    if body is not None:
        head["Content-Type"] = "application/json"
    payload = None if body is None else body.encode()
    return connection, connection.request(method, API_PREFIX + path, head, payload)


def _call(host: Host, method: str, path: str, body: str | None) -> tuple[int, bytes]:
    connection, response = _send(host, method, path, body)
    try:
        return response.status, response.read()
    finally:
        connection.close()


def _copy_output(recv: Callable[[], bytes], multiplexed: bool) -> str | None:
    """The command's output to our stdout and stderr, frame by frame as the daemon sends it;
    the text of the daemon's own error frame, if one came."""
    pending = b""
    while True:
        data = recv()
        if not data:
            return None
        if not multiplexed:
            _write(1, data)
            continue
        pending += data
        while len(pending) >= FRAME_HEADER:
            size = int.from_bytes(pending[4:FRAME_HEADER], "big")
            if len(pending) < FRAME_HEADER + size:
                break
            stream, payload = pending[0], pending[FRAME_HEADER : FRAME_HEADER + size]
            pending = pending[FRAME_HEADER + size :]
            if stream == SYSTEMERR:
                return payload.decode("utf-8", "replace")
            _write(STDERR if stream == STDERR else 1, payload)


def _write(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


if __name__ == "__main__":
    main()
