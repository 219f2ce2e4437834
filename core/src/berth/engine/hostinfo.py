"""Facts about the host for ``/info`` and ``/version``, read from /proc and /sys."""

from __future__ import annotations

import functools
import os
import platform
import socket
from pathlib import Path

ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


def kernel_version() -> str:
    return platform.release()


def go_arch() -> str:
    """The architecture as Docker names it (``amd64``, ``arm64``)."""
    machine = platform.machine()
    return ARCH.get(machine, machine)


@functools.cache
def operating_system() -> tuple[str, str]:
    """``(PRETTY_NAME, VERSION_ID)`` from os-release."""
    fields: dict[str, str] = {}
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            for line in Path(path).read_text().splitlines():
                key, _, value = line.partition("=")
                fields[key] = value.strip().strip('"')
            break
        except OSError:
            continue
    return fields.get("PRETTY_NAME", "Linux"), fields.get("VERSION_ID", "")


def mem_total() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) or os.cpu_count() or 1


def cgroup_version(mountinfo: str = "/proc/self/mountinfo") -> str:
    """``"2"`` when /sys/fs/cgroup is a cgroup2 mount (unified), else ``"1"`` (legacy/hybrid)."""
    try:
        for line in Path(mountinfo).read_text().splitlines():
            fields = line.split(" - ")
            if len(fields) != 2:
                continue
            mount_point = fields[0].split()[4]
            fs_type = fields[1].split()[0]
            if mount_point == "/sys/fs/cgroup":
                return "2" if fs_type == "cgroup2" else "1"
    except OSError:
        pass
    return "1"


def hostname() -> str:
    return socket.gethostname()
