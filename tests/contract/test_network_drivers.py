"""Every installed network driver against core's network conformance suite.

One test class per entry point of ``berth.network.v1``, made here from
:class:`~berth.testing.conformance.NetworkDriverSuite`: the same checks a plugin's own tests
run, now for whatever is installed (third-party drivers included). A driver whose probe says
this host cannot run it has its behaviour tests skipped with the probe's reason.
"""

from __future__ import annotations

import importlib.metadata

from berth.plugins import ENTRY_POINT_GROUPS
from berth.testing.conformance import NetworkDriverSuite


def installed_network_drivers() -> list[importlib.metadata.EntryPoint]:
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUPS["network"])
    return sorted(found, key=lambda ep: ep.name)


def _suite_for(entry_point: importlib.metadata.EntryPoint) -> type[NetworkDriverSuite]:
    dist = entry_point.dist.name if entry_point.dist is not None else ""
    attributes = {
        "name": entry_point.name,
        "distribution": dist,
        "__module__": __name__,
        "__doc__": f"The network conformance suite for {entry_point.name!r} ({dist}).",
    }
    class_name = "TestNetwork" + "".join(p.capitalize() for p in entry_point.name.split("-"))
    return type(class_name, (NetworkDriverSuite,), attributes)


for _entry_point in installed_network_drivers():
    _suite = _suite_for(_entry_point)
    globals()[_suite.__name__] = _suite
del _entry_point, _suite


def test_the_bridge_driver_is_installed() -> None:
    names = {ep.name for ep in installed_network_drivers()}
    assert "bridge" in names, f"installed network drivers: {sorted(names)}"
