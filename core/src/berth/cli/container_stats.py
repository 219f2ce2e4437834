"""`stats`: one collector thread per container reading `GET /containers/{id}/stats`, and a
table redrawn every half second (or printed once with --no-stream), as the docker CLI does.

Without container names it shows the running containers (all with -a) and follows the
daemon's events to add the ones that start (or are created, with -a) and drop the ones that
die. A container that sends nothing for 2 s shows `--` until it does.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from berth.cli.errors import CliError

if TYPE_CHECKING:
    from berth.client.api import APIClient

REDRAW_SECONDS = 0.5
NO_ANSWER_SECONDS = 2.0


class Collector:
    """The latest statistics of one container (its own thread)."""

    def __init__(self, api: APIClient, container: str, stream: bool) -> None:
        from berth.cli.container_views import invalid_stats_entry

        self.api = api
        self.container = container
        self.stream = stream
        self.entry: dict[str, Any] = invalid_stats_entry(container)
        self.entry["IsInvalid"] = False
        self.error: BaseException | None = None
        self.first = threading.Event()
        self.stopped = False
        self._lock = threading.Lock()
        self._last = time.monotonic()
        threading.Thread(target=self._collect, name=f"stats-{container}", daemon=True).start()

    def _collect(self) -> None:
        from berth.cli.container_views import stats_entry
        from berth.client import containers

        try:
            for stats in containers.stats(self.api, self.container, stream=self.stream):
                entry = stats_entry(self.container, stats)
                with self._lock:
                    self.entry, self.error, self._last = entry, None, time.monotonic()
                self.first.set()
                if not self.stream or self.stopped:
                    break
        except Exception as exc:
            with self._lock:
                self.error = exc
                self.entry["IsInvalid"] = True
        finally:
            self.first.set()

    def current(self) -> dict[str, Any]:
        from berth.cli.container_views import invalid_stats_entry

        with self._lock:
            if self.stream and time.monotonic() - self._last > NO_ANSWER_SECONDS:
                return invalid_stats_entry(self.container)
            return dict(self.entry)


def _layout(format_: str | None) -> Any:
    from berth.cli.container_views import STATS_HEADERS, STATS_TABLE
    from berth.cli.format import ListFormat, TemplateError

    text = format_ or "table"
    try:
        return ListFormat.from_option(STATS_TABLE if text == "table" else text, "",
                                      STATS_HEADERS)  # fmt: skip
    except TemplateError as exc:
        raise CliError(f"template parsing error: {exc}") from None


def run_stats(
    api: APIClient, names: list[str], *, all_: bool, format_: str | None, stream: bool, trunc: bool
) -> None:
    from berth.cli.container_views import stats_row
    from berth.client import containers

    layout = _layout(format_)
    collectors: dict[str, Collector] = {}
    lock = threading.Lock()

    def add(container: str) -> None:
        with lock:
            if container not in collectors:
                collectors[container] = Collector(api, container, stream)

    def remove(container: str) -> None:
        with lock:
            found = collectors.pop(container, None)
        if found is not None:
            found.stopped = True

    show_all = not names
    if show_all:
        if stream:
            _follow_events(api, all_, add, remove)
        for summary in containers.list_containers(api, all_containers=all_):
            add(str(summary.get("Id") or "")[:12])
        for collector in list(collectors.values()):
            collector.first.wait(NO_ANSWER_SECONDS)
    else:
        for name in names:
            add(name)
        for collector in list(collectors.values()):
            collector.first.wait(NO_ANSWER_SECONDS)
        errors = [str(c.error) for c in collectors.values() if c.error is not None]
        if errors:
            raise CliError("\n".join(errors))

    while True:
        with lock:
            current = [c.current() for c in collectors.values()]
        text = layout.render([stats_row(entry, trunc=trunc) for entry in current])
        if stream:
            lines = text.split("\n")
            text = "\x1b[H" + "".join(f"{line} \x1b[K\n" for line in lines) + "\x1b[J"
        sys.stdout.write(text)  # as is: the cursor moves even when stdout is not a terminal
        sys.stdout.flush()
        if not stream:
            return
        if not collectors and not show_all:
            return
        time.sleep(REDRAW_SECONDS)


def _follow_events(api: APIClient, all_: bool, add: Any, remove: Any) -> None:
    from berth.client import system

    def follow() -> None:
        try:
            for event in system.events(api, filters={"type": ["container"]}):
                action = str(event.get("Action") or event.get("status") or "")
                actor = event.get("Actor")
                ident = str(actor.get("ID") if isinstance(actor, Mapping) else event.get("id"))
                if action == "start" or (all_ and action == "create"):
                    add(ident[:12])
                elif action == "die" and not all_:
                    remove(ident[:12])
        except Exception:
            return

    threading.Thread(target=follow, name="stats-events", daemon=True).start()
