"""Plugin contexts for tests: the directories core would give a driver, inside a temp dir."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from berth.plugins import DriverKind, PluginContext
from berth.testing.logger import RecordingLogger


def make_plugin_context(
    base: Path,
    kind: DriverKind,
    name: str,
    options: Mapping[str, Any] | None = None,
    *,
    create_dirs: bool = True,
) -> PluginContext:
    """A context laid out as the daemon lays it out, under ``base`` instead of ``/``.

    ``data_dir`` is ``<base>/data-root/<kind>/<name>`` and ``run_dir`` is
    ``<base>/exec-root/<kind>/<name>``; both exist unless ``create_dirs`` is false (a probe must
    cope with either). ``logger`` is a :class:`RecordingLogger` bound with the plugin's kind and
    name.
    """
    data_root = base / "data-root"
    data_dir = data_root / kind / name
    run_dir = base / "exec-root" / kind / name
    if create_dirs:
        data_dir.mkdir(parents=True, exist_ok=True)
        run_dir.mkdir(parents=True, exist_ok=True)
    return PluginContext(
        kind=kind,
        name=name,
        data_root=data_root,
        data_dir=data_dir,
        run_dir=run_dir,
        options=dict(options or {}),
        logger=RecordingLogger(plugin_kind=kind, plugin=name),
    )
