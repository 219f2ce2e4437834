"""Entry point of the ``bridge`` network driver: registers its spec with berth's plugin host.

Kept import-light: the daemon imports this module to list and probe drivers, so pyroute2 is
imported by the driver (through the factory), never here.
"""

from __future__ import annotations

from collections.abc import Iterable

from berth.plugins import NetworkDriver, NetworkDriverSpec, PluginContext, hookimpl

from berth_net_bridge.probe import probe


def create_driver(ctx: PluginContext) -> NetworkDriver:
    from berth_net_bridge.driver import BridgeDriver  # pyroute2 comes in here, on first use

    return BridgeDriver(ctx)


@hookimpl
def berth_network_drivers() -> Iterable[NetworkDriverSpec]:
    return [
        NetworkDriverSpec(
            name="bridge",
            factory=create_driver,
            probe=probe,
            description="Linux bridge, veth pairs, IPAM, NAT, published ports and DNS",
            scope="local",
        )
    ]
