"""Entry point of the ``linux`` isolation backend: registers its spec with berth's plugin
host. Import-light: the daemon side is imported by the factory, and the launcher only by a
container's monitor."""

from __future__ import annotations

from collections.abc import Iterable

from berth.plugins import IsolationRuntime, IsolationRuntimeSpec, PluginContext, hookimpl

from berth_isolation_linux.probe import probe

LAUNCHER = "berth_isolation_linux.launcher"


def create_runtime(ctx: PluginContext) -> IsolationRuntime:
    from berth_isolation_linux.runtime import LinuxRuntime

    if ctx.options:
        unknown = ", ".join(sorted(ctx.options))
        raise ValueError(f"unknown option(s) for the linux runtime: {unknown}; it takes none")
    return LinuxRuntime()


@hookimpl
def berth_isolation_runtimes() -> Iterable[IsolationRuntimeSpec]:
    return [
        IsolationRuntimeSpec(
            name="linux",
            factory=create_runtime,
            probe=probe,
            description="native isolation: namespaces, pivot_root, cgroups v1/v2, "
            "capabilities, seccomp",
            launcher=LAUNCHER,
        )
    ]
