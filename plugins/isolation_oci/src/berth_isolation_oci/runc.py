"""Entry point ``runc`` (``berth.isolation.v1``): containers run by the runc binary."""

from __future__ import annotations

from collections.abc import Iterable

from berth.plugins import IsolationRuntimeSpec, hookimpl

from berth_isolation_oci.plugin import spec


@hookimpl
def berth_isolation_runtimes() -> Iterable[IsolationRuntimeSpec]:
    return [
        spec(
            "runc",
            "berth_isolation_oci.launcher",
            "the OCI runtime runc (Debian's runc package) runs each container",
        )
    ]
