"""Healthchecks: the image's ``HEALTHCHECK`` or ``--health-*``, probed as execs by the daemon.

Docker's rules, kept here: the first probe runs one interval after the start (the start
interval while the container is still ``starting`` within its start period); a probe that
exits 0 makes the container ``healthy`` and resets the failing streak; any other result
(non-zero exit, a timeout as -1, an exec that could not start as -1) counts as a failure,
except while the container is ``starting`` and inside its start period; ``retries`` failures
in a row make it ``unhealthy``. The last five results are kept (``State.Health.Log``), each
with at most 4096 bytes of output. A change of status is a ``health_status: <status>`` event.

Probes run while the container runs and is not paused; :class:`HealthChecks` holds one task
per container, started at each start (and for running containers a restarted daemon adopts)
and ended at the exit. Running a probe and recording its result is the host's part
(:class:`ProbeHost`, the container service).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from berth.engine.containers.attach import SYSTEM, read_frame
from berth.engine.containers.model import (
    HEALTHY,
    STARTING,
    UNHEALTHY,
    Container,
    Health,
    HealthLog,
    now_rfc3339,
    parse_rfc3339,
)
from berth.engine.errors import BadParameter

NANOS = 1_000_000_000
DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_START_INTERVAL = 5.0
DEFAULT_RETRIES = 3
#: Docker's smallest duration for the healthcheck's times (1 ms, in nanoseconds).
MINIMUM_DURATION = 1_000_000
#: Docker keeps this much of a probe's output.
MAX_OUTPUT = 4096
TEST_TYPES = ("NONE", "CMD", "CMD-SHELL")


@dataclass(frozen=True)
class HealthSettings:
    """A container's healthcheck with Docker's defaults filled in (seconds)."""

    command: tuple[str, ...]
    interval: float = DEFAULT_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    start_period: float = 0.0
    start_interval: float = DEFAULT_START_INTERVAL
    retries: int = DEFAULT_RETRIES


def _nanos(check: Mapping[str, Any], key: str) -> int:
    value = check.get(key) or 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadParameter(f"Healthcheck {key} must be a duration in nanoseconds")
    return value


def validate_healthcheck(config: Mapping[str, Any]) -> None:
    """Create-time checks of ``Config.Healthcheck`` (Docker's messages; 400 on failure)."""
    check = config.get("Healthcheck")
    if check is None:
        return
    if not isinstance(check, Mapping):
        raise BadParameter("Healthcheck must be an object")
    test = check.get("Test") or []
    if not isinstance(test, list) or not all(isinstance(part, str) for part in test):
        raise BadParameter("Healthcheck Test must be a list of strings")
    if test and test[0] not in TEST_TYPES:
        raise BadParameter(f"unknown Healthcheck test type {test[0]!r}: use CMD, CMD-SHELL or NONE")
    if test and test[0] != "NONE" and len(test) < 2:
        raise BadParameter(f"Healthcheck test {test[0]} needs a command")
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval"):
        value = _nanos(check, key)
        if value < 0:
            raise BadParameter(f"{key} in Healthcheck cannot be negative")
        if 0 < value < MINIMUM_DURATION:
            raise BadParameter(f"{key} in Healthcheck cannot be less than 1ms")
    retries = check.get("Retries") or 0
    if not isinstance(retries, int) or isinstance(retries, bool):
        raise BadParameter("Healthcheck Retries must be an integer")
    if retries < 0:
        raise BadParameter("Retries in Healthcheck cannot be negative")


def settings_of(container: Container) -> HealthSettings | None:
    """The container's healthcheck, or None when it has none (or ``NONE``)."""
    check = container.config.get("Healthcheck")
    if not isinstance(check, Mapping):
        return None
    test = [str(part) for part in check.get("Test") or ()]
    if len(test) < 2 or test[0] not in ("CMD", "CMD-SHELL"):
        return None
    if test[0] == "CMD-SHELL":
        shell = container.config.get("Shell") or ["/bin/sh", "-c"]
        command = (*[str(s) for s in shell], " ".join(test[1:]))
    else:
        command = tuple(test[1:])

    def seconds(key: str, default: float) -> float:
        value = check.get(key)
        return value / NANOS if isinstance(value, int) and value > 0 else default

    retries = check.get("Retries")
    return HealthSettings(
        command=command,
        interval=seconds("Interval", DEFAULT_INTERVAL),
        timeout=seconds("Timeout", DEFAULT_TIMEOUT),
        start_period=seconds("StartPeriod", 0.0),
        start_interval=seconds("StartInterval", DEFAULT_START_INTERVAL),
        retries=retries if isinstance(retries, int) and retries > 0 else DEFAULT_RETRIES,
    )


def go_duration(seconds: float) -> str:
    """A duration as Go prints one (``30s``, ``1.5s``, ``500ms``, ``1m0s``), for messages."""
    if seconds < 1:
        millis = seconds * 1000
        return f"{millis:g}ms"
    minutes, rest = divmod(seconds, 60)
    if minutes:
        return f"{int(minutes)}m{rest:g}s"
    return f"{rest:g}s"


def next_delay(settings: HealthSettings, health: Health | None, started_at: str) -> float:
    """Seconds until the next probe: the start interval while starting in the start period."""
    started = parse_rfc3339(started_at)
    if (
        health is not None
        and health.status == STARTING
        and started is not None
        and time.time() < started + settings.start_period
    ):
        return min(settings.start_interval, settings.interval)
    return settings.interval


def apply_result(
    health: Health, entry: HealthLog, settings: HealthSettings, started_at: str
) -> bool:
    """Record a probe's result (Docker's ``handleProbeResult``); True when the status changed."""
    before = health.status
    health.record(entry)
    if entry.exit_code == 0:
        health.failing_streak = 0
        health.status = HEALTHY
        return before != health.status
    started = parse_rfc3339(started_at)
    began = parse_rfc3339(entry.start)
    in_start_period = (
        health.status == STARTING
        and started is not None
        and began is not None
        and began - started < settings.start_period
    )
    if not in_start_period:
        health.failing_streak += 1
        if health.failing_streak >= settings.retries:
            health.status = UNHEALTHY
    return before != health.status


async def collect_output(reader: asyncio.StreamReader) -> tuple[int | None, str]:
    """A probe's exec stream to its end: the exit code from the monitor's system frame, and
    stdout and stderr together (the first :data:`MAX_OUTPUT` bytes)."""
    output = bytearray()
    code: int | None = None
    while True:
        frame = await read_frame(reader)
        if frame is None:
            break
        kind, data = frame
        if kind == SYSTEM:
            with contextlib.suppress(ValueError, AttributeError):
                found = json.loads(data).get("exit_code")
                if isinstance(found, int):
                    code = found
            continue
        if len(output) < MAX_OUTPUT:
            output += data[: MAX_OUTPUT - len(output)]
    return code, output.decode("utf-8", "replace")


class ProbeHost(Protocol):
    """What the health checks need from the container service."""

    def health_target(self, container_id: str) -> tuple[Container, object] | None:
        """The container and a token of its current run (None when it does not run)."""

    async def run_probe(self, container_id: str, command: list[str], timeout: float) -> HealthLog:
        """Run one probe as an exec; its result (exit -1 and the reason when it failed)."""

    async def record_health(self, container_id: str, run: object, entry: HealthLog) -> None:
        """Apply the result to the container's state (if the same run still goes), save it,
        and send ``health_status`` when the status changed."""


def timed_out(start: str, timeout: float) -> HealthLog:
    return HealthLog(
        start, now_rfc3339(), -1, f"Health check exceeded timeout ({go_duration(timeout)})"
    )


class HealthChecks:
    """One probing task per running container with a healthcheck."""

    def __init__(self, host: ProbeHost, log: Any) -> None:
        self.host = host
        self.log = log
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def watch(self, container: Container) -> None:
        """Start probing (after a start, or for a running container a restarted daemon
        adopted); a previous task of the container ends."""
        self.stop(container.id)
        if settings_of(container) is None:
            return
        task = asyncio.ensure_future(self._probe_loop(container.id))
        self._tasks[container.id] = task
        task.add_done_callback(functools.partial(self._ended, container.id))

    def _ended(self, container_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(container_id) is task:
            del self._tasks[container_id]
        if not task.cancelled() and task.exception() is not None:
            self.log.error("container.health_failed", id=container_id, error=repr(task.exception()))

    def stop(self, container_id: str) -> None:
        task = self._tasks.pop(container_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def stop_all(self) -> list[asyncio.Task[None]]:
        """End every probing task (the daemon stops); the tasks, to wait for."""
        tasks = list(self._tasks.values())
        for container_id in list(self._tasks):
            self.stop(container_id)
        return tasks

    @property
    def watching(self) -> frozenset[str]:
        return frozenset(self._tasks)

    async def _probe_loop(self, container_id: str) -> None:
        while True:
            target = self.host.health_target(container_id)
            if target is None:
                return
            container, run = target
            settings = settings_of(container)
            if settings is None:
                return
            state = container.state
            await asyncio.sleep(next_delay(settings, state.health, state.started_at))
            target = self.host.health_target(container_id)
            if target is None or target[1] is not run:
                return
            if container.state.paused:
                continue
            entry = await self.host.run_probe(
                container_id, list(settings.command), settings.timeout
            )
            await self.host.record_health(container_id, run, entry)
