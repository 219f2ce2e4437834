"""OCI runtime specs for isolation tests, with Docker's defaults.

:func:`docker_like_config` writes what ``docker run`` would ask a runtime for (the 14 default
capabilities, Docker's mounts, masked and read-only paths, device rules, namespaces), with a
small seccomp profile of the suite's own whose effects a test can see (:data:`TEST_SECCOMP`):
``chroot`` fails with EACCES, and ``kill`` fails with EPERM when its signal is SIGUSR1 — an
argument condition. The engine's real spec generation lives in core; this one is independent
so that a backend can be tested without the engine.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: Docker's default capabilities (moby's ``oci/caps/defaults.go``), in bit order of CapEff.
DOCKER_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_RAW",
    "CAP_SYS_CHROOT",
    "CAP_MKNOD",
    "CAP_AUDIT_WRITE",
    "CAP_SETFCAP",
)
#: Their mask, as /proc/<pid>/status shows CapEff/CapPrm/CapBnd in a Docker container.
DOCKER_CAPABILITY_MASK = 0x00000000A80425FB

DOCKER_MASKED_PATHS: tuple[str, ...] = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
DOCKER_READONLY_PATHS: tuple[str, ...] = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: A seccomp profile whose rules a test can observe from busybox.
TEST_SECCOMP: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "syscalls": [
        {"names": ["chroot"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        {
            "names": ["kill"],
            "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 1, "value": 10, "valueTwo": 0, "op": "SCMP_CMP_EQ"}],
        },
    ],
}


def _device_rules() -> list[dict[str, Any]]:
    allowed = [
        ("c", 1, 3),  # null
        ("c", 1, 5),  # zero
        ("c", 1, 7),  # full
        ("c", 1, 8),  # random
        ("c", 1, 9),  # urandom
        ("c", 5, 0),  # tty
        ("c", 5, 1),  # console
        ("c", 5, 2),  # ptmx
        ("c", 136, -1),  # pts
        ("c", 10, 200),  # tun
    ]
    rules: list[dict[str, Any]] = [{"allow": False, "access": "rwm"}]
    for kind, major, minor in allowed:
        rule: dict[str, Any] = {"allow": True, "type": kind, "major": major, "access": "rwm"}
        if minor >= 0:
            rule["minor"] = minor
        rules.append(rule)
    return rules


def docker_like_config(
    args: Sequence[str],
    *,
    cgroups_path: str,
    hostname: str = "berth-test",
    env: Sequence[str] = (),
    cwd: str = "/",
    terminal: bool = False,
    seccomp: Mapping[str, Any] | None = TEST_SECCOMP,
) -> dict[str, Any]:
    """The config.json ``docker run`` would give a runtime for this command (rootfs at
    ``rootfs`` in the bundle; the network namespace new, as ``--network none``)."""
    caps = list(DOCKER_CAPABILITIES)
    config: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs", "readonly": False},
        "hostname": hostname,
        "process": {
            "terminal": terminal,
            "user": {"uid": 0, "gid": 0},
            "args": list(args),
            "env": [f"PATH={DEFAULT_PATH}", f"HOSTNAME={hostname}", *env],
            "cwd": cwd,
            "capabilities": {
                "bounding": caps,
                "effective": caps,
                "permitted": caps,
            },
            "noNewPrivileges": False,
            "oomScoreAdj": 0,
        },
        "mounts": [
            {
                "destination": "/proc",
                "type": "proc",
                "source": "proc",
                "options": ["nosuid", "noexec", "nodev"],
            },
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": [
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620",
                    "gid=5",
                ],
            },
            {
                "destination": "/sys",
                "type": "sysfs",
                "source": "sysfs",
                "options": ["nosuid", "noexec", "nodev", "ro"],
            },
            {
                "destination": "/sys/fs/cgroup",
                "type": "cgroup",
                "source": "cgroup",
                "options": ["ro", "nosuid", "noexec", "nodev"],
            },
            {
                "destination": "/dev/mqueue",
                "type": "mqueue",
                "source": "mqueue",
                "options": ["nosuid", "noexec", "nodev"],
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"],
            },
        ],
        "linux": {
            "namespaces": [
                {"type": "mount"},
                {"type": "network"},
                {"type": "uts"},
                {"type": "pid"},
                {"type": "ipc"},
            ],
            "cgroupsPath": cgroups_path,
            "resources": {"devices": _device_rules()},
            "maskedPaths": list(DOCKER_MASKED_PATHS),
            "readonlyPaths": list(DOCKER_READONLY_PATHS),
        },
    }
    if seccomp is not None:
        config["linux"]["seccomp"] = copy.deepcopy(dict(seccomp))
    return config


def write_bundle(bundle: Path, config: Mapping[str, Any]) -> Path:
    """Write ``config.json`` into ``bundle`` (which holds ``rootfs``) and return the bundle."""
    (bundle / "config.json").write_text(json.dumps(config, indent=1))
    return bundle
