"""docker's run-time error reporting that the fast paths share with the full CLI (no click):
the flag-value error, `berth: <message>` with its help line, and 125/126/127."""

from __future__ import annotations

BIN_NAME = "berth"
ENGINE_ERROR = 125
CANNOT_EXECUTE = 126
NOT_FOUND = 127


class FlagError(Exception):
    """A flag's value does not parse; the message is pflag's (`invalid argument ...`)."""


def with_help(message: str, command_path: str) -> str:
    """docker's `withHelp`: `berth: <message>` and a line saying where help is."""
    return f"{BIN_NAME}: {message}\n\nRun '{command_path} --help' for more information"


def status_of(message: str) -> int:
    """docker's toStatusError: 127 for a missing command, 126 for one that cannot be run,
    125 for everything else that went wrong before the container ran."""
    if (
        "executable file not found" in message
        or "no such file or directory" in message
        or "system cannot find the file specified" in message
    ):
        return NOT_FOUND
    if "permission denied" in message or "is a directory" in message:
        return CANNOT_EXECUTE
    return ENGINE_ERROR
