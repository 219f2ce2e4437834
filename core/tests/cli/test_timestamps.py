"""--since/--until conversion and the time format of event lines."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, timedelta, timezone

import pytest
from berth.cli.timestamps import api_timestamp, format_event_time, parse_duration_ns

NOW_NS = 1_795_860_900_000_000_000  # 2026-11-28T10:15:00Z


@pytest.fixture
def berlin_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC+1 in winter (fixed rule, no tz database needed)."""
    monkeypatch.setenv("TZ", "CET-1")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("10m", 600 * 10**9),
        ("1h30m", 5400 * 10**9),
        ("1.5h", 5400 * 10**9),
        ("300ms", 3 * 10**8),
        ("2us", 2000),
        ("-10s", -10 * 10**9),
        ("0s", 0),
    ],
)
def test_go_durations(text: str, ns: int) -> None:
    assert parse_duration_ns(text) == ns


@pytest.mark.parametrize("text", ["10", "10x", "h", "1h-2m", "", "1.2.3s"])
def test_not_durations(text: str) -> None:
    assert parse_duration_ns(text) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10m", "1795860300.000000000"),
        ("1.5s", "1795860898.500000000"),
        ("-1m", "1795860960.000000000"),
        ("1700000000", "1700000000"),
        ("1700000000.25", "1700000000.25"),
        ("0", "0"),
        ("2026-11-28T10:15:00Z", "1795860900.000000000"),
        ("2026-11-28T10:15:00.123456789Z", "1795860900.123456789"),
        ("2026-11-28T11:15:00+01:00", "1795860900.000000000"),
        ("2026-11-28T05:15:00.5-05:00", "1795860900.500000000"),
        ("2026-11-28Z", "1795824000.000000000"),
    ],
)
def test_api_timestamps(text: str, expected: str) -> None:
    assert api_timestamp(text, now_ns=NOW_NS) == expected


@pytest.mark.usefixtures("berlin_time")
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28T11:15:00", "1795860900.000000000"),
        ("2026-11-28T11:15", "1795860900.000000000"),
        ("2026-11-28T11", "1795860000.000000000"),  # 11:00 local
        ("2026-11-28", "1795820400.000000000"),  # midnight local
    ],
)
def test_times_without_zone_are_local(text: str, expected: str) -> None:
    assert api_timestamp(text, now_ns=NOW_NS) == expected


@pytest.mark.parametrize(
    "text", ["yesterday", "2026-13-01", "2026-11-28T25:00", "12:00", "1e9", " ", "10m ago"]
)
def test_bad_times_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError) as err:
        api_timestamp(text, now_ns=NOW_NS)
    assert "duration" in str(err.value)


def test_event_time_format_utc_and_offsets() -> None:
    utc = UTC
    assert format_event_time(1795860900123456789, utc) == "2026-11-28T10:15:00.123456789Z"
    plus = timezone(timedelta(hours=5, minutes=30))
    assert format_event_time(1795860900000000001, plus) == "2026-11-28T15:45:00.000000001+05:30"
    minus = timezone(timedelta(hours=-3))
    assert format_event_time(1795860900 * 10**9, minus) == "2026-11-28T07:15:00.000000000-03:00"


@pytest.mark.usefixtures("berlin_time")
def test_event_time_defaults_to_local_time() -> None:
    assert format_event_time(1795860900 * 10**9) == "2026-11-28T11:15:00.000000000+01:00"
