"""Every installed storage driver against core's storage conformance suite.

One test class per entry point of ``berth.storage.v1``, made here from
:class:`~berth.testing.conformance.StorageDriverSuite`: the same checks a plugin's own tests
run, now for whatever is installed (third-party drivers included). A driver whose probe says
this host cannot run it has its behaviour tests skipped with the probe's reason; a driver that
needs its data root on a particular file system gets one, loop-mounted, where the host allows.
"""

from __future__ import annotations

import importlib.metadata

from berth.plugins import ENTRY_POINT_GROUPS
from berth.testing.conformance import StorageDriverSuite

#: Drivers that only work with their data root on a file system of their own kind.
FILESYSTEM_OF: dict[str, str] = {"btrfs": "btrfs"}


def installed_storage_drivers() -> list[importlib.metadata.EntryPoint]:
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUPS["storage"])
    return sorted(found, key=lambda ep: ep.name)


def _suite_for(entry_point: importlib.metadata.EntryPoint) -> type[StorageDriverSuite]:
    dist = entry_point.dist.name if entry_point.dist is not None else ""
    attributes = {
        "name": entry_point.name,
        "distribution": dist,
        "filesystem": FILESYSTEM_OF.get(entry_point.name),
        "__module__": __name__,
        "__doc__": f"The storage conformance suite for {entry_point.name!r} ({dist}).",
    }
    class_name = "TestStorage" + "".join(p.capitalize() for p in entry_point.name.split("-"))
    return type(class_name, (StorageDriverSuite,), attributes)


for _entry_point in installed_storage_drivers():
    _suite = _suite_for(_entry_point)
    globals()[_suite.__name__] = _suite
del _entry_point, _suite


def test_the_drivers_berth_ships_are_installed() -> None:
    names = {ep.name for ep in installed_storage_drivers()}
    assert {"overlay", "vfs", "btrfs"} <= names, f"installed storage drivers: {sorted(names)}"
