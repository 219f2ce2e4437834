from berth.testing.conformance import IsolationRuntimeSuite


class TestLinux(IsolationRuntimeSuite):
    name = "linux"
    distribution = "berth-isolation-linux"
