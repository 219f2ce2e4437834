from berth.testing.conformance import VolumeDriverSuite


class TestLocal(VolumeDriverSuite):
    name = "local"
    distribution = "berth-volume-local"
