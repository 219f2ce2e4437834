"""The healthcheck rules of berth.engine.containers.health (Docker's): settings and their
defaults, validation messages, result handling with the start period and retries, the log of
five, the probe's delay, Go-style durations."""

from __future__ import annotations

import time
from typing import Any

import pytest
from berth.engine.containers.health import (
    HealthSettings,
    apply_result,
    go_duration,
    next_delay,
    settings_of,
    validate_healthcheck,
)
from berth.engine.containers.model import Container, Health, HealthLog, now_rfc3339
from berth.engine.errors import BadParameter

S = 1_000_000_000


def container(healthcheck: Any, shell: list[str] | None = None) -> Container:
    config: dict[str, Any] = {"Healthcheck": healthcheck}
    if shell is not None:
        config["Shell"] = shell
    return Container(
        id="c" * 64, name="/c", image="sha256:" + "0" * 64, config=config, host_config={}
    )


def test_settings_and_defaults() -> None:
    found = settings_of(container({"Test": ["CMD-SHELL", "curl -f localhost"]}))
    assert found == HealthSettings(("/bin/sh", "-c", "curl -f localhost"))
    assert (found.interval, found.timeout, found.start_interval, found.retries) == (30, 30, 5, 3)
    found = settings_of(
        container({"Test": ["CMD", "check", "-v"], "Interval": 2 * S, "Retries": 5})
    )
    assert found is not None and found.command == ("check", "-v")
    assert (found.interval, found.retries) == (2.0, 5)
    shell = settings_of(container({"Test": ["CMD-SHELL", "x"]}, shell=["/bin/ash", "-ec"]))
    assert shell is not None and shell.command == ("/bin/ash", "-ec", "x")
    for none in (None, {"Test": ["NONE"]}, {"Test": []}, {}):
        assert settings_of(container(none)) is None


@pytest.mark.parametrize(
    ("check", "message"),
    [
        (
            {"Test": ["CMD", "x"], "Interval": 999},
            "Interval in Healthcheck cannot be less than 1ms",
        ),
        (
            {"Test": ["CMD", "x"], "StartPeriod": -S},
            "StartPeriod in Healthcheck cannot be negative",
        ),
        ({"Test": ["CMD", "x"], "Retries": -1}, "Retries in Healthcheck cannot be negative"),
        ({"Test": ["CMD", "x"], "Timeout": "1s"}, "Timeout must be a duration in nanoseconds"),
        ({"Test": "CMD x"}, "Test must be a list of strings"),
        ({"Test": ["SHELL", "x"]}, "unknown Healthcheck test type 'SHELL'"),
        ({"Test": ["CMD-SHELL"]}, "Healthcheck test CMD-SHELL needs a command"),
    ],
)
def test_validation(check: dict[str, Any], message: str) -> None:
    with pytest.raises(BadParameter, match=message):
        validate_healthcheck({"Healthcheck": check})


def test_valid_ones_pass() -> None:
    for check in (None, {"Test": ["NONE"]}, {"Test": []}, {"Test": ["CMD", "x"], "Interval": S}):
        validate_healthcheck({"Healthcheck": check})


def entry(code: int, at: float | None = None) -> HealthLog:
    stamp = now_rfc3339(at)
    return HealthLog(stamp, stamp, code, "")


def test_results_streak_and_retries() -> None:
    settings = HealthSettings(("true",), retries=2)
    started = now_rfc3339(time.time() - 100)
    health = Health()
    assert not apply_result(health, entry(1), settings, started)
    assert (health.status, health.failing_streak) == ("starting", 1)
    assert apply_result(health, entry(1), settings, started)
    assert (health.status, health.failing_streak) == ("unhealthy", 2)
    assert apply_result(health, entry(0), settings, started)
    assert (health.status, health.failing_streak) == ("healthy", 0)
    for _ in range(6):
        apply_result(health, entry(-1), settings, started)
    assert len(health.log) == 5 and health.status == "unhealthy"


def test_failures_in_the_start_period_do_not_count() -> None:
    settings = HealthSettings(("true",), retries=1, start_period=60)
    started_at = time.time()
    health = Health()
    assert not apply_result(health, entry(1, started_at + 1), settings, now_rfc3339(started_at))
    assert (health.status, health.failing_streak, len(health.log)) == ("starting", 0, 1)
    assert apply_result(health, entry(1, started_at + 61), settings, now_rfc3339(started_at))
    assert health.status == "unhealthy"


def test_delay_uses_the_start_interval_while_starting() -> None:
    settings = HealthSettings(("true",), interval=30, start_period=60, start_interval=2)
    just_started = now_rfc3339()
    assert next_delay(settings, Health(), just_started) == 2
    assert next_delay(settings, Health(status="healthy"), just_started) == 30
    assert next_delay(settings, Health(), now_rfc3339(time.time() - 120)) == 30


def test_go_durations() -> None:
    assert [go_duration(s) for s in (30, 1.5, 0.3, 90, 0.0015)] == [
        "30s",
        "1.5s",
        "300ms",
        "1m30s",
        "1.5ms",
    ]
