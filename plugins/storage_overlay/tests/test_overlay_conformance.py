from berth.testing.conformance import StorageDriverSuite


class TestOverlay(StorageDriverSuite):
    name = "overlay"
    distribution = "berth-storage-overlay"
