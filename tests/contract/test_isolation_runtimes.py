"""Every installed isolation backend against core's isolation conformance suite.

One test class per entry point of ``berth.isolation.v1``, made here from
:class:`~berth.testing.conformance.IsolationRuntimeSuite`: the same checks a backend's own
tests run (third-party backends included). A backend whose probe says this host cannot run it
has its container checks skipped with the probe's reason.
"""

from __future__ import annotations

import importlib.metadata

from berth.plugins import ENTRY_POINT_GROUPS
from berth.testing.conformance import IsolationRuntimeSuite


def installed_isolation_runtimes() -> list[importlib.metadata.EntryPoint]:
    found = importlib.metadata.entry_points(group=ENTRY_POINT_GROUPS["isolation"])
    return sorted(found, key=lambda ep: ep.name)


def _suite_for(entry_point: importlib.metadata.EntryPoint) -> type[IsolationRuntimeSuite]:
    dist = entry_point.dist.name if entry_point.dist is not None else ""
    attributes = {
        "name": entry_point.name,
        "distribution": dist,
        "__module__": __name__,
        "__doc__": f"The isolation conformance suite for {entry_point.name!r} ({dist}).",
    }
    class_name = "TestIsolation" + "".join(p.capitalize() for p in entry_point.name.split("-"))
    return type(class_name, (IsolationRuntimeSuite,), attributes)


for _entry_point in installed_isolation_runtimes():
    _suite = _suite_for(_entry_point)
    globals()[_suite.__name__] = _suite
del _entry_point, _suite


def test_the_native_backend_is_installed() -> None:
    names = {ep.name for ep in installed_isolation_runtimes()}
    assert "linux" in names, f"installed isolation backends: {sorted(names)}"
