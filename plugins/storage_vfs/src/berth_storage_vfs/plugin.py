"""Entry point of the ``vfs`` storage driver: registers its spec with berth's plugin host.

Kept import-light: the daemon imports this module to list and probe drivers; the driver itself
is imported by the factory, only when vfs is selected.
"""

from __future__ import annotations

from collections.abc import Iterable

from berth.plugins import PluginContext, StorageDriver, StorageDriverSpec, hookimpl

from berth_storage_vfs.probe import probe


def create_driver(ctx: PluginContext) -> StorageDriver:
    from berth_storage_vfs.driver import VfsDriver

    if ctx.options:
        unknown = ", ".join(sorted(ctx.options))
        raise ValueError(f"unknown storage option(s) for vfs: {unknown}; vfs takes no options")
    return VfsDriver(ctx.data_dir, logger=ctx.logger)


@hookimpl
def berth_storage_drivers() -> Iterable[StorageDriverSpec]:
    return [
        StorageDriverSpec(
            name="vfs",
            factory=create_driver,
            probe=probe,
            description="plain copies of each layer; works on any file system",
        )
    ]
