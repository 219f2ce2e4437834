"""Every installed volume driver against core's volume conformance suite.

One test class per entry point of ``berth.volume.v1``, made from
:class:`~berth.testing.conformance.VolumeDriverSuite`: the checks a plugin's own tests run,
now for whatever is installed (third-party drivers included).
"""

from __future__ import annotations

import importlib.metadata

from berth.plugins import ENTRY_POINT_GROUPS
from berth.testing.conformance import VolumeDriverSuite


def installed_volume_drivers() -> list[importlib.metadata.EntryPoint]:
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUPS["volume"])
    return sorted(found, key=lambda ep: ep.name)


def _suite_for(entry_point: importlib.metadata.EntryPoint) -> type[VolumeDriverSuite]:
    dist = entry_point.dist.name if entry_point.dist is not None else ""
    attributes = {
        "name": entry_point.name,
        "distribution": dist,
        "__module__": __name__,
        "__doc__": f"The volume conformance suite for {entry_point.name!r} ({dist}).",
    }
    class_name = "TestVolume" + "".join(p.capitalize() for p in entry_point.name.split("-"))
    return type(class_name, (VolumeDriverSuite,), attributes)


for _entry_point in installed_volume_drivers():
    _suite = _suite_for(_entry_point)
    globals()[_suite.__name__] = _suite
del _entry_point, _suite


def test_the_drivers_berth_ships_are_installed() -> None:
    names = {ep.name for ep in installed_volume_drivers()}
    assert "local" in names, f"installed volume drivers: {sorted(names)}"
