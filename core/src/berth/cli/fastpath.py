"""`berth`'s entry point: the commonest budgeted command on a lean path, the rest through click.

Loading click and the whole CLI costs about 50 ms, more than the daemon's share of an
`exec`. `berth exec [-e K=V] [-u U] [-w DIR] [--privileged] CONTAINER CMD...` (no terminal, no
stdin: what scripts and health probes run) is answered here with the standard library's C
modules only, and its output is exactly the full command's. Anything else — another command,
other flags, `-i`/`-t`, global flags, a daemon that does not answer, any error before the
command starts — goes to the full CLI (`berth.cli.main`), which gives the usual messages.
"""

from __future__ import annotations

import os
import sys

from berth import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

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
    if args[:1] == ["exec"]:
        code = fast_exec(args[1:])
        if code is not None:
            _leave(code)
    from berth.cli.main import main as full_cli

    full_cli()


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
