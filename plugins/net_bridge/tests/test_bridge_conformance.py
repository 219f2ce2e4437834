from berth.testing.conformance import NetworkDriverSuite


class TestBridge(NetworkDriverSuite):
    name = "bridge"
    distribution = "berth-net-bridge"
