"""`berth cp` and `berth commit` on the lean path (see `berth.cli.fastpath`): their plain
forms read here without click, then run by the same code as the full commands
(`berth.cli.fileops_run`), with the same output, messages and exit statuses.

Anything else — other flags, combined short flags, a daemon that does not answer (the full
CLI may start it) — returns None, before anything is done, for the full CLI.
"""

from __future__ import annotations

import sys

from berth.cli.leancalls import answering_api, reported

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
    api = answering_api()
    if api is None:
        return None
    from berth.cli.fileops_run import copy

    return reported(
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
    api = answering_api()
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

    return reported(work)
