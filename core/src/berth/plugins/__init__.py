"""The public plugin API of berth: the only part of core a plugin may import.

A plugin module decorates hook implementations with :data:`hookimpl`, returns spec records
from the registration hooks, and implements a driver contract (an ABC from
:mod:`berth.plugins.contracts`).
"""

from berth.plugins.contracts import (
    Change,
    ChangeKind,
    Endpoint,
    EndpointInterface,
    FillsLayersApart,
    IpamDriver,
    IsolationRuntime,
    JoinInfo,
    Launcher,
    Manifest,
    NetworkDriver,
    PortMapping,
    PreparesContainer,
    RegistryAuthError,
    RegistryClient,
    RegistryContentError,
    RegistryError,
    RegistryNotFound,
    RegistrySettings,
    RegistryUnavailable,
    ResolvedReference,
    RuntimeState,
    StorageDriver,
    SupportsLiveRestore,
    SupportsQuota,
    VolumeDriver,
    VolumeInfo,
)
from berth.plugins.markers import hookimpl, hookspec
from berth.plugins.specs import (
    KINDS,
    AnySpec,
    DriverKind,
    IsolationRuntimeSpec,
    NetworkDriverSpec,
    PluginContext,
    ProbeResult,
    RegistryClientSpec,
    StorageDriverSpec,
    VolumeDriverSpec,
    not_implemented_probe,
)

#: Entry-point groups, versioned: a plugin registers its module under one of these.
ENTRY_POINT_GROUPS: dict[DriverKind, str] = {kind: f"berth.{kind}.v1" for kind in KINDS}
ENTRY_POINT_GROUPS["extension"] = "berth.extensions.v1"

__all__ = [
    "ENTRY_POINT_GROUPS",
    "KINDS",
    "AnySpec",
    "Change",
    "ChangeKind",
    "DriverKind",
    "Endpoint",
    "EndpointInterface",
    "FillsLayersApart",
    "IpamDriver",
    "IsolationRuntime",
    "IsolationRuntimeSpec",
    "JoinInfo",
    "Launcher",
    "Manifest",
    "NetworkDriver",
    "NetworkDriverSpec",
    "PluginContext",
    "PortMapping",
    "PreparesContainer",
    "ProbeResult",
    "RegistryAuthError",
    "RegistryClient",
    "RegistryClientSpec",
    "RegistryContentError",
    "RegistryError",
    "RegistryNotFound",
    "RegistrySettings",
    "RegistryUnavailable",
    "ResolvedReference",
    "RuntimeState",
    "StorageDriver",
    "StorageDriverSpec",
    "SupportsLiveRestore",
    "SupportsQuota",
    "VolumeDriver",
    "VolumeDriverSpec",
    "VolumeInfo",
    "hookimpl",
    "hookspec",
    "not_implemented_probe",
]
