"""Whether the native backend can run containers here: checked from what the host shows,
without setting anything up (the daemon probes every backend at start)."""

from __future__ import annotations

import os
import platform

from berth.plugins import PluginContext, ProbeResult

NAMESPACES = ("mnt", "pid", "uts", "ipc", "net")


def probe(ctx: PluginContext) -> ProbeResult:
    if platform.system() != "Linux":
        return ProbeResult.unsupported("the linux isolation backend needs Linux")
    if platform.machine() != "x86_64":
        return ProbeResult.unsupported(
            f"the linux isolation backend compiles seccomp filters for x86-64 only, not "
            f"{platform.machine()}; use the runc runtime"
        )
    if os.geteuid() != 0:
        return ProbeResult.unsupported(
            "the linux isolation backend needs root (it creates namespaces, mounts and cgroups)"
        )
    missing = [ns for ns in NAMESPACES if not os.path.exists(f"/proc/self/ns/{ns}")]
    if missing:
        return ProbeResult.unsupported(
            f"this kernel lacks the namespaces {', '.join(missing)}; containers cannot run"
        )
    try:
        with open("/proc/self/status") as handle:
            if not any(line.startswith("Seccomp:") for line in handle):
                return ProbeResult.unsupported("this kernel has no seccomp (CONFIG_SECCOMP)")
    except OSError as exc:
        return ProbeResult.unsupported(f"cannot read /proc/self/status: {exc.strerror}")
    from berth_isolation_linux.cgroups import CgroupError, detect

    try:
        layout = detect()
    except (OSError, CgroupError) as exc:
        return ProbeResult.unsupported(
            f"{exc.strerror or exc}; mount the cgroup file systems under /sys/fs/cgroup"
        )
    if layout.version == 1:
        have = {c for h in layout.hierarchies for c in h.controllers}
        missing = [c for c in ("memory", "pids", "freezer", "devices") if c not in have]
        if missing:
            return ProbeResult.unsupported(
                f"the cgroup v1 controllers {', '.join(missing)} are not mounted; mount them "
                "under /sys/fs/cgroup"
            )
    return ProbeResult.ok(f"native namespaces and {layout.describe()}")
