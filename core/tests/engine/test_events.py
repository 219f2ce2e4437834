from __future__ import annotations

import asyncio
import time

import pytest
from berth.engine.errors import BadParameter
from berth.engine.events import Event, EventBus, matches, parse_filters


def test_docker_shape_of_a_container_event() -> None:
    event = Event(
        "container",
        "start",
        "abc123",
        {"image": "busybox", "name": "web"},
        1_700_000_000_123_456_789,
    )
    data = event.to_docker()
    assert data["Type"] == "container" and data["Action"] == "start"
    assert data["Actor"] == {"ID": "abc123", "Attributes": {"image": "busybox", "name": "web"}}
    assert data["time"] == 1_700_000_000 and data["timeNano"] == 1_700_000_000_123_456_789
    assert data["status"] == "start" and data["id"] == "abc123" and data["from"] == "busybox"


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"type": ["container"]}, True),
        ({"type": ["image"]}, False),
        ({"type": ["image", "container"]}, True),  # OR within a key
        ({"type": ["container"], "event": ["stop"]}, False),  # AND across keys
        ({"container": ["web"]}, True),
        ({"container": ["abc"]}, True),  # ID prefix
        ({"label": ["tier=front"]}, True),
        ({"label": ["tier=back"]}, False),
        ({"label": ["tier"]}, True),
        ({"image": ["busybox"]}, True),
    ],
)
def test_filters(filters: dict[str, list[str]], expected: bool) -> None:
    event = Event(
        "container", "start", "abc123", {"image": "busybox", "name": "web", "tier": "front"}
    )
    assert matches(event, filters) is expected


def test_bad_filters_are_rejected() -> None:
    with pytest.raises(BadParameter, match="invalid filter 'colour'"):
        parse_filters({"colour": ["red"]})
    with pytest.raises(BadParameter, match="invalid filter 'type=spaceship'"):
        parse_filters({"type": ["spaceship"]})


def test_history_then_live_until_deadline() -> None:
    async def scenario() -> list[str]:
        bus = EventBus()
        start = time.time_ns()
        bus.emit("daemon", "reload", "d1")
        until = time.time_ns() + 300_000_000
        got: list[str] = []

        async def listen() -> None:
            async for event in bus.subscribe(since_nano=start, until_nano=until):
                got.append(event.actor_id)

        task = asyncio.create_task(listen())
        await asyncio.sleep(0.05)
        bus.emit("daemon", "reload", "d2")
        await asyncio.wait_for(task, 2)  # ends by itself at `until`
        return got

    assert asyncio.run(scenario()) == ["d1", "d2"]


def test_plugins_hear_events_through_the_callback() -> None:
    heard: list[Event] = []
    bus = EventBus(on_event=heard.append)
    bus.emit("volume", "create", "data", driver="local")
    assert heard[0].attributes == {"driver": "local"}
