"""Entry point ``crun`` (``berth.isolation.v1``): containers run by the crun binary."""

from __future__ import annotations

from collections.abc import Iterable

from berth.plugins import IsolationRuntimeSpec, hookimpl

from berth_isolation_oci.plugin import spec


@hookimpl
def berth_isolation_runtimes() -> Iterable[IsolationRuntimeSpec]:
    return [
        spec(
            "crun",
            "berth_isolation_oci.crun_launcher",
            "the OCI runtime crun (Debian's crun package) runs each container",
        )
    ]
