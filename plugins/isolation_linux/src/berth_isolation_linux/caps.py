"""Linux capabilities: names, masks, and applying an OCI ``process.capabilities`` object.

The order runc uses, kept here: drop from the bounding set (needs ``CAP_SETPCAP``), switch
user with ``PR_SET_KEEPCAPS`` so the permitted set survives, set effective/permitted/
inheritable with ``capset``, then raise the ambient ones.
"""

from __future__ import annotations

import errno

from berth_isolation_linux import syscalls as sc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from typing import Any

#: Capability names by number (``linux/capability.h``).
NAMES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)
NUMBERS: dict[str, int] = {name: number for number, name in enumerate(NAMES)}
CAP_SYS_RESOURCE = NUMBERS["CAP_SYS_RESOURCE"]


def last_cap() -> int:
    """The highest capability this kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as handle:
            return int(handle.read())
    except (OSError, ValueError):
        return len(NAMES) - 1


class CapabilitySets:
    __slots__ = ("ambient", "bounding", "effective", "inheritable", "permitted")

    def __init__(
        self,
        bounding: int = 0,
        effective: int = 0,
        permitted: int = 0,
        inheritable: int = 0,
        ambient: int = 0,
    ) -> None:
        self.bounding = bounding
        self.effective = effective
        self.permitted = permitted
        self.inheritable = inheritable
        self.ambient = ambient


def mask(names: Iterable[str], where: str = "capabilities") -> int:
    """The bit mask of capability names (``CAP_X`` or ``X``); unknown names are refused."""
    value = 0
    for name in names:
        key = name.upper() if name.upper().startswith("CAP_") else "CAP_" + name.upper()
        if key not in NUMBERS:
            raise ValueError(f"config.json: {where}: unknown capability {name!r}")
        value |= 1 << NUMBERS[key]
    return value


def parse(caps: Mapping[str, Any]) -> CapabilitySets:
    def get(key: str) -> int:
        names = caps.get(key) or []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise ValueError(f"config.json: process.capabilities.{key} must list names")
        return mask(names, f"process.capabilities.{key}")

    return CapabilitySets(
        bounding=get("bounding"),
        effective=get("effective"),
        permitted=get("permitted"),
        inheritable=get("inheritable"),
        ambient=get("ambient"),
    )


def names_of(value: int) -> list[str]:
    return [name for number, name in enumerate(NAMES) if value >> number & 1]


def in_bounding_set(cap: int) -> bool:
    try:
        return sc.prctl(sc.PR_CAPBSET_READ, cap) == 1
    except OSError:
        return False


def drop_bounding(keep: int) -> None:
    """Drop every capability not in ``keep`` from the bounding set."""
    for cap in range(last_cap() + 1):
        if keep >> cap & 1:
            continue
        try:
            sc.prctl(sc.PR_CAPBSET_DROP, cap)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise


def apply(sets: CapabilitySets) -> None:
    """Set effective, permitted and inheritable, then raise the ambient capabilities."""
    known = (1 << (last_cap() + 1)) - 1
    sc.capset(sets.effective & known, sets.permitted & known, sets.inheritable & known)
    for cap in range(last_cap() + 1):
        if sets.ambient >> cap & 1:
            try:
                sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_RAISE, cap)
            except OSError as exc:
                raise OSError(
                    exc.errno,
                    f"cannot raise the ambient capability {NAMES[cap]}: it must also be "
                    "permitted and inheritable",
                ) from None
