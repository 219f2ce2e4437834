"""Entry point of the ``btrfs`` storage driver: registers its spec with berth's plugin host.

Kept import-light: the daemon imports this module to list and probe drivers; the driver itself
is imported by the factory, only when btrfs is selected.
"""

from __future__ import annotations

from collections.abc import Iterable

from berth.plugins import PluginContext, StorageDriver, StorageDriverSpec, hookimpl

from berth_storage_btrfs.probe import probe


def create_driver(ctx: PluginContext) -> StorageDriver:
    from berth_storage_btrfs.driver import BtrfsDriver

    if ctx.options:
        unknown = ", ".join(sorted(ctx.options))
        raise ValueError(f"unknown storage option(s) for btrfs: {unknown}; btrfs takes no options")
    return BtrfsDriver(ctx.data_dir, logger=ctx.logger)


@hookimpl
def berth_storage_drivers() -> Iterable[StorageDriverSpec]:
    return [
        StorageDriverSpec(
            name="btrfs",
            factory=create_driver,
            probe=probe,
            description="btrfs subvolumes and snapshots; needs the data root on btrfs",
        )
    ]
