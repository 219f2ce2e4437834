"""`berth cp` and `berth commit` on the lean path (see `berth.cli.fastpath`): their plain
forms read here without click, then run by the same code as the full commands
(`berth.cli.fileops_run`), with the same output, messages and exit statuses.

Anything else — other flags, combined short flags, a daemon that does not answer (the full
CLI may start it) — returns None, before anything is done, for the full CLI.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from berth.client.api import APIClient

_CP_FLAGS = {
    "-a": "archive",
    "--archive": "archive",
    "-L": "follow",
    "--follow-link": "follow",
    "-q": "quiet",
    "--quiet": "quiet",
}
_COMMIT_VALUE_FLAGS = {
    "-a": "author",
    "--author": "author",
    "-c": "changes",
    "--change": "changes",
    "-m": "message",
    "--message": "message",
}
_COMMIT_PAUSE = {"-p": True, "--pause": True, "--no-pause": False}
_BOOLS = {"true": True, "1": True, "false": False, "0": False}


def cp_params(args: list[str]) -> tuple[dict[str, bool], str, str] | None:
    """(flags, source, destination) of a plain `cp`; None for the full CLI."""
    flags = {"archive": False, "follow": False, "quiet": False}
    index = 0
    while index < len(args) and args[index].startswith("-") and args[index] != "-":
        name = _CP_FLAGS.get(args[index])
        if name is None:
            return None
        flags[name] = True
        index += 1
    if len(args) - index != 2:
        return None
    return flags, args[index], args[index + 1]


class CommitParams:
    """A plain commit's container, target and flags (a plain class: typing costs ~10 ms)."""

    def __init__(
        self, ref: str, target: str | None, author: str, changes: list[str], message: str,
        pause: bool,
    ) -> None:  # fmt: skip
        self.ref, self.target, self.author = ref, target, author
        self.changes, self.message, self.pause = changes, message, pause


def commit_params(args: list[str]) -> CommitParams | None:
    """The container, target and flags of a plain `commit`; None for the full CLI."""
    values = {"author": "", "message": ""}
    changes: list[str] = []
    pause = True
    index = 0
    while index < len(args) and args[index].startswith("-") and args[index] != "-":
        flag, equals, value = args[index].partition("=")
        index += 1
        if flag in _COMMIT_PAUSE:
            if equals:
                if flag != "--pause" or value.lower() not in _BOOLS:
                    return None
                pause = _BOOLS[value.lower()]
            else:
                pause = _COMMIT_PAUSE[flag]
            continue
        name = _COMMIT_VALUE_FLAGS.get(flag)
        if name is None:
            return None
        if not equals:
            if index == len(args):
                return None
            value = args[index]
            index += 1
        if name == "changes":
            changes.append(value)
        else:
            values[name] = value
    positional = args[index:]
    if not 1 <= len(positional) <= 2:
        return None
    target = positional[1] if len(positional) == 2 else None
    return CommitParams(positional[0], target, values["author"], changes, values["message"], pause)


def fast_cp(args: list[str]) -> int | None:
    parsed = cp_params(args)
    if parsed is None:
        return None
    flags, source, destination = parsed
    api = _answering_api()
    if api is None:
        return None
    from berth.cli.fileops_run import copy

    return _reported(
        lambda: copy(
            api,
            source,
            destination,
            follow=flags["follow"],
            archive=flags["archive"],
            quiet=flags["quiet"],
        )
    )


def fast_commit(args: list[str]) -> int | None:
    params = commit_params(args)
    if params is None:
        return None
    api = _answering_api()
    if api is None:
        return None
    from berth.cli.fileops_run import commit

    def work() -> None:
        image_id = commit(
            api,
            params.ref,
            params.target,
            author=params.author,
            changes=params.changes,
            message=params.message,
            pause=params.pause,
        )
        sys.stdout.write(image_id + "\n")

    return _reported(work)


def _answering_api() -> APIClient | None:
    """A client of the daemon when one listens on its UNIX socket; None otherwise (the full
    CLI then starts it, or says why it cannot be reached)."""
    import _socket

    from berth.client.api import APIClient
    from berth.client.errors import ClientError
    from berth.client.hosts import resolve_host

    try:
        host = resolve_host(None)
    except ClientError:
        return None
    if host.scheme != "unix":
        return None
    probe = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        probe.connect(host.path)
    except OSError:
        return None
    finally:
        probe.close()
    return APIClient(host)


def _reported(work: Callable[[], None]) -> int:
    """Run ``work``: 0, or its error as the full CLI prints it (one line, status 1)."""
    from berth.cli.errors import CliError
    from berth.client.errors import ClientError

    try:
        work()
    except (ClientError, CliError) as exc:
        sys.stdout.flush()
        sys.stderr.write(f"{exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `berth cp C:/x - | head`: the reader left; say nothing more
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:
        sys.stderr.write(
            f"berth: unexpected error: {type(exc).__name__}: {exc} "
            "(run with -D for the traceback, and please report it)\n"
        )
        return 1
    return 0
