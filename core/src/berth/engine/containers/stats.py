"""``GET /containers/{id}/stats``: samples in Docker's shape.

The isolation backend reads the cgroup (``cpu_stats``, ``memory_stats``, ``pids_stats``,
``blkio_stats``); this module adds what Docker's collector adds — the sample times, the
previous sample's CPU figures (``precpu_stats``, what ``docker stats`` computes the CPU
percentage from), the host's CPU time (``system_cpu_usage``), the name and ID.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Mapping
from typing import Any

from berth.engine.containers.logs import format_time_ns

ZERO_TIME = "0001-01-01T00:00:00Z"
INTERVAL = 1.0  # seconds between streamed samples, as Docker's collector


def system_cpu_usage(stat: str = "/proc/stat") -> int:
    """The host's CPU time in nanoseconds (all CPUs, all states), from /proc/stat."""
    try:
        with open(stat) as handle:
            for line in handle:
                if line.startswith("cpu "):
                    ticks = sum(int(v) for v in line.split()[1:8])
                    return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        pass
    return 0


def online_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except OSError:
        return os.cpu_count() or 1


def empty_sample(name: str, container_id: str) -> dict[str, Any]:
    """What Docker answers for a container that does not run: zeros and zero times."""
    cpu = {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    }
    return {
        "read": ZERO_TIME,
        "preread": ZERO_TIME,
        "pids_stats": {},
        "blkio_stats": {
            "io_service_bytes_recursive": None,
            "io_serviced_recursive": None,
            "io_queue_recursive": None,
            "io_service_time_recursive": None,
            "io_wait_time_recursive": None,
            "io_merged_recursive": None,
            "io_time_recursive": None,
            "sectors_recursive": None,
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": copy.deepcopy(cpu),
        "precpu_stats": copy.deepcopy(cpu),
        "memory_stats": {},
        "name": name,
        "id": container_id,
    }


class Sampler:
    """Turns the backend's cgroup readings into Docker samples, remembering the previous one."""

    def __init__(self, name: str, container_id: str) -> None:
        self.name = name
        self.id = container_id
        self._previous: dict[str, Any] | None = None
        self._previous_read = ZERO_TIME

    def sample(self, reading: Mapping[str, Any]) -> dict[str, Any]:
        now = format_time_ns(time.time_ns())
        base = empty_sample(self.name, self.id)
        data: dict[str, Any] = {**base, **copy.deepcopy(dict(reading))}
        cpu = dict(data.get("cpu_stats") or {})
        cpu.setdefault("system_cpu_usage", system_cpu_usage())
        cpu.setdefault("online_cpus", online_cpus())
        cpu.setdefault("throttling_data", base["cpu_stats"]["throttling_data"])
        data["cpu_stats"] = cpu
        data["read"] = now
        data["preread"] = self._previous_read
        data["precpu_stats"] = (
            copy.deepcopy(self._previous) if self._previous is not None else base["precpu_stats"]
        )
        data["name"], data["id"] = self.name, self.id
        self._previous = copy.deepcopy(cpu)
        self._previous_read = now
        return data
