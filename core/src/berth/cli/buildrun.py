"""What `berth build` does once its flags are read, without click: shared by the click command
(`berth.cli.build`) and the lean entry point (`fast_build`, for scripts and benchmarks: a
rebuild is often quicker than loading click and the whole CLI).

The context (a directory, or a tar or Dockerfile on stdin) is tarred while it is sent; the
daemon's JSON stream is shown as it comes (`stream` text as is, pulls as progress); `aux.ID` is
the built image, for `-q` and `--iidfile`. An error in the stream ends the command with that
message and its code (a failing RUN's exit status), else 1.
"""

from __future__ import annotations

import os
import sys

from berth.cli.errors import CliError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, BinaryIO

    from berth.client.api import APIClient
    from berth.client.contexttar import BuildContext

_URL_PREFIXES = ("http://", "https://", "git://", "git@", "github.com/")


class BuildRequest:
    """The flags of `berth build` (a plain class: a dataclass costs start-up time)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.tags: list[str] = []
        self.dockerfile = ""
        self.build_args: list[str] = []
        self.target = ""
        self.labels: list[str] = []
        self.iidfile = ""
        self.quiet = False
        self.no_cache = False
        self.pull = False
        self.network = "default"
        self.platform = os.environ.get("DOCKER_DEFAULT_PLATFORM", "")
        self.cache_from: list[str] = []
        self.remove = True
        self.force_rm = False
        self.compress = False


def run(request: BuildRequest, api: APIClient, terminal: bool, width: int) -> int:
    """Build; the exit status. Bad flags or context raise CliError, before anything is sent."""
    for tag in request.tags:
        _check_tag(tag)
    build_args = _build_args(request.build_args)
    labels = {key: value for key, _, value in (label.partition("=") for label in request.labels)}
    context = _prepare_context(request.path, request.dockerfile)
    if request.iidfile:
        _remove_iidfile(request.iidfile)
    # What docker 28 sends: defaults and empty values left out.
    cache_from = [image for image in request.cache_from if image]
    query: dict[str, str | int | bool | list[str] | None] = {
        "t": [tag for tag in request.tags if tag] or None,
        "q": True if request.quiet else None,
        "nocache": True if request.no_cache else None,
        "rm": None if request.remove else False,
        "forcerm": True if request.force_rm else None,
        "pull": True if request.pull else None,
        "networkmode": request.network if request.network not in ("", "default") else None,
        "dockerfile": context.dockerfile,
        "target": request.target or None,
        "buildargs": _json(build_args) if build_args else None,
        "labels": _json(labels) if labels else None,
        "cachefrom": _json(cache_from) if cache_from else None,
        "platform": request.platform.lower() or None,
        "version": "1",
    }
    out: Any = _Buffer() if request.quiet else sys.stdout
    stream = _gzipped(context.stream) if request.compress else context.stream
    outcome = _stream_build(api, stream, query, out, terminal and not request.quiet, width)
    if isinstance(outcome, tuple):
        message, code = outcome
        if isinstance(out, _Buffer):
            sys.stderr.write(out.getvalue())
        sys.stderr.write(message + "\n")
        return code
    if request.iidfile:
        if not outcome:
            raise CliError(f"Server did not provide an image ID. Cannot write {request.iidfile}")
        try:
            with open(request.iidfile, "w") as file:
                file.write(outcome)
        except OSError as exc:
            raise CliError(
                f"Cannot write the image ID file {request.iidfile}: {exc.strerror}"
            ) from None
    if request.quiet:
        sys.stdout.write(outcome + "\n")
    return 0


def _json(value: object) -> str:
    """Compact JSON, as Go writes it."""
    import json

    return json.dumps(value, separators=(",", ":"))


def _check_tag(tag: str) -> None:
    from berth.client.plainref import is_plain_valid

    if is_plain_valid(tag):
        return  # the common case, without compiling the full grammar
    from berth.client.reference import ReferenceError, parse_normalized

    try:
        parse_normalized(tag)
    except ReferenceError as exc:
        raise CliError(f'invalid argument "{tag}" for "-t, --tag" flag: {exc}') from None


def _build_args(values: list[str]) -> dict[str, str | None]:
    """`KEY=VALUE`, or `KEY` taking this shell's value (null when unset: the Dockerfile's
    default then), as docker sends them."""
    result: dict[str, str | None] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not key:
            raise CliError(f'invalid argument "{value}" for "--build-arg" flag: invalid variable')
        result[key] = val if sep else os.environ.get(key)
    return result


def _prepare_context(path: str, dockerfile: str) -> BuildContext:
    from berth.client import contexttar

    stdin = sys.stdin.buffer
    try:
        if path == "-":
            if dockerfile == "-":
                raise CliError(
                    "invalid argument: can't use stdin for both build context and dockerfile"
                )
            return contexttar.from_stdin(stdin, dockerfile or None)
        if path.startswith(_URL_PREFIXES):
            raise CliError(
                f"unable to prepare context: {path} is a remote context, which berth build does "
                "not fetch: clone or download it, then build the directory"
            )
        if dockerfile == "-":
            text = contexttar.read_dockerfile_stdin(stdin)
            return contexttar.from_directory(path, dockerfile_text=text)
        return contexttar.from_directory(path, dockerfile or None)
    except contexttar.ContextError as exc:
        raise CliError(str(exc)) from None


def _remove_iidfile(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise CliError(f"Removing image ID file: {exc.strerror}: {path}") from None


class _Buffer:
    """Where `-q` keeps the output: shown on stderr only if the build fails."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def getvalue(self) -> str:
        return "".join(self.parts)


def _stream_build(
    api: APIClient, context: BinaryIO, query: dict[str, Any], out: Any, terminal: bool, width: int
) -> str | tuple[str, int]:
    """Send the build and show its stream on `out`: the image ID, or (error, exit status)."""
    from berth.cli.jsonmessage import display, error_of
    from berth.client import builds

    def write(text: str) -> None:
        if text:
            out.write(text)
            out.flush()

    sending: Any = _SendingProgress(context, write, terminal)
    image_id = ""
    failure: tuple[str, int] | None = None

    def messages() -> Any:
        nonlocal image_id, failure
        for message in builds.build_image(api, sending, query):
            error = error_of(message)
            if error is not None:
                detail = message.get("errorDetail")
                code = detail.get("code") if isinstance(detail, dict) else None
                failure = (error, code if isinstance(code, int) and code > 0 else 1)
                return
            aux = message.get("aux")
            if isinstance(aux, dict) and isinstance(aux.get("ID"), str):
                image_id = aux["ID"]
            yield message

    display(messages(), write, terminal=terminal, width=width)
    return failure if failure is not None else image_id


class _SendingProgress:
    """Reads the context for the upload and says how much was sent, as docker does:
    `Sending build context to Docker daemon  2.048kB` (redrawn on a terminal)."""

    LABEL = "Sending build context to Docker daemon"

    def __init__(self, stream: BinaryIO, write: Any, terminal: bool) -> None:
        self.stream = stream
        self.write = write
        self.terminal = terminal
        self.sent = 0
        self.shown_at = 0.0
        self.done = False

    def read(self, size: int = -1) -> bytes:
        import time

        data = self.stream.read(size)
        self.sent += len(data)
        if not data and not self.done:
            self.done = True
            self.write(f"{self.LABEL} {self._size()}\r\r\n")
        elif data and self.terminal and time.monotonic() - self.shown_at > 0.1:
            self.shown_at = time.monotonic()
            self.write(f"{self.LABEL} {self._size()}\r")
        return data

    def _size(self) -> str:
        from berth.cli.jsonmessage import human_size

        return f"{human_size(self.sent):>8}"

    def fileno(self) -> int:
        raise OSError("not a file")  # the upload then reads it piece by piece


def _gzipped(stream: BinaryIO) -> BinaryIO:
    """The stream gzip-compressed as it is read (`--compress`)."""
    import zlib

    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)  # 31: with a gzip header

    class Gzipped:
        done = False

        def read(self, size: int = -1) -> bytes:
            while not self.done:
                data = stream.read(size if size > 0 else 1 << 20)
                if not data:
                    self.done = True
                    return compressor.flush()
                packed = compressor.compress(data)
                if packed:
                    return packed
            return b""

        def fileno(self) -> int:
            raise OSError("not a file")

    result: Any = Gzipped()
    return result  # type: ignore[no-any-return]


# ---- the lean entry point ----

_BOOL_FLAGS = {
    "-q": "quiet",
    "--quiet": "quiet",
    "--no-cache": "no_cache",
    "--pull": "pull",
    "--rm": "remove",
    "--force-rm": "force_rm",
    "--compress": "compress",
    "--disable-content-trust": "",
}
_VALUE_FLAGS = {
    "-t": "tags",
    "--tag": "tags",
    "-f": "dockerfile",
    "--file": "dockerfile",
    "--build-arg": "build_args",
    "--target": "target",
    "--label": "labels",
    "--iidfile": "iidfile",
    "--network": "network",
    "--platform": "platform",
    "--cache-from": "cache_from",
}
_TRUE, _FALSE = ("1", "t", "T", "TRUE", "true", "True"), ("0", "f", "F", "FALSE", "false", "False")


def parse_flags(args: list[str]) -> BuildRequest | None:
    """The request for plain `build` arguments; None for anything the full CLI must read
    (help, an unknown or combined flag, a missing value, not exactly one PATH)."""
    values: dict[str, object] = {}
    paths: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        index += 1
        if arg == "--":
            paths.extend(args[index:])
            break
        if not arg.startswith("-") or arg == "-":
            paths.append(arg)
            continue
        spelling, equals, value = arg.partition("=")
        if spelling in _BOOL_FLAGS:
            if equals and value not in _TRUE + _FALSE:
                return None
            if _BOOL_FLAGS[spelling]:
                values[_BOOL_FLAGS[spelling]] = not equals or value in _TRUE
            continue
        name = _VALUE_FLAGS.get(spelling)
        if name is None:
            return None
        if not equals:
            if index == len(args):
                return None
            value = args[index]
            index += 1
        if name in ("tags", "build_args", "labels", "cache_from"):
            listed = values.setdefault(name, [])
            assert isinstance(listed, list)
            listed.append(value)
        else:
            values[name] = value
    if len(paths) != 1:
        return None
    request = BuildRequest(paths[0])
    for attribute, setting in values.items():
        setattr(request, attribute, setting)
    return request


def fast_build(args: list[str]) -> int | None:
    """`berth build` without click when stdout is not a terminal; None for the full CLI."""
    if os.isatty(1):
        return None
    request = parse_flags(args)
    if request is None:
        return None
    from berth.client.api import APIClient
    from berth.client.errors import ClientError
    from berth.client.hosts import Host, resolve_host

    def autostart(host: Host) -> None:  # imported only when nothing answers
        from berth.client.autostart import Autostarter

        Autostarter()(host)

    try:
        host = resolve_host(None)
        api = APIClient(host, autostart=autostart if host.is_default else None)
        return run(request, api, terminal=False, width=80)
    except (CliError, ClientError) as exc:
        sys.stderr.write(f"{exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
