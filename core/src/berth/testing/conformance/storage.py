"""Conformance suite of storage drivers (entry-point group ``berth.storage.v1``).

Today: the registration checks every plugin passes (:class:`DriverRegistrationSuite`).

BEHAVIOUR TESTS GO HERE — the images issue adds the checks of the :class:`StorageDriver`
contract as methods of :class:`StorageDriverSuite` taking the ``driver`` fixture: base and child
layers, ``create_rw``, mount reference counting, ``diff``/``apply_diff`` round trips with
whiteouts, ``changes``, ``diff_size``, idempotent ``remove``, ``cleanup`` leaving no mount.
"""

from __future__ import annotations

from typing import ClassVar

from berth.plugins import AnySpec, DriverKind, StorageDriver, StorageDriverSpec
from berth.testing.conformance.registration import DriverRegistrationSuite


class StorageDriverSuite(DriverRegistrationSuite):
    """Subclass it and set ``name`` (the entry-point name) and ``distribution``."""

    kind: ClassVar[DriverKind] = "storage"
    spec_type: ClassVar[type[AnySpec]] = StorageDriverSpec
    contract: ClassVar[type] = StorageDriver
