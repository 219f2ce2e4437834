"""Driver contracts: one small ABC per driver kind, plus optional capability protocols."""

from berth.plugins.contracts.isolation import STATES, IsolationRuntime, RuntimeState
from berth.plugins.contracts.launcher import Launcher
from berth.plugins.contracts.network import (
    EndpointInterface,
    IpamDriver,
    JoinInfo,
    NetworkDriver,
    PortMapping,
)
from berth.plugins.contracts.optional import (
    FillsLayersApart,
    PreparesContainer,
    SupportsLiveRestore,
    SupportsQuota,
)
from berth.plugins.contracts.registry import (
    Endpoint,
    Manifest,
    RegistryAuthError,
    RegistryClient,
    RegistryContentError,
    RegistryError,
    RegistryNotFound,
    RegistrySettings,
    RegistryUnavailable,
    ResolvedReference,
)
from berth.plugins.contracts.storage import Change, ChangeKind, StorageDriver
from berth.plugins.contracts.volume import VolumeDriver, VolumeInfo

__all__ = [
    "STATES",
    "Change",
    "ChangeKind",
    "Endpoint",
    "EndpointInterface",
    "FillsLayersApart",
    "IpamDriver",
    "IsolationRuntime",
    "JoinInfo",
    "Launcher",
    "Manifest",
    "NetworkDriver",
    "PortMapping",
    "PreparesContainer",
    "RegistryAuthError",
    "RegistryClient",
    "RegistryContentError",
    "RegistryError",
    "RegistryNotFound",
    "RegistrySettings",
    "RegistryUnavailable",
    "ResolvedReference",
    "RuntimeState",
    "StorageDriver",
    "SupportsLiveRestore",
    "SupportsQuota",
    "VolumeDriver",
    "VolumeInfo",
]
