"""Building the network service for the engine: records, drivers from the plugin host, the
container hooks, and the reconciliation after a daemon start."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from berth.engine.config import DaemonConfig
from berth.engine.containers.networking import ContainerNetworking
from berth.engine.containers.service import ContainerService
from berth.engine.errors import BerthError
from berth.engine.networks.service import NetworkService
from berth.engine.networks.store import NetworkStore
from berth.engine.pluginhost import ACTIVE, READY, PluginHost
from berth.plugins import NetworkDriver


class DriverUnavailable(BerthError):
    status = 404


def driver_resolver(plugins: PluginHost) -> Callable[[str], NetworkDriver]:
    def driver_of(name: str) -> NetworkDriver:
        record = plugins.records["network"].get(name)
        if record is None:
            raise DriverUnavailable(f"network driver {name!r} is not installed")
        if record.status not in (READY, ACTIVE):
            raise DriverUnavailable(f"network driver {name!r} cannot be used: {record.reason}")
        driver: NetworkDriver = plugins.build(record)
        return driver

    return driver_of


def start_networks(
    config: DaemonConfig,
    plugins: PluginHost,
    containers: ContainerService | None,
    log: Any,
    emit: Callable[..., Any],
) -> NetworkService:
    """Load the network records, wire the container service, free what dead containers held."""
    values = {key: config[key] for key in ("bridge", "bip", "mtu", "default-address-pools")}
    service = NetworkService(
        NetworkStore(Path(config.data_root) / "networks", log),
        driver_resolver(plugins),
        values,
        log,
        emit,
    )
    service.load()
    if containers is None:
        return service
    networking = ContainerNetworking(service, log)
    containers.networking = networking
    store = containers.store

    def alive(container_id: str) -> bool:
        container = store.get(container_id)
        return container is not None and container.state.running

    running = [c for c in store if c.state.running]
    service.reconcile(alive, [c.id for c in running])
    networking.restore(running)
    return service
