from berth.plugins import PluginContext
from berth.testing.conformance import StorageDriverSuite
from berth_storage_btrfs.filesystem import filesystem_type


class TestBtrfs(StorageDriverSuite):
    name = "btrfs"
    distribution = "berth-storage-btrfs"
    filesystem = "btrfs"  # the suite loop-mounts one for the class (root only)

    def test_the_suite_runs_on_btrfs(self, context: PluginContext) -> None:
        assert filesystem_type(context.data_dir) == "btrfs"
