"""pytest fixtures for berth's tests and for plugin authors.

Use them from a test module or a ``conftest.py`` by importing them by name::

    from berth.testing.fixtures import fake_distribution, plugin_context  # noqa: F401

``plugin_context`` is a factory of :class:`~berth.plugins.PluginContext` rooted in ``tmp_path``;
``fake_distribution`` writes fake installed distributions (see :mod:`berth.testing.fake_dist`)
into a per-test directory and can put it on ``sys.path`` for the test only.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import pytest

from berth.plugins import DriverKind, PluginContext
from berth.testing.context import make_plugin_context
from berth.testing.fake_dist import make_fake_distribution


class PluginContextFactory(Protocol):
    def __call__(
        self,
        kind: DriverKind,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        create_dirs: bool = True,
    ) -> PluginContext: ...


@pytest.fixture
def plugin_context(tmp_path: Path) -> PluginContextFactory:
    """``plugin_context("storage", "vfs", {"size": "1G"})`` → a context under ``tmp_path``."""

    def make(
        kind: DriverKind,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        create_dirs: bool = True,
    ) -> PluginContext:
        return make_plugin_context(tmp_path, kind, name, options, create_dirs=create_dirs)

    return make


class FakeSite:
    """A directory of fake distributions; call it to add one (same arguments as
    :func:`~berth.testing.fake_dist.make_fake_distribution` without ``root``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._active = False

    def __call__(
        self,
        dist_name: str,
        version: str = "0.1.0",
        entry_points: Mapping[str, Mapping[str, str]] | None = None,
        modules: Mapping[str, str] | None = None,
    ) -> Path:
        dist_info = make_fake_distribution(
            self.root, dist_name, version, entry_points or {}, modules or {}
        )
        importlib.invalidate_caches()
        return dist_info

    def env(self) -> dict[str, str]:
        """``os.environ`` plus this directory first on ``PYTHONPATH``, for a subprocess."""
        env = dict(os.environ)
        paths = [str(self.root)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join(paths)
        return env

    def activate(self) -> None:
        """Put the directory first on ``sys.path`` of this process until the test ends; modules
        imported from it are then forgotten again."""
        if not self._active:
            sys.path.insert(0, str(self.root))
            importlib.invalidate_caches()
            self._active = True

    def deactivate(self) -> None:
        if not self._active:
            return
        self._active = False
        while str(self.root) in sys.path:
            sys.path.remove(str(self.root))
        for name, module in list(sys.modules.items()):
            origin = getattr(module, "__file__", None) or ""
            if origin and Path(origin).is_relative_to(self.root):
                del sys.modules[name]
        importlib.invalidate_caches()


@pytest.fixture
def fake_distribution(tmp_path: Path) -> Iterator[FakeSite]:
    """A :class:`FakeSite` in ``tmp_path / "site-packages"``, deactivated after the test."""
    site = FakeSite(tmp_path / "site-packages")
    site.root.mkdir()
    yield site
    site.deactivate()
