"""Conformance suite of network drivers (entry-point group ``berth.network.v1``).

Today: the registration checks every plugin passes (:class:`DriverRegistrationSuite`).

BEHAVIOUR TESTS GO HERE — the networking issue adds the checks of the :class:`NetworkDriver`
contract as methods of :class:`NetworkDriverSuite` taking the ``driver`` fixture: create and
delete networks (deleting twice is fine), endpoints with the addresses asked for or given,
join/leave a network namespace, external connectivity programmed and revoked, nothing left over.
"""

from __future__ import annotations

from typing import ClassVar

from berth.plugins import AnySpec, DriverKind, NetworkDriver, NetworkDriverSpec
from berth.testing.conformance.registration import DriverRegistrationSuite


class NetworkDriverSuite(DriverRegistrationSuite):
    """Subclass it and set ``name`` (the entry-point name) and ``distribution``."""

    kind: ClassVar[DriverKind] = "network"
    spec_type: ClassVar[type[AnySpec]] = NetworkDriverSpec
    contract: ClassVar[type] = NetworkDriver
