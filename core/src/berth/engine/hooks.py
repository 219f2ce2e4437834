"""The typed facade over pluggy: the only code in berth that touches ``pm.hook``.

Everything else calls these methods. Registration hooks are called on one plugin at a time
(so each spec is attributed to the entry point that declared it); event hooks are called on
every plugin, each implementation isolated so one failing plugin never stops the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any, cast

import pluggy

from berth.plugins import DriverKind, hookspecs
from berth.plugins.markers import PROJECT
from berth.plugins.specs import (
    AnySpec,
    IsolationRuntimeSpec,
    NetworkDriverSpec,
    RegistryClientSpec,
    StorageDriverSpec,
    VolumeDriverSpec,
)

#: Registration hook and spec record type of each driver kind.
REGISTRATION: dict[DriverKind, tuple[str, type]] = {
    "storage": ("berth_storage_drivers", StorageDriverSpec),
    "network": ("berth_network_drivers", NetworkDriverSpec),
    "registry": ("berth_registry_clients", RegistryClientSpec),
    "isolation": ("berth_isolation_runtimes", IsolationRuntimeSpec),
    "volume": ("berth_volume_drivers", VolumeDriverSpec),
}

#: Which hook hears which event, keyed by Docker's (type, action).
EVENT_HOOKS: dict[tuple[str, str], str] = {
    ("container", "create"): "berth_container_created",
    ("container", "start"): "berth_container_started",
    ("container", "die"): "berth_container_died",
    ("container", "destroy"): "berth_container_removed",
    ("image", "pull"): "berth_image_pulled",
    ("image", "build"): "berth_image_built",
    ("image", "delete"): "berth_image_removed",
    ("network", "create"): "berth_network_created",
    ("network", "destroy"): "berth_network_removed",
    ("volume", "create"): "berth_volume_created",
    ("volume", "destroy"): "berth_volume_removed",
}


class HookFacade:
    def __init__(self, log: Any) -> None:
        self._pm = pluggy.PluginManager(PROJECT)
        self._pm.add_hookspecs(hookspecs)
        self._log = log

    def register(self, module: ModuleType, plugin_id: str) -> None:
        self._pm.register(module, name=plugin_id)

    def unregister(self, plugin_id: str) -> None:
        self._pm.unregister(name=plugin_id)

    def specs_of(self, kind: DriverKind, plugin_id: str) -> list[AnySpec]:
        """The spec records one registered plugin declares for ``kind``.

        Raises ``TypeError`` when the plugin returns something that is not a spec of the kind.
        """
        if kind not in REGISTRATION:
            return []
        hook_name, spec_type = REGISTRATION[kind]
        plugin = self._pm.get_plugin(plugin_id)
        others = [p for p in self._pm.get_plugins() if p is not plugin]
        caller = self._pm.subset_hook_caller(hook_name, remove_plugins=others)
        specs: list[AnySpec] = []
        for returned in caller():
            for item in returned or ():
                if not isinstance(item, spec_type):
                    raise TypeError(
                        f"{hook_name} returned {type(item).__name__}, not {spec_type.__name__}"
                    )
                specs.append(cast(AnySpec, item))
        return specs

    # --- events ---------------------------------------------------------------------------

    def _call_each(self, hook_name: str, **kwargs: Any) -> None:
        hook = getattr(self._pm.hook, hook_name)
        for impl in hook.get_hookimpls():
            try:
                impl.function(**{name: kwargs[name] for name in impl.argnames})
            except Exception:
                self._log.exception("plugin.hook_failed", hook=hook_name, plugin=impl.plugin_name)

    def daemon_started(self, info: Mapping[str, object]) -> None:
        self._call_each("berth_daemon_started", info=info)

    def daemon_stopping(self) -> None:
        self._call_each("berth_daemon_stopping")

    def event(self, type_: str, action: str, actor_id: str, attributes: Mapping[str, str]) -> None:
        """Tell plugins about an engine event (Docker's type/action names)."""
        hook_name = EVENT_HOOKS.get((type_, action))
        if hook_name is None:
            return
        name = attributes.get("name", "")
        driver = attributes.get("driver", "")
        arguments: dict[str, Any] = {
            "container_id": actor_id,
            "attributes": attributes,
            "exit_code": int(attributes.get("exitCode", "0") or 0),
            "reference": actor_id,  # Docker's pull events name the reference as the actor
            "image_id": attributes.get("imageID", actor_id),
            "tags": [t for t in attributes.get("tags", "").split(",") if t],
            "network_id": actor_id,
            "name": name or actor_id,
            "driver": driver,
        }
        self._call_each(hook_name, **arguments)

    def hook_names(self) -> Iterable[str]:
        return [name for name in dir(self._pm.hook) if name.startswith("berth_")]
