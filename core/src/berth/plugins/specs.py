"""Typed records that plugins hand to core through the registration hooks.

Each driver kind has one spec record. A spec names the driver (the name users type, equal
to its entry-point name), says how to check whether it can work on this host (``probe``) and
how to build it (``factory``). Core calls ``probe`` before ``factory``; a driver whose probe
says "not supported" is never built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from berth.plugins.contracts import (
        IsolationRuntime,
        NetworkDriver,
        RegistryClient,
        StorageDriver,
        VolumeDriver,
    )

DriverKind = Literal["storage", "network", "registry", "isolation", "volume", "extension"]
Scope = Literal["local", "cluster"]

#: Every kind core knows, in the order `plugin ls` shows them.
KINDS: tuple[DriverKind, ...] = (
    "storage",
    "network",
    "registry",
    "isolation",
    "volume",
    "extension",
)


@dataclass(frozen=True)
class ProbeResult:
    """Whether a driver can work on this host, and if not, why (one line a user can act on)."""

    supported: bool
    reason: str = ""

    @classmethod
    def ok(cls, note: str = "") -> ProbeResult:
        return cls(True, note)

    @classmethod
    def unsupported(cls, reason: str) -> ProbeResult:
        return cls(False, reason)


@dataclass(frozen=True)
class PluginContext:
    """What core hands a driver: its identity, its private directories, its options, a logger.

    ``data_dir`` is ``<data-root>/<kind>/<name>/`` and belongs to the driver alone.
    ``logger`` is a structlog logger already bound with ``plugin_kind`` and ``plugin``.
    """

    kind: DriverKind
    name: str
    data_root: Path
    data_dir: Path
    run_dir: Path
    options: Mapping[str, Any] = field(default_factory=dict)
    logger: Any = None


Probe = Callable[[PluginContext], ProbeResult]


@dataclass(frozen=True)
class StorageDriverSpec:
    name: str
    factory: Callable[[PluginContext], StorageDriver]
    probe: Probe
    description: str = ""


@dataclass(frozen=True)
class NetworkDriverSpec:
    name: str
    factory: Callable[[PluginContext], NetworkDriver]
    probe: Probe
    description: str = ""
    scope: Scope = "local"


@dataclass(frozen=True)
class RegistryClientSpec:
    name: str
    factory: Callable[[PluginContext], RegistryClient]
    probe: Probe
    description: str = ""


@dataclass(frozen=True)
class IsolationRuntimeSpec:
    """An isolation backend. ``factory`` builds the daemon side (:class:`IsolationRuntime`);
    ``launcher`` names the module a container's monitor imports to create, start and exec its
    processes (see :mod:`berth.plugins.contracts.launcher`): an importable module path such as
    ``"berth_isolation_linux.launcher"``, light (the standard library and its own package only).
    An empty ``launcher`` means the backend cannot run containers yet. ``oci_binary``: the
    backend runs any OCI runtime binary, so it also serves the runtimes daemon.json names
    (``runtimes``: ``path``, ``runtimeArgs`` as its context's options)."""

    name: str
    factory: Callable[[PluginContext], IsolationRuntime]
    probe: Probe
    description: str = ""
    launcher: str = ""
    oci_binary: bool = False


@dataclass(frozen=True)
class VolumeDriverSpec:
    name: str
    factory: Callable[[PluginContext], VolumeDriver]
    probe: Probe
    description: str = ""
    scope: Scope = "local"


AnySpec = (
    StorageDriverSpec
    | NetworkDriverSpec
    | RegistryClientSpec
    | IsolationRuntimeSpec
    | VolumeDriverSpec
)


def not_implemented_probe(what: str) -> Probe:
    """A probe for a driver whose package exists but cannot work yet."""

    def probe(ctx: PluginContext) -> ProbeResult:
        return ProbeResult.unsupported(f"not implemented yet: {what}")

    return probe
