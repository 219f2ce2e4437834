"""What the ``runc`` and ``crun`` entry points share: the spec of an OCI runtime backend.

Import-light: the daemon imports the entry-point modules to list and probe backends; the
daemon-side runtime is imported by the factory, only when the backend is used.
"""

from __future__ import annotations

from berth.plugins import IsolationRuntime, IsolationRuntimeSpec, PluginContext

from berth_isolation_oci.probe import probe


def create_runtime(ctx: PluginContext) -> IsolationRuntime:
    from berth_isolation_oci.runtime import OciRuntime

    return OciRuntime.from_context(ctx)


def spec(name: str, launcher: str, description: str) -> IsolationRuntimeSpec:
    return IsolationRuntimeSpec(
        name=name,
        factory=create_runtime,
        probe=probe,
        description=description,
        launcher=launcher,
        oci_binary=True,
    )
