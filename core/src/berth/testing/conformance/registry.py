"""Conformance suite of registry clients (entry-point group ``berth.registry.v1``).

Today: the registration checks every plugin passes (:class:`DriverRegistrationSuite`).

BEHAVIOUR TESTS GO HERE — the registries issue adds the checks of the :class:`RegistryClient`
contract as methods of :class:`RegistryClientSuite` taking the ``driver`` fixture: reference
normalisation (and a clear ``ValueError`` for bad ones), manifests and blobs pushed and pulled
against a local registry, digests verified, authentication failures reported in one line.
"""

from __future__ import annotations

from typing import ClassVar

from berth.plugins import AnySpec, DriverKind, RegistryClient, RegistryClientSpec
from berth.testing.conformance.registration import DriverRegistrationSuite


class RegistryClientSuite(DriverRegistrationSuite):
    """Subclass it and set ``name`` (the entry-point name) and ``distribution``."""

    kind: ClassVar[DriverKind] = "registry"
    spec_type: ClassVar[type[AnySpec]] = RegistryClientSpec
    contract: ClassVar[type] = RegistryClient
