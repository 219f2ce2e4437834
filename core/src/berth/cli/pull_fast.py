"""`berth pull` on the lean path (see `berth.cli.fastpath`): a plain reference (`app`,
`me/app:1.0`, `registry:5000/team/app`), with `-q` or without, output not on a terminal.
Its output, messages and exit status are the full command's (`berth.cli.registry.pull`): the
same client calls, the same stream display.

Anything else — other flags, a digest, a reference the quick check does not vouch for, a
terminal (the full CLI draws the progress bars), a daemon that does not answer — returns
None before anything is sent, for the full CLI.
"""

from __future__ import annotations

import sys

from berth.cli.leancalls import answering_api, reported
from berth.client.plainref import is_plain_valid, normalized

_QUIET = ("-q", "--quiet")


def pull_args(args: list[str]) -> tuple[str, bool] | None:
    """(reference, quiet) of the plain forms; None for anything else."""
    quiet = False
    names: list[str] = []
    for arg in args:
        if arg in _QUIET:
            quiet = True
        elif arg.startswith("-"):
            return None
        else:
            names.append(arg)
    if len(names) != 1 or not is_plain_valid(names[0]):
        return None
    return names[0], quiet


def fast_pull(args: list[str]) -> int | None:
    parsed = pull_args(args)
    if parsed is None or sys.stdout.isatty():
        return None
    api = answering_api()
    if api is None:
        return None
    text, quiet = parsed
    name, tag = normalized(text)

    def work() -> None:
        from berth.cli.jsonmessage import display, drain
        from berth.client import credentials
        from berth.client.distribution import pull_image

        auth = credentials.lookup(name.partition("/")[0])
        messages = pull_image(api, name, tag, auth=auth)
        if quiet:
            drain(messages)
        else:
            display(messages, _write, terminal=False)
        sys.stdout.write(f"{name}:{tag}\n")

    return reported(work)


def _write(text: str) -> None:
    sys.stdout.write(text)
