"""The event bus: Docker-shaped events, kept in a bounded history and fanned out live.

``publish`` may be called from any thread. Subscribers get the history since ``since`` and then
live events until ``until``; filters follow Docker's rules (OR within a key, AND across keys).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from berth.engine.errors import BadParameter

HISTORY = 1024
FILTER_KEYS = frozenset(
    {
        "container",
        "daemon",
        "event",
        "image",
        "label",
        "network",
        "plugin",
        "scope",
        "type",
        "volume",
    }
)
EVENT_TYPES = frozenset(
    {
        "builder",
        "config",
        "container",
        "daemon",
        "image",
        "network",
        "node",
        "plugin",
        "secret",
        "service",
        "volume",
    }
)


@dataclass(frozen=True)
class Event:
    type: str
    action: str
    actor_id: str
    attributes: Mapping[str, str] = field(default_factory=dict)
    time_nano: int = field(default_factory=time.time_ns)
    scope: str = "local"

    def to_docker(self) -> dict[str, Any]:
        """Docker's JSON shape, with the legacy status/id/from fields on container events."""
        data: dict[str, Any] = {
            "Type": self.type,
            "Action": self.action,
            "Actor": {"ID": self.actor_id, "Attributes": dict(self.attributes)},
            "scope": self.scope,
            "time": self.time_nano // 1_000_000_000,
            "timeNano": self.time_nano,
        }
        if self.type in ("container", "image"):
            data = {"status": self.action, "id": self.actor_id, **data}
            if "image" in self.attributes:
                data["from"] = self.attributes["image"]
        return data


def parse_filters(filters: Mapping[str, list[str]]) -> dict[str, list[str]]:
    unknown = set(filters) - FILTER_KEYS
    if unknown:
        raise BadParameter(f"invalid filter {sorted(unknown)[0]!r}")
    for value in filters.get("type", []):
        if value not in EVENT_TYPES:
            raise BadParameter(f"invalid filter 'type={value}'")
    return {k: list(v) for k, v in filters.items()}


def matches(event: Event, filters: Mapping[str, list[str]]) -> bool:
    attrs = event.attributes
    for key, wanted in filters.items():
        if not wanted:
            continue
        if key == "type":
            ok = event.type in wanted
        elif key == "event":
            ok = event.action in wanted or event.action.split(":")[0] in wanted
        elif key == "scope":
            ok = event.scope in wanted
        elif key == "label":
            ok = any(
                attrs.get(w.partition("=")[0]) == w.partition("=")[2] if "=" in w else w in attrs
                for w in wanted
            )
        elif key == "image":
            ok = event.type in ("container", "image") and (
                attrs.get("image") in wanted
                or event.actor_id in wanted
                or attrs.get("name") in wanted
            )
        else:  # container, network, volume, daemon, plugin: by ID or name
            ok = event.type == key and (
                event.actor_id in wanted
                or attrs.get("name") in wanted
                or any(event.actor_id.startswith(w) for w in wanted if len(w) >= 3)
            )
        if not ok:
            return False
    return True


class EventBus:
    def __init__(self, on_event: Callable[[Event], None] | None = None) -> None:
        self._history: deque[Event] = deque(maxlen=HISTORY)
        self._subscribers: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Event]]] = set()
        self._lock = threading.Lock()
        self._on_event = on_event

    def publish(self, event: Event) -> None:
        with self._lock:
            self._history.append(event)
            subscribers = list(self._subscribers)
        for loop, queue in subscribers:
            with contextlib.suppress(RuntimeError):  # that subscriber's loop is closed
                loop.call_soon_threadsafe(queue.put_nowait, event)
        if self._on_event is not None:
            self._on_event(event)

    def emit(self, type_: str, action: str, actor_id: str, **attributes: str) -> Event:
        event = Event(type_, action, actor_id, attributes)
        self.publish(event)
        return event

    async def subscribe(
        self,
        since_nano: int | None = None,
        until_nano: int | None = None,
        filters: Mapping[str, list[str]] | None = None,
    ) -> AsyncIterator[Event]:
        """Past events from ``since`` (if given), then live ones, until ``until`` passes."""
        filters = filters or {}
        queue: asyncio.Queue[Event] = asyncio.Queue()
        entry = (asyncio.get_running_loop(), queue)
        with self._lock:
            past = list(self._history) if since_nano is not None else []
            self._subscribers.add(entry)
        try:
            for event in past:
                if event.time_nano < since_nano:  # type: ignore[operator]
                    continue
                if until_nano is not None and event.time_nano > until_nano:
                    return
                if matches(event, filters):
                    yield event
            if until_nano is not None and until_nano <= time.time_ns():
                return
            while True:
                timeout = None
                if until_nano is not None:
                    timeout = max(0.0, (until_nano - time.time_ns()) / 1e9)
                try:
                    event = await asyncio.wait_for(queue.get(), timeout)
                except TimeoutError:
                    return
                if past and event.time_nano <= past[-1].time_nano and event in past:
                    continue
                if until_nano is not None and event.time_nano > until_nano:
                    return
                if matches(event, filters):
                    yield event
        finally:
            with self._lock:
                self._subscribers.discard(entry)
