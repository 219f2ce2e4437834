"""Docker's JSON progress messages for pull and push (what ``docker pull`` renders)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

Message = dict[str, Any]
Emit = Callable[[Message], None]

BAR_WIDTH = 50
#: at most one progress line per layer this often (seconds)
INTERVAL = 0.1


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.3g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= 1000
    return f"{n:.3g}GB"


def bar(current: int, total: int) -> str:
    """``[=====>     ]  1.2MB/3.4MB``: the ``progress`` text docker-py users see."""
    if total <= 0:
        return _size(current)
    done = min(int(BAR_WIDTH * current / total), BAR_WIDTH)
    arrow = ">" if done < BAR_WIDTH else ""
    fill = "=" * max(done - 1, 0) + arrow if done else ""
    if done == BAR_WIDTH:
        fill = "=" * BAR_WIDTH
    return f"[{fill:<{BAR_WIDTH}}] {_size(current):>8}/{_size(total)}"


def status(text: str, ident: str = "") -> Message:
    message: Message = {"status": text}
    if ident:
        message["id"] = ident
    return message


def layer(text: str, ident: str) -> Message:
    return {"status": text, "progressDetail": {}, "id": ident}


def moving(text: str, ident: str, current: int, total: int) -> Message:
    return {
        "status": text,
        "progressDetail": {"current": current, "total": total},
        "progress": bar(current, total),
        "id": ident,
    }


def error(text: str) -> Message:
    return {"errorDetail": {"message": text}, "error": text}


def short(digest: str) -> str:
    return digest.split(":", 1)[-1][:12]


class Reporter:
    """Thread-safe emitter that throttles the moving (Downloading, Extracting) lines."""

    def __init__(self, emit: Emit) -> None:
        self._emit = emit
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], float] = {}

    def send(self, message: Message) -> None:
        with self._lock:
            self._emit(message)

    def progress(self, text: str, ident: str, current: int, total: int) -> None:
        now = time.monotonic()
        key = (text, ident)
        with self._lock:
            last = self._last.get(key, 0.0)
            if now - last < INTERVAL and current < total:
                return
            self._last[key] = now
            self._emit(moving(text, ident, current, total))
