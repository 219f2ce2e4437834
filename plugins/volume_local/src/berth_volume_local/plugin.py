"""Entry point of the ``local`` volume driver: registers its spec with berth's plugin host.

Kept import-light: the daemon imports this module to list and probe drivers; the driver itself
is imported by the factory.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from berth.plugins import PluginContext, ProbeResult, VolumeDriver, VolumeDriverSpec, hookimpl


def probe(ctx: PluginContext) -> ProbeResult:
    """Supported wherever the data directory can be written (or created)."""
    existing = ctx.data_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return ProbeResult.unsupported(
            f"the volume directory {ctx.data_dir} cannot be written; choose another --data-root"
        )
    return ProbeResult.ok()


def create_driver(ctx: PluginContext) -> VolumeDriver:
    from berth_volume_local.driver import LocalVolumeDriver

    return LocalVolumeDriver(ctx.data_dir, logger=ctx.logger)


@hookimpl
def berth_volume_drivers() -> Iterable[VolumeDriverSpec]:
    return [
        VolumeDriverSpec(
            name="local",
            factory=create_driver,
            probe=probe,
            description="volumes under the data root; tmpfs, host-directory and device mounts",
        )
    ]
