"""Entry point of the ``hub`` registry client: registers its spec with berth's plugin host.

Kept import-light: the daemon imports this module to list and probe plugins; the client and
its HTTP stack are imported by the factory, only when a registry is used.
"""

from __future__ import annotations

from collections.abc import Iterable

from berth.plugins import PluginContext, RegistryClient, RegistryClientSpec, hookimpl

from berth_registry_hub.probe import probe


def create_client(ctx: PluginContext) -> RegistryClient:
    from berth_registry_hub.client import HubClient

    return HubClient()


@hookimpl
def berth_registry_clients() -> Iterable[RegistryClientSpec]:
    return [
        RegistryClientSpec(
            name="hub",
            factory=create_client,
            probe=probe,
            description="Registry HTTP API v2 / OCI distribution client (Docker Hub and others)",
        )
    ]
