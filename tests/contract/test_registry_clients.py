"""Every installed registry client against core's registry conformance suite (a real
docker-registry on 127.0.0.1; skipped where Debian's docker-registry is missing)."""

from __future__ import annotations

import importlib.metadata

from berth.plugins import ENTRY_POINT_GROUPS
from berth.testing.conformance import RegistryClientSuite


def installed_registry_clients() -> list[importlib.metadata.EntryPoint]:
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUPS["registry"])
    return sorted(found, key=lambda ep: ep.name)


def _suite_for(entry_point: importlib.metadata.EntryPoint) -> type[RegistryClientSuite]:
    dist = entry_point.dist.name if entry_point.dist is not None else ""
    attributes = {
        "name": entry_point.name,
        "distribution": dist,
        "__module__": __name__,
        "__doc__": f"The registry conformance suite for {entry_point.name!r} ({dist}).",
    }
    class_name = "TestRegistry" + "".join(p.capitalize() for p in entry_point.name.split("-"))
    return type(class_name, (RegistryClientSuite,), attributes)


for _entry_point in installed_registry_clients():
    _suite = _suite_for(_entry_point)
    globals()[_suite.__name__] = _suite
del _entry_point, _suite


def test_the_hub_client_is_installed() -> None:
    assert "hub" in {ep.name for ep in installed_registry_clients()}
