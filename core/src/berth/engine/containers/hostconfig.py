"""HostConfig: Docker's create-time defaults and checks, and the facts about this host they need.

:func:`prepare_create` does what Docker does to a create request before storing it: fill in the
defaults ``docker inspect`` shows (``ShmSize``, ``IpcMode``, ``CgroupnsMode``, ``MemorySwap`` =
2 x ``Memory``, the masked and read-only paths, the hostname) and refuse what cannot work, with
Docker's texts (``Minimum memory limit allowed is 6MB``, ``Range of CPUs is from 0.01 to 2.00,
as there are only 2 CPUs available``, ``invalid CapAdd: unknown capability: "CAP_FOO"``, the
``conflicting options: …`` family). The OCI spec is built later from the stored result
(:mod:`berth.engine.containers.spec`), at every start, as Docker does.

:class:`HostFacts` are what those checks depend on: CPUs, cgroup version, the capabilities and
rlimits berthd itself has (a container cannot get what its engine does not hold).
"""

from __future__ import annotations

import os
import re
import resource
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.engine.containers import resolv, seccomp
from berth.engine.containers.model import DEFAULT_SHM_SIZE, default_host_config, with_defaults
from berth.engine.errors import BadParameter

MIN_MEMORY = 6 * 1024 * 1024
MIN_CPU_SHARES, MAX_CPU_SHARES = 2, 262144

#: Capabilities by number (``capabilities(7)``); the kernel's ``cap_last_cap`` says how many
#: of them exist here.
CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID",
    "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW",
    "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ",
    "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip

#: Docker's default capability set (14).
DEFAULT_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD", "CAP_NET_RAW",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE",
)  # fmt: skip

DEFAULT_MASKED_PATHS = (
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
DEFAULT_READONLY_PATHS = (
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
)

#: ``--ulimit`` names (go-units) → the OCI rlimit type.
ULIMITS = {
    name: f"RLIMIT_{name.upper()}"
    for name in (
        "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
        "nproc", "rss", "rtprio", "rttime", "sigpending", "stack",
    )
}  # fmt: skip
_RESOURCE_OF = {
    "core": "RLIMIT_CORE", "cpu": "RLIMIT_CPU", "data": "RLIMIT_DATA", "fsize": "RLIMIT_FSIZE",
    "locks": "RLIMIT_LOCKS", "memlock": "RLIMIT_MEMLOCK", "msgqueue": "RLIMIT_MSGQUEUE",
    "nice": "RLIMIT_NICE", "nofile": "RLIMIT_NOFILE", "nproc": "RLIMIT_NPROC",
    "rss": "RLIMIT_RSS", "rtprio": "RLIMIT_RTPRIO", "rttime": "RLIMIT_RTTIME",
    "sigpending": "RLIMIT_SIGPENDING", "stack": "RLIMIT_STACK",
}  # fmt: skip

#: The sysctls Docker sets in containers with their own network namespace.
DEFAULT_NET_SYSCTLS = {
    "net.ipv4.ping_group_range": "0 2147483647",
    "net.ipv4.ip_unprivileged_port_start": "0",
}
#: Sysctls that belong to a namespace a container has (runc's rule).
_IPC_SYSCTLS = frozenset(
    {
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    }
)

_DEVICE_RULE = re.compile(r"^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$|^a$")
_DEVICE_A_RULE = re.compile(r"^a \*:\* ([rwm]{3})$|^a$")


# --- host facts ---------------------------------------------------------------------------


def parse_id_list(text: str) -> frozenset[int]:
    """``0-3,5`` → {0, 1, 2, 3, 5}; raises ValueError (``invalid format: …``)."""
    result: set[int] = set()
    if text.strip() == "":
        return frozenset()
    for part in text.split(","):
        lo, dash, hi = part.partition("-")
        if not lo.isdigit() or (dash and not hi.isdigit()):
            raise ValueError(f"invalid format: {text}")
        first, last = int(lo), int(hi) if dash else int(lo)
        if last < first:
            raise ValueError(f"invalid format: {text}")
        result.update(range(first, last + 1))
    return frozenset(result)


def _read(path: str, default: str = "") -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return default


def _bounding_set() -> frozenset[str]:
    for line in _read("/proc/self/status").splitlines():
        if line.startswith("CapBnd:"):
            mask = int(line.split()[1], 16)
            return frozenset(name for i, name in enumerate(CAPABILITIES) if mask >> i & 1)
    return frozenset(CAPABILITIES)


def _effective_has(cap: str) -> bool:
    for line in _read("/proc/self/status").splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> CAPABILITIES.index(cap) & 1)
    return False


@dataclass(frozen=True)
class HostFacts:
    """What container options are checked against; :meth:`detect` reads them from this host."""

    ncpu: int = 1
    cpus: str = "0"
    mems: str = "0"
    cap_last_cap: int = len(CAPABILITIES) - 1
    #: capabilities berthd holds in its bounding set: the most a container can get
    bounding: frozenset[str] = frozenset(CAPABILITIES)
    #: whether berthd can raise rlimits above its own hard limits (CAP_SYS_RESOURCE)
    can_raise_rlimits: bool = True
    #: berthd's hard limits by ``--ulimit`` name, -1 for unlimited
    rlimit_hard: Mapping[str, int] = field(default_factory=dict)
    cgroup_v2: bool = False
    swap_limit: bool = True
    arch: str = "amd64"
    kernel: tuple[int, int] = (6, 1)
    #: the default network sysctls this kernel has
    sysctls: frozenset[str] = frozenset(DEFAULT_NET_SYSCTLS)
    hostname: str = "localhost"

    @property
    def known_capabilities(self) -> tuple[str, ...]:
        return CAPABILITIES[: self.cap_last_cap + 1]

    @classmethod
    def detect(cls) -> HostFacts:
        cgroup_v2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()
        try:
            ncpu = len(os.sched_getaffinity(0))
        except OSError:
            ncpu = os.cpu_count() or 1
        if cgroup_v2:
            cpus = _read("/sys/fs/cgroup/cpuset.cpus.effective")
            mems = _read("/sys/fs/cgroup/cpuset.mems.effective")
            swap = Path("/sys/fs/cgroup/memory.swap.max").exists() or any(
                Path("/sys/fs/cgroup").glob("*/memory.swap.max")
            )
        else:
            cpus = _read("/sys/fs/cgroup/cpuset/cpuset.cpus")
            mems = _read("/sys/fs/cgroup/cpuset/cpuset.mems")
            swap = Path("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
        cpus = cpus or _read("/sys/devices/system/cpu/online", "0")
        mems = mems or _read("/sys/devices/system/node/online", "0")
        last = int(_read("/proc/sys/kernel/cap_last_cap", str(len(CAPABILITIES) - 1)) or 0)
        hard = {}
        for name, attr in _RESOURCE_OF.items():
            number = getattr(resource, attr, None)
            if number is None:
                continue
            value = resource.getrlimit(number)[1]
            hard[name] = -1 if value == resource.RLIM_INFINITY else value
        sysctls = frozenset(
            name
            for name in DEFAULT_NET_SYSCTLS
            if Path("/proc/sys", name.replace(".", "/")).exists()
        )
        return cls(
            ncpu=ncpu,
            cpus=cpus,
            mems=mems,
            cap_last_cap=min(last, len(CAPABILITIES) - 1),
            bounding=_bounding_set(),
            can_raise_rlimits=_effective_has("CAP_SYS_RESOURCE"),
            rlimit_hard=hard,
            cgroup_v2=cgroup_v2,
            swap_limit=swap,
            arch=seccomp.host_goarch(),
            kernel=seccomp.host_kernel(),
            sysctls=sysctls,
            hostname=os.uname().nodename,
        )


# --- capabilities -------------------------------------------------------------------------


def normalize_capabilities(names: Sequence[str] | None, known: Sequence[str]) -> list[str]:
    """Upper-case and ``CAP_``-prefix ``--cap-add``/``--cap-drop`` values; ``ALL`` stays.
    Raises BadParameter ``unknown capability: "CAP_FOO"``."""
    result = []
    for name in names or ():
        cap = str(name).upper()
        if cap != "ALL" and not cap.startswith("CAP_"):
            cap = "CAP_" + cap
        if cap != "ALL" and cap not in known:
            raise BadParameter(f'unknown capability: "{cap}"')
        result.append(cap)
    return result


def container_capabilities(host_config: Mapping[str, Any], host: HostFacts) -> list[str]:
    """The container's capability set: Docker's defaults with ``CapDrop`` removed and ``CapAdd``
    added (``ALL`` in either means all / none), every capability for ``--privileged``; never
    more than berthd's own bounding set holds."""
    known = host.known_capabilities
    available = [cap for cap in known if cap in host.bounding]
    if host_config.get("Privileged"):
        return available
    adds = normalize_capabilities(host_config.get("CapAdd"), known)
    drops = normalize_capabilities(host_config.get("CapDrop"), known)
    if "ALL" in adds:
        caps = [cap for cap in available if cap not in drops]
    elif "ALL" in drops:
        caps = [cap for cap in adds if cap != "ALL"]
    else:
        caps = [cap for cap in DEFAULT_CAPABILITIES if cap not in drops]
        caps += [cap for cap in adds if cap not in caps]
    return [cap for cap in caps if cap in host.bounding]


def _check_capabilities(host_config: Mapping[str, Any], host: HostFacts) -> None:
    known = host.known_capabilities
    for key in ("CapAdd", "CapDrop"):
        try:
            caps = normalize_capabilities(host_config.get(key), known)
        except BadParameter as exc:
            raise BadParameter(f"invalid {key}: {exc}") from None
        if key == "CapAdd":
            for cap in caps:
                if cap != "ALL" and cap not in host.bounding:
                    raise BadParameter(
                        f"invalid CapAdd: {cap} cannot be given to containers on this host: "
                        "berthd's own capability bounding set lacks it"
                    )


# --- --security-opt -----------------------------------------------------------------------


@dataclass(frozen=True)
class SecurityOptions:
    no_new_privileges: bool = False
    seccomp: str = ""
    apparmor: str = ""
    labels: tuple[str, ...] = ()
    systempaths_unconfined: bool = False


def parse_security_opts(options: Sequence[str] | None) -> SecurityOptions:
    """``--security-opt`` values, with Docker's errors (``invalid --security-opt 2: "x=y"``)."""
    nnp, seccomp_value, apparmor, labels, systempaths = False, "", "", [], False
    for opt in options or ():
        if opt == "no-new-privileges":
            nnp = True
            continue
        if opt == "disable":
            labels.append("disable")
            continue
        sep = "=" if "=" in opt else (":" if ":" in opt else "")
        if not sep:
            raise BadParameter(f'invalid --security-opt 1: "{opt}"')
        key, _, value = opt.partition(sep)
        if key == "label":
            labels.append(value)
        elif key == "apparmor":
            apparmor = value
        elif key == "seccomp":
            seccomp_value = value
        elif key == "no-new-privileges":
            lowered = value.lower()
            if lowered not in ("1", "t", "true", "0", "f", "false"):
                raise BadParameter(f'invalid --security-opt 2: "{opt}"')
            nnp = lowered in ("1", "t", "true")
        elif key == "systempaths" and value == "unconfined":
            systempaths = True
        else:
            raise BadParameter(f'invalid --security-opt 2: "{opt}"')
    return SecurityOptions(nnp, seccomp_value, apparmor, tuple(labels), systempaths)


# --- ulimits ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ulimit:
    name: str
    soft: int
    hard: int

    def to_json(self) -> dict[str, Any]:
        return {"Name": self.name, "Hard": self.hard, "Soft": self.soft}


def parse_ulimit(text: str) -> Ulimit:
    """``nofile=1024[:2048]`` (go-units' format and errors)."""
    name, sep, values = text.partition("=")
    if not sep:
        raise BadParameter(f"invalid ulimit argument: {text}")
    if name not in ULIMITS:
        raise BadParameter(f"invalid ulimit type: {name}")
    parts = values.split(":")
    if len(parts) > 2:
        raise BadParameter(
            f"too many limit value arguments - {values}, can only have up to two, `soft[:hard]`"
        )
    try:
        numbers = [int(p) for p in parts]
    except ValueError:
        bad = next(p for p in parts if not re.fullmatch(r"[+-]?\d+", p))
        raise BadParameter(f'strconv.ParseInt: parsing "{bad}": invalid syntax') from None
    soft = numbers[0]
    hard = numbers[1] if len(numbers) == 2 else soft
    return check_ulimit(Ulimit(name, soft, hard))


def check_ulimit(limit: Ulimit) -> Ulimit:
    if limit.name not in ULIMITS:
        raise BadParameter(f"invalid ulimit type: {limit.name}")
    if limit.hard != -1 and limit.soft > limit.hard:
        raise BadParameter(
            "ulimit soft limit must be less than or equal to hard limit: "
            f"{limit.soft} > {limit.hard}"
        )
    return limit


def ulimits_of(items: Sequence[Mapping[str, Any]] | None) -> list[Ulimit]:
    """``HostConfig.Ulimits`` (``[{"Name": "nofile", "Soft": 1024, "Hard": 2048}]``), checked."""
    result = []
    for item in items or ():
        if not isinstance(item, Mapping):
            raise BadParameter("invalid ulimit: each of Ulimits must be an object")
        try:
            soft, hard = int(item.get("Soft", 0)), int(item.get("Hard", 0))
        except (TypeError, ValueError):
            raise BadParameter(f"invalid ulimit: {dict(item)}") from None
        result.append(check_ulimit(Ulimit(str(item.get("Name") or ""), soft, hard)))
    return result


def _check_ulimit_against_host(limit: Ulimit, host: HostFacts) -> None:
    if host.can_raise_rlimits:
        return
    ceiling = host.rlimit_hard.get(limit.name, -1)
    if ceiling == -1:
        return
    for label, value in (("hard", limit.hard), ("soft", limit.soft)):
        if value == -1 or value > ceiling:
            shown = "unlimited" if value == -1 else str(value)
            raise BadParameter(
                f"ulimit {limit.name}: {label} limit {shown} is above this host's maximum "
                f"{ceiling}, which berthd cannot raise (it lacks CAP_SYS_RESOURCE); "
                f"use at most {ceiling}"
            )


# --- devices ------------------------------------------------------------------------------


def valid_device_mode(mode: str) -> bool:
    """``r``, ``w`` and ``m``, each at most once, at least one."""
    return 0 < len(mode) <= 3 and all(c in "rwm" for c in mode) and len(set(mode)) == len(mode)


def parse_device(text: str) -> dict[str, str]:
    """``--device /dev/sda[:/dev/xvda][:rwm]`` → a ``DeviceMapping``, with the docker CLI's
    rules and errors."""
    parts = text.split(":")
    if len(parts) > 3 or not parts[0]:
        raise BadParameter(f"bad format for path: {text}")
    source, target, mode = parts[0], "", "rwm"
    if len(parts) == 3:
        target, mode = parts[1], parts[2]
        if not valid_device_mode(mode):
            raise BadParameter(f"bad mode specified: {mode}")
    elif len(parts) == 2:
        if valid_device_mode(parts[1]):
            mode = parts[1]
        else:
            target = parts[1]
    target = target or source
    if not target.startswith("/"):
        raise BadParameter(f"{target} is not an absolute path")
    return {"PathOnHost": source, "PathInContainer": target, "CgroupPermissions": mode}


def _check_device_mapping(item: Any) -> None:
    if not isinstance(item, Mapping):
        raise BadParameter("invalid device: each of Devices must be an object")
    source = str(item.get("PathOnHost") or "")
    target = str(item.get("PathInContainer") or source)
    mode = str(item.get("CgroupPermissions") or "rwm")
    if not source:
        raise BadParameter("invalid device: PathOnHost is empty")
    if not target.startswith("/"):
        raise BadParameter(f"{target} is not an absolute path")
    if not valid_device_mode(mode):
        raise BadParameter(f"invalid device mode: {mode}")


def parse_device_cgroup_rule(rule: str) -> dict[str, Any]:
    """``--device-cgroup-rule 'c 1:3 mr'`` → an OCI device cgroup entry (Docker's errors)."""
    match = _DEVICE_RULE.match(rule)
    if match is None:
        raise BadParameter(f"invalid device cgroup rule format: '{rule}'")
    if rule == "a" or match.group(1) == "a":
        if not _DEVICE_A_RULE.match(rule):
            raise BadParameter(
                "although this cgroup rule is technically correct, because 'a' maps to "
                "'a *:* rwm' regardless of what comes next, this format is partially "
                f"ineffective: '{rule}'"
            )
        return {"allow": True, "type": "a", "major": -1, "minor": -1, "access": "rwm"}
    kind, major, minor, access = match.groups()
    entry: dict[str, Any] = {"allow": True, "type": kind, "access": access}
    entry["major"] = -1 if major == "*" else int(major)
    entry["minor"] = -1 if minor == "*" else int(minor)
    if entry["major"] >= 1 << 12:
        raise BadParameter(f"invalid major value in device cgroup rule format: '{rule}'")
    if entry["minor"] >= 1 << 20:
        raise BadParameter(f"invalid minor value in device cgroup rule format: '{rule}'")
    return entry


def device_of(path: str) -> tuple[str, int, int, int, int, int] | None:
    """``(type, major, minor, mode, uid, gid)`` of a device node (symlinks followed), None if
    ``path`` is not one. Raises OSError when it does not exist."""
    info = os.stat(path)
    if stat.S_ISCHR(info.st_mode):
        kind = "c"
    elif stat.S_ISBLK(info.st_mode):
        kind = "b"
    else:
        return None
    return (
        kind,
        os.major(info.st_rdev),
        os.minor(info.st_rdev),
        stat.S_IMODE(info.st_mode),
        info.st_uid,
        info.st_gid,
    )


# --- modes --------------------------------------------------------------------------------


def _container_ref(mode: str) -> str | None:
    kind, sep, ref = mode.partition(":")
    return ref if sep and kind == "container" else None


def is_host_network(host_config: Mapping[str, Any]) -> bool:
    return host_config.get("NetworkMode") == "host"


def is_container_network(host_config: Mapping[str, Any]) -> bool:
    return str(host_config.get("NetworkMode") or "").startswith("container:")


def _check_modes(config: Mapping[str, Any], hc: Mapping[str, Any]) -> None:
    ipc = str(hc.get("IpcMode") or "")
    if ipc not in ("", "private", "shareable", "host", "none") and not _container_ref(ipc):
        raise BadParameter(f"invalid IPC mode: {ipc}")
    pid = str(hc.get("PidMode") or "")
    if pid not in ("", "host") and not _container_ref(pid):
        raise BadParameter(f"invalid PID mode: {pid}")
    uts = str(hc.get("UTSMode") or "")
    if uts not in ("", "host"):
        raise BadParameter(f"invalid UTS mode: {uts}")
    cgroupns = str(hc.get("CgroupnsMode") or "")
    if cgroupns not in ("", "host", "private"):
        raise BadParameter(f"invalid cgroup namespace mode: {cgroupns}")
    userns = str(hc.get("UsernsMode") or "")
    if userns not in ("", "host"):
        raise BadParameter(
            f"invalid USER mode: {userns}: berth runs containers in the host's user namespace"
        )
    network = str(hc.get("NetworkMode") or "")
    if network.startswith("container") and network.partition(":")[0] == "container":
        if not _container_ref(network):
            raise BadParameter("Invalid network mode: invalid container format container:<name|id>")
        if config.get("Hostname"):
            raise BadParameter("conflicting options: hostname and the network mode")
        if hc.get("Links"):
            raise BadParameter(
                "conflicting options: container type network can't be used with links. "
                "This would result in undefined behavior"
            )
        if hc.get("Dns"):
            raise BadParameter("conflicting options: dns and the network mode")
        if hc.get("ExtraHosts"):
            raise BadParameter(
                "conflicting options: custom host-to-IP mapping and the network mode"
            )
        if hc.get("PortBindings") or hc.get("PublishAllPorts"):
            raise BadParameter(
                "conflicting options: port publishing and the container type network mode"
            )
        if config.get("ExposedPorts"):
            raise BadParameter(
                "conflicting options: port exposing and the container type network mode"
            )
    if network == "host" and hc.get("Links"):
        raise BadParameter(
            "conflicting options: host type networking can't be used with links. "
            "This would result in undefined behavior"
        )
    if (network == "host" or _container_ref(network)) and config.get("MacAddress"):
        raise BadParameter("conflicting options: mac-address and the network mode")
    if uts == "host" and config.get("Hostname"):
        raise BadParameter("conflicting options: hostname and the UTS mode")
    if uts == "host" and config.get("Domainname"):
        raise BadParameter("conflicting options: domainname and the UTS mode")


# --- resources ----------------------------------------------------------------------------


def _int(hc: Mapping[str, Any], key: str) -> int:
    value = hc.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadParameter(f"invalid {key}: {value!r} is not a number")
    return value


def _check_resources(hc: dict[str, Any], host: HostFacts, warnings: list[str]) -> None:
    memory = _int(hc, "Memory")
    swap = _int(hc, "MemorySwap")
    reservation = _int(hc, "MemoryReservation")
    if memory < 0:
        raise BadParameter("invalid Memory: it cannot be negative")
    if memory and memory < MIN_MEMORY:
        raise BadParameter("Minimum memory limit allowed is 6MB")
    if memory > 0 and swap != -1 and not host.swap_limit:
        warnings.append(
            "Your kernel does not support swap limit capabilities or the cgroup is not "
            "mounted. Memory limited without swap."
        )
        hc["MemorySwap"] = swap = -1
    if memory > 0 and swap > 0 and swap < memory:
        raise BadParameter("Minimum memoryswap limit should be larger than memory limit, see usage")
    if memory == 0 and swap > 0:
        raise BadParameter(
            "You should always set the Memory limit when using Memoryswap limit, see usage"
        )
    swappiness = hc.get("MemorySwappiness")
    if swappiness is not None:
        if swappiness == -1:
            hc["MemorySwappiness"] = None
        elif not isinstance(swappiness, int) or not 0 <= swappiness <= 100:
            raise BadParameter(
                f"Invalid value: {swappiness}, valid memory swappiness range is 0-100"
            )
    if reservation and reservation < MIN_MEMORY:
        raise BadParameter("Minimum memory reservation allowed is 6MB")
    if memory > 0 and reservation > 0 and memory < reservation:
        raise BadParameter(
            "Minimum memory limit can not be less than memory reservation limit, see usage"
        )
    if _int(hc, "KernelMemory"):
        warnings.append(
            "Your kernel does not support kernel memory limit capabilities or the cgroup is "
            "not mounted. Limitation discarded."
        )
        hc["KernelMemory"] = 0
    if hc.get("OomKillDisable") and memory == 0:
        warnings.append(
            "OOM killer is disabled for the container, but no memory limit is set, this can "
            "result in the system running out of resources."
        )
    pids = hc.get("PidsLimit")
    if pids is not None:
        if isinstance(pids, bool) or not isinstance(pids, int):
            raise BadParameter(f"invalid PidsLimit: {pids!r} is not a number")
        if pids <= 0:
            hc["PidsLimit"] = None

    nano = _int(hc, "NanoCpus")
    period = _int(hc, "CpuPeriod")
    quota = _int(hc, "CpuQuota")
    if nano > 0 and period > 0:
        raise BadParameter("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano > 0 and quota > 0:
        raise BadParameter("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if nano < 0 or nano > host.ncpu * 1_000_000_000:
        raise BadParameter(
            f"Range of CPUs is from 0.01 to {host.ncpu}.00, as there are only {host.ncpu} "
            "CPUs available"
        )
    if _int(hc, "CpuShares") < 0:
        raise BadParameter("shares: invalid argument")
    if period and not 1000 <= period <= 1_000_000:
        raise BadParameter(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
        )
    if 0 < quota < 1000:
        raise BadParameter("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    if _int(hc, "CpuRealtimePeriod") or _int(hc, "CpuRealtimeRuntime"):
        raise BadParameter(
            "berth does not support the CPU real-time scheduler options "
            "(--cpu-rt-period, --cpu-rt-runtime); leave them unset"
        )
    if _int(hc, "CpuPercent"):
        warnings.append("linux does not support CPU percent. Percent discarded.")
        hc["CpuPercent"] = 0
    if _int(hc, "CpuCount"):
        warnings.append("linux does not support CPU count. Count discarded.")
        hc["CpuCount"] = 0
    for key, label, available in (
        ("CpusetCpus", "cpus", host.cpus),
        ("CpusetMems", "mems", host.mems),
    ):
        wanted = str(hc.get(key) or "")
        if not wanted:
            continue
        try:
            ids = parse_id_list(wanted)
        except ValueError as exc:
            raise BadParameter(f"Invalid value {wanted} for cpuset {label}: {exc}") from None
        if not ids <= parse_id_list(available):
            what = "CPUs" if label == "cpus" else "memory nodes"
            raise BadParameter(
                f"Requested {what} are not available - requested {wanted}, available: {available}"
            )
    weight = _int(hc, "BlkioWeight")
    if weight and not 10 <= weight <= 1000:
        raise BadParameter("Range of blkio weight is from 10 to 1000")
    if _int(hc, "IOMaximumBandwidth") or _int(hc, "IOMaximumIOps"):
        raise BadParameter(
            "Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps"
        )


def _check_sysctls(hc: Mapping[str, Any]) -> None:
    sysctls = hc.get("Sysctls") or {}
    if not isinstance(sysctls, Mapping):
        raise BadParameter("invalid Sysctls: it must be an object")
    ipc_host = hc.get("IpcMode") == "host"
    net_shared = is_host_network(hc) or is_container_network(hc)
    uts_host = hc.get("UTSMode") == "host"
    for name in sysctls:
        key = str(name)
        if key in _IPC_SYSCTLS or key.startswith("fs.mqueue."):
            if ipc_host:
                raise BadParameter(f"sysctl {key!r} is not allowed in the host's IPC namespace")
        elif key.startswith("net."):
            if net_shared:
                raise BadParameter(f"sysctl {key!r} is not allowed in host network namespace")
        elif key in ("kernel.hostname", "kernel.domainname"):
            if uts_host:
                raise BadParameter(f"sysctl {key!r} is not allowed in the host's UTS namespace")
            raise BadParameter(
                f"sysctl {key!r} is not allowed: use --hostname/--domainname instead"
            )
        else:
            raise BadParameter(f"sysctl {key!r} is not in a separate kernel namespace")


def _check_tmpfs(hc: Mapping[str, Any]) -> None:
    tmpfs = hc.get("Tmpfs") or {}
    if not isinstance(tmpfs, Mapping):
        raise BadParameter("invalid Tmpfs: it must be an object")
    for destination in tmpfs:
        target = str(destination)
        if not target.startswith("/"):
            raise BadParameter(
                f"invalid mount config for type \"tmpfs\": invalid mount path: '{target}' "
                "mount path must be absolute"
            )
        if os.path.normpath(target) == "/":
            raise BadParameter("invalid specification: destination can't be '/'")


# --- create -------------------------------------------------------------------------------


def prepare_create(
    container_id: str,
    config: dict[str, Any],
    host_config: Mapping[str, Any] | None,
    host: HostFacts,
    host_gateway_ip: str = "",
) -> tuple[dict[str, Any], list[str]]:
    """Docker's checks and defaults for a create request.

    ``config`` is the merged ``Config`` (see :func:`model.merge_image_config`); it gets its
    default ``Hostname`` (the short ID, or the host's name on the host's network). Returns the
    complete ``HostConfig`` to store and the warnings to answer with; raises BadParameter with
    Docker's texts.
    """
    hc = with_defaults(host_config, default_host_config())
    warnings: list[str] = []

    working_dir = str(config.get("WorkingDir") or "")
    if working_dir and not working_dir.startswith("/"):
        raise BadParameter(
            f"the working directory '{working_dir}' is invalid, it needs to be an absolute path"
        )
    for item in config.get("Env") or ():
        if not isinstance(item, str) or item.startswith("=") or item == "":
            raise BadParameter(f"invalid environment variable: {item}")

    _check_modes(config, hc)
    _check_resources(hc, host, warnings)
    _check_capabilities(hc, host)
    security = parse_security_opts(hc.get("SecurityOpt"))
    if security.seccomp not in ("", seccomp.UNCONFINED, seccomp.DEFAULT):
        seccomp.load_profile(security.seccomp)
    for limit in ulimits_of(hc.get("Ulimits")):
        _check_ulimit_against_host(limit, host)
    for item in hc.get("Devices") or ():
        _check_device_mapping(item)
    for rule in hc.get("DeviceCgroupRules") or ():
        parse_device_cgroup_rule(str(rule))
    for extra in hc.get("ExtraHosts") or ():
        _, ip = resolv.parse_extra_host(str(extra))
        if ip == resolv.HOST_GATEWAY and not host_gateway_ip:
            raise BadParameter(
                "unable to derive the IP value for host-gateway: this daemon has no "
                "host-gateway IP (no bridge network); give an address instead"
            )
    resolv.validate_dns([str(d) for d in hc.get("Dns") or ()])
    _check_sysctls(hc)
    _check_tmpfs(hc)
    if _int(hc, "ShmSize") < 0:
        raise BadParameter("SHM size can not be less than 0")
    score = _int(hc, "OomScoreAdj")
    if not -1000 <= score <= 1000:
        raise BadParameter(f"Invalid value {score}, range for oom score adj is [-1000, 1000]")
    size = hc.get("ConsoleSize") or [0, 0]
    if (
        not isinstance(size, list)
        or len(size) != 2
        or not all(isinstance(v, int) and v >= 0 for v in size)
    ):
        raise BadParameter("invalid ConsoleSize: it must be [height, width], both >= 0")
    for key in ("Annotations",):
        if "" in (hc.get(key) or {}):
            raise BadParameter(
                "invalid Annotations: the empty string is not permitted as an annotation key"
            )
    parent = str(hc.get("CgroupParent") or "")
    if ".." in parent.split("/"):
        raise BadParameter(f"invalid cgroup parent {parent!r}: '..' is not allowed")

    # Docker's defaults, as inspect shows them
    memory, swap = _int(hc, "Memory"), _int(hc, "MemorySwap")
    if memory > 0 and swap == 0:
        hc["MemorySwap"] = memory * 2 if host.swap_limit else -1
    if not hc.get("ShmSize"):
        hc["ShmSize"] = DEFAULT_SHM_SIZE
    if not hc.get("IpcMode"):
        hc["IpcMode"] = "private"
    if not hc.get("CgroupnsMode"):
        hc["CgroupnsMode"] = "private" if host.cgroup_v2 else "host"
    if hc.get("OomKillDisable") is None:
        hc["OomKillDisable"] = False
    if security.systempaths_unconfined:
        hc["MaskedPaths"], hc["ReadonlyPaths"] = [], []
    elif hc.get("MaskedPaths") is None and not hc.get("Privileged"):
        hc["MaskedPaths"] = list(DEFAULT_MASKED_PATHS)
        hc["ReadonlyPaths"] = list(DEFAULT_READONLY_PATHS)

    if not config.get("Hostname"):
        config["Hostname"] = host.hostname if is_host_network(hc) else container_id[:12]
    return hc, warnings
