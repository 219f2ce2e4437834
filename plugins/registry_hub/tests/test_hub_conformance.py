from berth.testing.conformance import RegistryClientSuite


class TestHub(RegistryClientSuite):
    name = "hub"
    distribution = "berth-registry-hub"
