"""Conformance suite of isolation backends (entry-point group ``berth.isolation.v1``).

Today: the registration checks every plugin passes (:class:`DriverRegistrationSuite`).

BEHAVIOUR TESTS GO HERE — the containers issue adds the checks of the
:class:`IsolationRuntime` contract as methods of :class:`IsolationRuntimeSuite` taking the
``driver`` fixture: an OCI bundle created, started, signalled and deleted, OCI state strings,
exec, pause/resume, stats, and no process, mount or cgroup left behind.
"""

from __future__ import annotations

from typing import ClassVar

from berth.plugins import AnySpec, DriverKind, IsolationRuntime, IsolationRuntimeSpec
from berth.testing.conformance.registration import DriverRegistrationSuite


class IsolationRuntimeSuite(DriverRegistrationSuite):
    """Subclass it and set ``name`` (the entry-point name) and ``distribution``."""

    kind: ClassVar[DriverKind] = "isolation"
    spec_type: ClassVar[type[AnySpec]] = IsolationRuntimeSpec
    contract: ClassVar[type] = IsolationRuntime
