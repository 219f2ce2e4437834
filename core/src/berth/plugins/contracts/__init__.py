"""Driver contracts: one small ABC per driver kind, plus optional capability protocols."""

from berth.plugins.contracts.isolation import STATES, IsolationRuntime, RuntimeState
from berth.plugins.contracts.launcher import Launcher
from berth.plugins.contracts.network import (
    EndpointInterface,
    IpamDriver,
    JoinInfo,
    NetworkDriver,
)
from berth.plugins.contracts.optional import SupportsLiveRestore, SupportsQuota
from berth.plugins.contracts.registry import Manifest, RegistryClient, ResolvedReference
from berth.plugins.contracts.storage import Change, ChangeKind, StorageDriver
from berth.plugins.contracts.volume import VolumeDriver, VolumeInfo

__all__ = [
    "STATES",
    "Change",
    "ChangeKind",
    "EndpointInterface",
    "IpamDriver",
    "IsolationRuntime",
    "JoinInfo",
    "Launcher",
    "Manifest",
    "NetworkDriver",
    "RegistryClient",
    "ResolvedReference",
    "RuntimeState",
    "StorageDriver",
    "SupportsLiveRestore",
    "SupportsQuota",
    "VolumeDriver",
    "VolumeInfo",
]
