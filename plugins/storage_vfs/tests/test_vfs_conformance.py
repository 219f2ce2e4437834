from berth.testing.conformance import StorageDriverSuite


class TestVfs(StorageDriverSuite):
    name = "vfs"
    distribution = "berth-storage-vfs"
