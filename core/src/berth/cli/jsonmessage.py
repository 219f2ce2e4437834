"""The daemon's JSON progress streams (load, import, and later pull, push, build), shown as
the docker CLI shows them.

On a terminal, each message with an `id` and a progress owns a line that is redrawn in place
(cursor up, clear line, cursor down); elsewhere progress is left out and only statuses and
`stream` text are printed. A message carrying an error (`errorDetail` or `error`) ends the
display with that error, which the command reports as its one line, exit status 1.
"""

from __future__ import annotations

import time

from berth.cli.errors import CliError

# typing stays off the lean commands' start-up path (`berth build`: berth.cli.buildrun)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from typing import Any

BAR_MIN_WIDTH = 110  # docker draws the bar only on terminals wider than this


class StreamError(CliError):
    """An error the daemon reported inside a progress stream; the message is the daemon's."""


def human_size(size: float, precision: int = 4) -> str:
    """Decimal sizes as docker prints them (go-units): 4.262MB, 32.77kB, 0B."""
    units = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
    unit = 0
    while size >= 1000.0 and unit < len(units) - 1:
        size /= 1000.0
        unit += 1
    return f"{size:.{precision}g}{units[unit]}"


def go_duration(seconds: int) -> str:
    """A whole number of seconds as Go's Duration prints it: 0s, 45s, 1m5s, 2h0m1s."""
    if seconds <= 0:
        return "0s"
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def progress_text(detail: Mapping[str, Any], width: int, now: float | None = None) -> str:
    """docker's JSONProgress.String(): `[===>   ]  12.3MB/45.6MB 3s`, or "" when empty."""
    current = _int(detail.get("current"))
    total = _int(detail.get("total"))
    units = str(detail.get("units") or "")
    if current <= 0 and total <= 0:
        return ""
    if total <= 0:
        return f"{human_size(current):>8}" if not units else f"{current} {units}"
    percentage = min(int(current / total * 100) // 2, 50)
    bar = ""
    if width > BAR_MIN_WIDTH:
        bar = f"[{'=' * percentage}>{' ' * (50 - percentage)}] "
    numbers = ""
    if not detail.get("hidecounts"):
        if not units:
            numbers = f"{human_size(current):>8}/{human_size(total)}"
            if current > total:
                numbers = f"{human_size(current):>8}"
        else:
            numbers = f"{current}/{total} {units}"
            if current > total:
                numbers = f"{current} {units}"
    left = ""
    start = _int(detail.get("start"))
    if current > 0 and start > 0 and percentage < 50:
        elapsed = (time.time() if now is None else now) - start
        left = " " + go_duration(round(elapsed / current * (total - current)))
    return bar + numbers + left


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def error_of(message: Mapping[str, Any]) -> str | None:
    """The error a message carries (docker reads `errorDetail`; `error` alone counts too)."""
    detail = message.get("errorDetail")
    if isinstance(detail, dict) and detail.get("message"):
        return str(detail["message"])
    if message.get("error"):
        return str(message["error"])
    return None


def drain(messages: Iterable[Mapping[str, Any]]) -> None:
    """Read a progress stream without showing it (`-q`); raise StreamError at its error."""
    for message in messages:
        error = error_of(message)
        if error is not None:
            raise StreamError(error)


def display(
    messages: Iterable[Mapping[str, Any]],
    write: Callable[[str], None],
    *,
    terminal: bool,
    width: int = 80,
) -> None:
    """Show each message as it comes; raise StreamError at the first one with an error."""
    lines: dict[str, int] = {}  # id -> its line, counted from the first progress line
    for message in messages:
        error = error_of(message)
        if error is not None:
            raise StreamError(error)
        if message.get("aux") is not None:
            continue
        ident = str(message.get("id") or "")
        has_progress = isinstance(message.get("progressDetail"), dict)
        diff = 0
        if ident and (has_progress or message.get("progress")):
            line = lines.get(ident)
            if line is None:
                line = len(lines)
                lines[ident] = line
                if terminal:
                    write("\n")
            diff = len(lines) - line
            if terminal and diff:
                write(f"\x1b[{diff}A")
        else:
            lines = {}
        write(_line(message, ident, has_progress, terminal, width))
        if ident and terminal and diff:
            write(f"\x1b[{diff}B")


def _line(
    message: Mapping[str, Any], ident: str, has_progress: bool, terminal: bool, width: int
) -> str:
    detail = message.get("progressDetail") if has_progress else None
    progress = progress_text(detail, width) if isinstance(detail, dict) else ""
    stream = str(message.get("stream") or "")
    status = str(message.get("status") or "")
    out = ""
    endl = ""
    if terminal and not stream and has_progress:
        out += "\x1b[2K\r"
        endl = "\r"
    elif progress:  # no progress bars off a terminal
        return ""
    if ident:
        out += f"{ident}: "
    if message.get("from"):
        out += f"(from {message['from']}) "
    if has_progress and terminal:
        return out + f"{status} {progress}{endl}"
    if message.get("progress"):
        return out + f"{status} {message['progress']}{endl}"
    if stream:
        return out + f"{stream}{endl}"
    return out + f"{status}{endl}\n"
