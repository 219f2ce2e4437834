"""Conformance suite of volume drivers (entry-point group ``berth.volume.v1``).

Today: the registration checks every plugin passes (:class:`DriverRegistrationSuite`).

BEHAVIOUR TESTS GO HERE — the volumes issue adds the checks of the :class:`VolumeDriver`
contract as methods of :class:`VolumeDriverSuite` taking the ``driver`` fixture: create, get,
list, mount/unmount per mount ID, ``path`` only while mounted, remove, unknown options refused
with ``ValueError`` and unknown volumes with ``KeyError``.
"""

from __future__ import annotations

from typing import ClassVar

from berth.plugins import AnySpec, DriverKind, VolumeDriver, VolumeDriverSpec
from berth.testing.conformance.registration import DriverRegistrationSuite


class VolumeDriverSuite(DriverRegistrationSuite):
    """Subclass it and set ``name`` (the entry-point name) and ``distribution``."""

    kind: ClassVar[DriverKind] = "volume"
    spec_type: ClassVar[type[AnySpec]] = VolumeDriverSpec
    contract: ClassVar[type] = VolumeDriver
