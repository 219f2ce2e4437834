"""A container's resource usage read from its cgroup, in the shape of Docker's stats JSON.

Docker's keys: ``cpu_stats`` (``cpu_usage.total_usage`` and friends in nanoseconds,
``system_cpu_usage``, ``online_cpus``, ``throttling_data``), ``memory_stats`` (``usage``,
``max_usage``, ``failcnt``, ``limit``, ``stats``), ``pids_stats`` (``current``, ``limit``) and
``blkio_stats`` (``io_service_bytes_recursive``, ``io_serviced_recursive`` lists of
``{major, minor, op, value}``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from berth_isolation_linux.cgroups import Cgroup

#: Clock ticks per second of /proc/stat and cpuacct.stat.
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_NS_PER_TICK = 1_000_000_000 // _TICKS
#: v1 reports "no limit" as the largest page-aligned 64-bit number.
_V1_UNLIMITED = 0x7FFFFFFFFFFFF000


def _text(directory: str | None, name: str) -> str | None:
    if directory is None:
        return None
    try:
        with open(os.path.join(directory, name)) as handle:
            return handle.read()
    except OSError:
        return None


def _int(directory: str | None, name: str) -> int | None:
    text = _text(directory, name)
    if text is None:
        return None
    text = text.strip()
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _keyed(text: str | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                continue
    return out


def system_cpu_usage() -> int:
    """The host's total CPU time in nanoseconds (the ``cpu`` line of /proc/stat)."""
    try:
        with open("/proc/stat") as handle:
            for line in handle:
                if line.startswith("cpu "):
                    return sum(int(v) for v in line.split()[1:8]) * _NS_PER_TICK
    except OSError:
        pass
    return 0


def online_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except OSError:
        return os.cpu_count() or 1


def _blkio_v1(text: str | None) -> list[dict[str, Any]]:
    out = []
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) != 3 or ":" not in parts[0]:
            continue
        major, minor = parts[0].split(":")
        out.append(
            {"major": int(major), "minor": int(minor), "op": parts[1], "value": int(parts[2])}
        )
    return out


def _v1(cgroup: Cgroup) -> dict[str, Any]:
    cpuacct = cgroup.dir("cpuacct")
    percpu_text = _text(cpuacct, "cpuacct.usage_percpu") or ""
    percpu = [int(v) for v in percpu_text.split()]
    ticks = _keyed(_text(cpuacct, "cpuacct.stat"))
    throttling = _keyed(_text(cgroup.dir("cpu"), "cpu.stat"))
    memory = cgroup.dir("memory")
    limit = _int(memory, "memory.limit_in_bytes")
    pids_dir = cgroup.dir("pids")
    blkio = cgroup.dir("blkio")
    return {
        "cpu_stats": {
            "cpu_usage": {
                "total_usage": _int(cpuacct, "cpuacct.usage") or 0,
                "percpu_usage": percpu,
                "usage_in_kernelmode": ticks.get("system", 0) * _NS_PER_TICK,
                "usage_in_usermode": ticks.get("user", 0) * _NS_PER_TICK,
            },
            "system_cpu_usage": system_cpu_usage(),
            "online_cpus": len(percpu) or online_cpus(),
            "throttling_data": {
                "periods": throttling.get("nr_periods", 0),
                "throttled_periods": throttling.get("nr_throttled", 0),
                "throttled_time": throttling.get("throttled_time", 0),
            },
        },
        "memory_stats": {
            "usage": _int(memory, "memory.usage_in_bytes") or 0,
            "max_usage": _int(memory, "memory.max_usage_in_bytes") or 0,
            "failcnt": _int(memory, "memory.failcnt") or 0,
            "limit": _host_memory() if limit is None or limit >= _V1_UNLIMITED else limit,
            "stats": _keyed(_text(memory, "memory.stat")),
        },
        "pids_stats": _pids(pids_dir),
        "blkio_stats": {
            "io_service_bytes_recursive": _blkio_v1(
                _text(blkio, "blkio.throttle.io_service_bytes_recursive")
            ),
            "io_serviced_recursive": _blkio_v1(
                _text(blkio, "blkio.throttle.io_serviced_recursive")
            ),
            "io_queue_recursive": [],
            "io_service_time_recursive": [],
            "io_wait_time_recursive": [],
            "io_merged_recursive": [],
            "io_time_recursive": [],
            "sectors_recursive": [],
        },
    }


def _pids(directory: str | None) -> dict[str, int]:
    out = {"current": _int(directory, "pids.current") or 0}
    limit = _int(directory, "pids.max")
    if limit is not None:
        out["limit"] = limit
    return out


def _host_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError):
        return 0


def _v2(cgroup: Cgroup) -> dict[str, Any]:
    path = next(iter(cgroup.paths.values()))
    cpu = _keyed(_text(path, "cpu.stat"))
    limit = _int(path, "memory.max")
    io: list[dict[str, Any]] = []
    ops: list[dict[str, Any]] = []
    for line in (_text(path, "io.stat") or "").splitlines():
        device, *pairs = line.split()
        major, minor = (int(x) for x in device.split(":"))
        values = dict(pair.split("=", 1) for pair in pairs if "=" in pair)
        for op, key, into in (
            ("read", "rbytes", io),
            ("write", "wbytes", io),
            ("read", "rios", ops),
            ("write", "wios", ops),
        ):
            if key in values:
                into.append({"major": major, "minor": minor, "op": op, "value": int(values[key])})
    return {
        "cpu_stats": {
            "cpu_usage": {
                "total_usage": cpu.get("usage_usec", 0) * 1000,
                "usage_in_kernelmode": cpu.get("system_usec", 0) * 1000,
                "usage_in_usermode": cpu.get("user_usec", 0) * 1000,
            },
            "system_cpu_usage": system_cpu_usage(),
            "online_cpus": online_cpus(),
            "throttling_data": {
                "periods": cpu.get("nr_periods", 0),
                "throttled_periods": cpu.get("nr_throttled", 0),
                "throttled_time": cpu.get("throttled_usec", 0) * 1000,
            },
        },
        "memory_stats": {
            "usage": _int(path, "memory.current") or 0,
            "limit": _host_memory() if limit is None else limit,
            "stats": _keyed(_text(path, "memory.stat")),
        },
        "pids_stats": _pids(path),
        "blkio_stats": {"io_service_bytes_recursive": io, "io_serviced_recursive": ops},
    }


def read_stats(cgroup: Cgroup) -> dict[str, Any]:
    return _v2(cgroup) if cgroup.version == 2 else _v1(cgroup)
