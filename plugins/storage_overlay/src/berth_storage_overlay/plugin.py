"""Entry point of the ``overlay`` storage driver: registers its spec with berth's plugin host.

Kept import-light: the daemon imports this module to list and probe drivers; the driver itself
is imported by the factory, only when overlay is selected.
"""

from __future__ import annotations

from collections.abc import Iterable

from berth.plugins import PluginContext, StorageDriver, StorageDriverSpec, hookimpl

from berth_storage_overlay.probe import probe


def create_driver(ctx: PluginContext) -> StorageDriver:
    from berth_storage_overlay.options import parse_options

    options = parse_options(ctx.options)  # refuse bad options before anything else

    from berth_storage_overlay.driver import OverlayDriver

    return OverlayDriver(ctx.data_dir, mount_api=options.mount_api, logger=ctx.logger)


@hookimpl
def berth_storage_drivers() -> Iterable[StorageDriverSpec]:
    return [
        StorageDriverSpec(
            name="overlay",
            factory=create_driver,
            probe=probe,
            description="overlayfs layers (the default where the kernel has overlayfs)",
        )
    ]
