"""Choosing the drivers a daemon runs with.

Storage: one per daemon — the flag/config choice; else the driver whose state is already on
disk; else the first supported in :data:`STORAGE_PRIORITY`. Isolation: one default, same
rules without prior state. Network, volume, registry, extension: every allowed plugin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from berth.engine.errors import PluginError
from berth.engine.pluginhost import ACTIVE, READY, PluginHost, PluginRecord
from berth.plugins import DriverKind

STORAGE_PRIORITY = ("overlay", "btrfs", "vfs")
ISOLATION_PRIORITY = ("linux", "runc")

#: Driver names Docker users know that no Linux kernel here can serve.
REMOVED_STORAGE = {
    "aufs": "aufs is not in mainline Linux kernels and Docker removed its aufs driver",
    "devicemapper": "devicemapper was deprecated and removed from Docker",
    "overlay2": "berth calls Docker's overlay2 driver 'overlay'",
}


@dataclass
class Selection:
    """The chosen driver (or none) and why each tried alternative was skipped."""

    kind: DriverKind
    record: PluginRecord | None
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.record.name if self.record else ""

    def summary(self) -> str:
        reasons = "; ".join(f"{n}: {r}" for n, r in self.skipped.items()) or "none installed"
        return f"no usable {self.kind} driver ({reasons})"


def _unknown(host: PluginHost, kind: DriverKind, name: str) -> PluginError:
    installed = ", ".join(host.names(kind)) or "none"
    hint = REMOVED_STORAGE.get(name, "") if kind == "storage" else ""
    alternatives = f"; use one of: {installed}" if hint else f"; installed: {installed}"
    return PluginError(
        f"no {kind} driver {name!r}{' (' + hint + ')' if hint else ''}{alternatives}"
    )


def _require(host: PluginHost, kind: DriverKind, name: str, why: str) -> Selection:
    """Load ``name`` or refuse to start with the plugin's own reason."""
    if name not in host.records[kind]:
        raise _unknown(host, kind, name)
    record = host.load_and_probe(kind, name)
    if record.status not in (READY, ACTIVE):
        raise PluginError(f"{kind} driver {name!r} ({why}) cannot be used: {record.reason}")
    return Selection(kind, record)


def prior_storage_state(data_root: Path) -> list[str]:
    """Storage drivers with state under ``<data-root>/storage/`` (non-empty directories)."""
    base = data_root / "storage"
    try:
        # Dot-directories are drivers' scratch space (e.g. a probe's test mount), not state.
        return sorted(
            d.name
            for d in base.iterdir()
            if not d.name.startswith(".") and d.is_dir() and any(d.iterdir())
        )
    except FileNotFoundError:
        return []


def _first_supported(host: PluginHost, kind: DriverKind, priority: tuple[str, ...]) -> Selection:
    selection = Selection(kind, None)
    ordered = [n for n in priority if n in host.records[kind]]
    ordered += [n for n in host.names(kind) if n not in priority]
    for name in ordered:
        record = host.load_and_probe(kind, name)
        if record.status == READY:
            selection.record = record
            return selection
        selection.skipped[name] = record.reason
    return selection


def select_storage(host: PluginHost, chosen: str, data_root: Path) -> Selection:
    if chosen:
        return _require(host, "storage", chosen, "chosen by storage-driver")
    prior = prior_storage_state(data_root)
    if len(prior) > 1:
        raise PluginError(
            f"state of several storage drivers is in {data_root / 'storage'} ({', '.join(prior)}); "
            "choose one with --storage-driver"
        )
    if prior:
        return _require(host, "storage", prior[0], f"its state is in {data_root / 'storage'}")
    return _first_supported(host, "storage", STORAGE_PRIORITY)


def select_isolation(host: PluginHost, chosen: str) -> Selection:
    if chosen:
        return _require(host, "isolation", chosen, "chosen by default-runtime")
    return _first_supported(host, "isolation", ISOLATION_PRIORITY)
