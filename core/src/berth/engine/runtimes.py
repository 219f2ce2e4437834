"""daemon.json ``runtimes``: OCI runtime binaries by name, as Docker means them.

``{"runtimes": {"fast": {"path": "/usr/local/bin/runc", "runtimeArgs": ["--debug"]}}}`` makes
``--runtime fast`` run containers with that binary and those global arguments. Core knows no
runtime binary: a configured name is served by the installed isolation backend whose spec says
it runs OCI runtime binaries (``oci_binary``), given the entry as its context's options, under
the configured name (its own directories ``<root>/isolation/<name>/``). Its probe decides
whether it can work here (a missing binary, crun on a hybrid cgroup layout: one line each).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from berth.engine.containers.service import Runtime
from berth.engine.errors import BadParameter
from berth.engine.pluginhost import PluginHost, PluginRecord
from berth.plugins import IsolationRuntimeSpec, PluginContext


def oci_backend(host: PluginHost) -> PluginRecord | None:
    """The installed isolation backend that runs OCI runtime binaries (loaded, not probed: its
    own binary need not work here for another one to)."""
    for name in host.names("isolation"):
        record = host.load("isolation", name)
        spec = record.spec
        if isinstance(spec, IsolationRuntimeSpec) and spec.oci_binary and spec.launcher:
            return record
    return None


def configured_runtime(host: PluginHost, name: str, entry: Mapping[str, Any]) -> Runtime:
    """The runtime daemon.json configures as ``name``; BadParameter (one line) when it cannot
    serve containers here."""
    record = oci_backend(host)
    if record is None or not isinstance(record.spec, IsolationRuntimeSpec):
        raise BadParameter(
            f"runtime {name!r} (daemon.json runtimes) needs an isolation backend that runs OCI "
            "runtime binaries: install berth-isolation-oci"
        )
    spec = record.spec
    base = host.context(record)
    ctx = PluginContext(
        kind="isolation",
        name=name,
        data_root=base.data_root,
        data_dir=base.data_root / "isolation" / name,
        run_dir=host.exec_root / "isolation" / name,
        options=dict(entry),
        logger=base.logger,
    )
    try:
        result = spec.probe(ctx)
    except Exception as exc:  # a plugin's bug: a clear refusal, not a traceback
        raise BadParameter(f"runtime {name!r} cannot be used here: probe failed: {exc}") from None
    if not result.supported:
        raise BadParameter(f"runtime {name!r} cannot be used here: {result.reason}")
    try:
        ctx.data_dir.mkdir(parents=True, exist_ok=True)
        driver = spec.factory(ctx)
    except Exception as exc:
        raise BadParameter(f"runtime {name!r} cannot be used here: {exc}") from None
    return Runtime(name, driver, spec.launcher)
