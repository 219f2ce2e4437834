"""Conformance suites: one base test class per plugin kind, shipped with core.

A plugin's tests subclass the suite of its kind in a few lines::

    from berth.testing.conformance import StorageDriverSuite

    class TestOverlay(StorageDriverSuite):
        name = "overlay"
        distribution = "berth-storage-overlay"

Every suite derives from :class:`PluginRegistrationSuite` (entry point, import boundaries,
hook registration); driver suites add the spec, probe and factory checks of
:class:`DriverRegistrationSuite`. Behaviour checks of each contract are added to the kind's
suite by the issue that brings its first real driver; :class:`StorageDriverSuite` has them.
"""

from berth.testing.conformance.extension import ExtensionSuite
from berth.testing.conformance.isolation import IsolationRuntimeSuite
from berth.testing.conformance.network import NetworkDriverSuite
from berth.testing.conformance.registration import (
    PROBE_TIME_LIMIT,
    DriverRegistrationSuite,
    PluginRegistrationSuite,
)
from berth.testing.conformance.registry import RegistryClientSuite
from berth.testing.conformance.storage import StorageDriverSuite
from berth.testing.conformance.volume import VolumeDriverSuite

__all__ = [
    "PROBE_TIME_LIMIT",
    "DriverRegistrationSuite",
    "ExtensionSuite",
    "IsolationRuntimeSuite",
    "NetworkDriverSuite",
    "PluginRegistrationSuite",
    "RegistryClientSuite",
    "StorageDriverSuite",
    "VolumeDriverSuite",
]
