"""A runtime's statistics (``runc events --stats``) in the shape of Docker's stats.

runc reports libcontainer's ``Stats`` (``cpu``, ``memory``, ``pids``, ``blkio`` …); Docker's
``GET /containers/{id}/stats`` has ``cpu_stats``, ``memory_stats``, ``pids_stats`` and
``blkio_stats`` (the engine adds ``read``, ``precpu_stats``, ``name``, ``id``, ``networks``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

#: runc's blkio keys → Docker's.
BLKIO_KEYS = {
    "ioServiceBytesRecursive": "io_service_bytes_recursive",
    "ioServicedRecursive": "io_serviced_recursive",
    "ioQueuedRecursive": "io_queue_recursive",
    "ioServiceTimeRecursive": "io_service_time_recursive",
    "ioWaitTimeRecursive": "io_wait_time_recursive",
    "ioMergedRecursive": "io_merged_recursive",
    "ioTimeRecursive": "io_time_recursive",
    "sectorsRecursive": "sectors_recursive",
}
#: runc's way to say "no limit" (the largest page-aligned int64).
UNLIMITED = 9223372036854771712


def system_cpu_usage(proc_stat: str = "/proc/stat") -> int:
    """The host's CPU time in nanoseconds (the ``cpu`` line of /proc/stat), as Docker reads it."""
    with open(proc_stat) as f:
        for line in f:
            fields = line.split()
            if fields and fields[0] == "cpu":
                ticks = sum(int(value) for value in fields[1:8])
                return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    return 0


def _entries(items: Any) -> list[dict[str, Any]] | None:
    if not items:
        return None
    return [
        {
            "major": int(item.get("major", 0)),
            "minor": int(item.get("minor", 0)),
            "op": str(item.get("op", "")),
            "value": int(item.get("value", 0)),
        }
        for item in items
    ]


def docker_stats(data: Mapping[str, Any], system_usage: int | None = None) -> dict[str, Any]:
    """Docker's stats keys from runc's ``data`` object."""
    cpu = data.get("cpu") or {}
    usage = cpu.get("usage") or {}
    throttling = cpu.get("throttling") or {}
    percpu = [int(n) for n in usage.get("percpu") or []]
    memory = data.get("memory") or {}
    mem_usage = memory.get("usage") or {}
    pids = data.get("pids") or {}
    blkio = data.get("blkio") or {}
    limit = int(mem_usage.get("limit", 0))
    pids_stats: dict[str, Any] = {"current": int(pids.get("current", 0))}
    if pids.get("limit"):
        pids_stats["limit"] = int(pids["limit"])
    return {
        "cpu_stats": {
            "cpu_usage": {
                "total_usage": int(usage.get("total", 0)),
                "percpu_usage": percpu,
                "usage_in_kernelmode": int(usage.get("kernel", 0)),
                "usage_in_usermode": int(usage.get("user", 0)),
            },
            "system_cpu_usage": system_cpu_usage() if system_usage is None else system_usage,
            "online_cpus": len(percpu) or (os.cpu_count() or 1),
            "throttling_data": {
                "periods": int(throttling.get("periods", 0)),
                "throttled_periods": int(throttling.get("throttled_periods", 0)),
                "throttled_time": int(throttling.get("throttled_time", 0)),
            },
        },
        "memory_stats": {
            "usage": int(mem_usage.get("usage", 0)),
            "max_usage": int(mem_usage.get("max", 0)),
            "stats": {str(k): int(v) for k, v in (memory.get("raw") or {}).items()},
            "failcnt": int(mem_usage.get("failcnt", 0)),
            "limit": limit if 0 < limit < UNLIMITED else _host_memory(),
        },
        "pids_stats": pids_stats,
        "blkio_stats": {docker: _entries(blkio.get(runc)) for runc, docker in BLKIO_KEYS.items()},
    }


def _host_memory() -> int:
    """Docker shows the host's memory as the limit of a container without one."""
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
