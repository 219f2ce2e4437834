"""The plugin host: finds plugins by entry point, applies the policy, loads, probes, builds.

Discovery reads entry-point metadata only (nothing is imported); stevedore imports a plugin
when it is needed; the typed :class:`HookFacade` asks it for its spec. A plugin that fails at
any step is recorded with its error and never takes the daemon down unless it was chosen.
"""

from __future__ import annotations

import importlib.metadata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from stevedore import named

from berth.engine.errors import PluginError
from berth.engine.hooks import HookFacade
from berth.plugins import ENTRY_POINT_GROUPS, KINDS, DriverKind
from berth.plugins.specs import AnySpec, PluginContext, ProbeResult

# Statuses, as `berth plugin ls` shows them.
ACTIVE, READY, UNSUPPORTED, ERROR = "active", "ready", "unsupported", "error"
DUPLICATE, DISABLED, NOT_LOADED = "duplicate", "disabled", "not loaded"


@dataclass
class PluginRecord:
    """One entry point and what became of it."""

    kind: DriverKind
    name: str
    distribution: str
    version: str
    module: str
    status: str = NOT_LOADED
    reason: str = ""
    selected: bool = False
    spec: AnySpec | None = None
    driver: Any = None

    @property
    def plugin_id(self) -> str:
        return f"{self.kind}/{self.name}"

    def to_json(self) -> dict[str, Any]:
        return {
            "Kind": self.kind,
            "Name": self.name,
            "Distribution": self.distribution,
            "Version": self.version,
            "Module": self.module,
            "Status": self.status,
            "Reason": self.reason,
            "Selected": self.selected,
        }


@dataclass(frozen=True)
class PluginPolicy:
    """daemon.json ``plugins``: entries are ``name`` or ``kind/name`` (``storage/overlay``)."""

    allow: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()

    def refusal(self, kind: str, name: str) -> str:
        """Why the policy keeps this plugin from being imported, or ``""`` when it may be."""
        keys = {name, f"{kind}/{name}"}
        if keys & set(self.disabled):
            return "disabled by plugins.disabled in daemon.json"
        if self.allow and not keys & set(self.allow):
            return "not in plugins.allow in daemon.json"
        return ""


def _distribution_of(entry_point: importlib.metadata.EntryPoint) -> tuple[str, str]:
    dist = entry_point.dist
    if dist is None:
        return "unknown", ""
    return dist.metadata["Name"] or dist.name, dist.version


class PluginHost:
    def __init__(
        self,
        data_root: Path,
        exec_root: Path,
        policy: PluginPolicy,
        log: Any,
        options: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.data_root = data_root
        self.exec_root = exec_root
        self.policy = policy
        self.hooks = HookFacade(log)
        self._log = log
        self._options = options or {}
        self.records: dict[DriverKind, dict[str, PluginRecord]] = {k: {} for k in KINDS}

    # --- discovery ------------------------------------------------------------------------

    def discover(self) -> None:
        """Read every group's entry points (no import) and apply duplicates and policy."""
        for kind in KINDS:
            group = ENTRY_POINT_GROUPS[kind]
            by_name: dict[str, list[importlib.metadata.EntryPoint]] = defaultdict(list)
            for entry_point in importlib.metadata.entry_points(group=group):
                by_name[entry_point.name].append(entry_point)
            for name, entry_points in sorted(by_name.items()):
                dist, version = _distribution_of(entry_points[0])
                record = PluginRecord(kind, name, dist, version, entry_points[0].value)
                owners = sorted({_distribution_of(ep)[0] for ep in entry_points})
                if len(entry_points) > 1:
                    record.status = DUPLICATE
                    record.distribution = ", ".join(owners)
                    record.reason = (
                        f"{kind} plugin name {name!r} is claimed by {len(entry_points)} entry "
                        f"points, from {' and '.join(owners)}; uninstall one of them"
                    )
                elif refusal := self.policy.refusal(kind, name):
                    record.status, record.reason = DISABLED, refusal
                self.records[kind][name] = record

    def all_records(self) -> list[PluginRecord]:
        return [r for kind in KINDS for r in self.records[kind].values()]

    def names(self, kind: DriverKind) -> list[str]:
        return sorted(self.records[kind])

    # --- loading, probing, building -------------------------------------------------------

    def context(self, record: PluginRecord) -> PluginContext:
        from berth.engine.logging import get_logger

        return PluginContext(
            kind=record.kind,
            name=record.name,
            data_root=self.data_root,
            data_dir=self.data_root / record.kind / record.name,
            run_dir=self.exec_root / record.kind / record.name,
            options=self._options.get(record.kind, {}),
            logger=get_logger(
                f"berth.plugin.{record.kind}", plugin_kind=record.kind, plugin=record.name
            ),
        )

    def load(self, kind: DriverKind, name: str) -> PluginRecord:
        """Import and register the plugin, and read its spec. Failures are recorded, not raised."""
        record = self.records[kind][name]
        if record.status != NOT_LOADED:
            return record
        failures: list[str] = []

        def on_failure(_manager: Any, entry_point: Any, exc: BaseException) -> None:
            failures.append(f"{type(exc).__name__}: {exc}")

        manager = named.NamedExtensionManager(
            ENTRY_POINT_GROUPS[kind],
            names=[name],
            on_load_failure_callback=on_failure,
            on_missing_entrypoints_callback=lambda missing: failures.append(
                "its entry point disappeared; reinstall the plugin"
            ),
        )
        if failures or not manager.extensions:
            record.status = ERROR
            record.reason = f"cannot import {record.module}: {failures[0] if failures else '?'}"
            self._log.warning(
                "plugin.load_failed", plugin_kind=kind, plugin=name, reason=record.reason
            )
            return record
        module: ModuleType = manager.extensions[0].plugin  # type: ignore[assignment]
        try:
            self.hooks.register(module, record.plugin_id)
            specs = self.hooks.specs_of(kind, record.plugin_id) if kind != "extension" else []
        except Exception as exc:  # a plugin's own bug: report it, keep going
            record.status, record.reason = (
                ERROR,
                f"registration failed: {type(exc).__name__}: {exc}",
            )
            return record
        if kind != "extension":
            matching = [s for s in specs if s.name == name]
            if len(matching) != 1:
                declared = ", ".join(s.name for s in specs) or "none"
                record.status = ERROR
                record.reason = (
                    f"{record.module} declares no single {kind} driver named {name!r} "
                    f"(declared: {declared})"
                )
                self.hooks.unregister(record.plugin_id)
                return record
            record.spec = matching[0]
        record.status = READY
        return record

    def probe(self, record: PluginRecord) -> ProbeResult:
        """Ask the driver whether it can work here; a crashing probe counts as 'no'."""
        if record.spec is None:
            return ProbeResult.unsupported(record.reason or "not loaded")
        try:
            result = record.spec.probe(self.context(record))
        except Exception as exc:
            result = ProbeResult.unsupported(f"probe failed: {type(exc).__name__}: {exc}")
        if not isinstance(result, ProbeResult):
            result = ProbeResult.unsupported(f"probe returned {type(result).__name__}")
        if not result.supported:
            record.status, record.reason = UNSUPPORTED, result.reason
        elif result.reason:
            record.reason = result.reason
        return result

    def load_and_probe(self, kind: DriverKind, name: str) -> PluginRecord:
        record = self.load(kind, name)
        if record.status == READY and record.spec is not None:
            self.probe(record)
        return record

    def build(self, record: PluginRecord) -> Any:
        """Create the driver instance of a loaded, supported plugin and mark it active."""
        if record.spec is None or record.status not in (READY, ACTIVE):
            raise PluginError(
                f"{record.kind} driver {record.name!r} cannot be used: {record.reason}"
            )
        if record.driver is None:
            ctx = self.context(record)
            try:
                ctx.data_dir.mkdir(parents=True, exist_ok=True)
                record.driver = record.spec.factory(ctx)
            except Exception as exc:
                record.status = ERROR
                record.reason = f"failed to start: {type(exc).__name__}: {exc}"
                raise PluginError(f"{record.kind} driver {record.name!r} {record.reason}") from exc
        record.status, record.selected = ACTIVE, True
        return record.driver

    def load_all(self, kinds: Iterable[DriverKind] = KINDS) -> None:
        """Load and probe every allowed plugin of ``kinds`` (used by `plugin ls --local`)."""
        for kind in kinds:
            for name in self.names(kind):
                self.load_and_probe(kind, name)
