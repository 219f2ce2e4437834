"""The registration checks every plugin must pass, whatever its kind.

A plugin's test subclasses the suite of its kind and names its entry point and distribution::

    class TestOverlay(StorageDriverSuite):
        name = "overlay"
        distribution = "berth-storage-overlay"

The checks run against the *installed* plugin, found through its entry point exactly as the
daemon finds it, so a mistake in ``pyproject.toml`` fails here rather than in production.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pluggy
import pytest

from berth.plugins import (
    ENTRY_POINT_GROUPS,
    AnySpec,
    DriverKind,
    PluginContext,
    ProbeResult,
    hookspecs,
)
from berth.plugins.markers import PROJECT
from berth.testing.context import make_plugin_context

#: The registration hook of each driver kind (extensions have none).
REGISTRATION_HOOKS: dict[DriverKind, str] = {
    "storage": "berth_storage_drivers",
    "network": "berth_network_drivers",
    "registry": "berth_registry_clients",
    "isolation": "berth_isolation_runtimes",
    "volume": "berth_volume_drivers",
}

#: A probe must answer within this many seconds: the daemon probes every candidate at start.
PROBE_TIME_LIMIT = 1.0

#: Modules a plugin's entry-point module must not import, directly or not: core internals
#: (plugins see only ``berth.plugins``) and libraries too slow to load at discovery time
#: (import them inside the factory instead).
FORBIDDEN_AT_IMPORT: tuple[str, ...] = (
    "berth.engine",
    "berth.daemon",
    "berth.cli",
    "berth.client",
    "pyroute2",
    "aiohttp",
    "requests",
    "httpx",
)


def canonical_dist_name(name: str) -> str:
    """``Berth_Storage.Overlay`` → ``berth-storage-overlay`` (PEP 503 normalisation)."""
    return re.sub(r"[-_.]+", "-", name).lower()


class PluginRegistrationSuite:
    """Checks common to every plugin: entry point, import boundaries, hook registration.

    Subclasses set ``kind`` (the kind suites do), ``name`` (the entry-point name, which is the
    name users type) and ``distribution`` (the distribution that must provide it).
    """

    kind: ClassVar[DriverKind]
    name: ClassVar[str] = ""
    distribution: ClassVar[str] = ""
    #: Modules the plugin module must not pull in when imported; override to extend.
    forbidden_at_import: ClassVar[tuple[str, ...]] = FORBIDDEN_AT_IMPORT

    # --- fixtures ------------------------------------------------------------------------

    @pytest.fixture
    def entry_point(self) -> importlib.metadata.EntryPoint:
        """The plugin's entry point; fails the test when it is missing or claimed twice."""
        if not self.name or not self.distribution:
            pytest.fail(
                f"{type(self).__name__} must set the class attributes 'name' (the entry-point "
                "name) and 'distribution' (the distribution that provides it)"
            )
        group = ENTRY_POINT_GROUPS[self.kind]
        found = [ep for ep in importlib.metadata.entry_points(group=group) if ep.name == self.name]
        if not found:
            pytest.fail(
                f"no entry point {self.name!r} in group {group!r}; add it to the "
                f'[project.entry-points."{group}"] table of {self.distribution}\'s '
                "pyproject.toml and reinstall (uv sync --all-packages)"
            )
        if len(found) > 1:
            owners = sorted(_dist_name(ep) for ep in found)
            pytest.fail(f"entry point {self.name!r} of {group!r} is claimed by {owners}")
        return found[0]

    @pytest.fixture
    def plugin_module(self, entry_point: importlib.metadata.EntryPoint) -> ModuleType:
        """The module the entry point names, imported."""
        loaded = entry_point.load()
        if not isinstance(loaded, ModuleType):
            pytest.fail(
                f"entry point {self.name!r} = {entry_point.value!r} names a "
                f"{type(loaded).__name__}, not a module; its value must be a module path"
            )
        return loaded

    @pytest.fixture
    def plugin_manager(self, plugin_module: ModuleType) -> Iterator[pluggy.PluginManager]:
        """A fresh ``PluginManager("berth")`` with core's hook specs and only this plugin."""
        pm = pluggy.PluginManager(PROJECT)
        pm.add_hookspecs(hookspecs)
        pm.register(plugin_module, name=f"{self.kind}:{self.name}")
        yield pm
        pm.unregister(plugin_module)

    @pytest.fixture
    def context(self, tmp_path: Path) -> PluginContext:
        """The context core would hand this plugin, rooted in ``tmp_path``."""
        return make_plugin_context(tmp_path, self.kind, self.name)

    # --- checks --------------------------------------------------------------------------

    def test_entry_point_is_registered_by_distribution(
        self, entry_point: importlib.metadata.EntryPoint
    ) -> None:
        owner = _dist_name(entry_point)
        assert canonical_dist_name(owner) == canonical_dist_name(self.distribution), (
            f"entry point {self.name!r} is provided by {owner!r}, not {self.distribution!r}"
        )

    def test_entry_point_names_a_module(self, plugin_module: ModuleType) -> None:
        assert plugin_module.__name__, "the entry point must name an importable module"

    def test_module_imports_only_the_public_plugin_api(
        self, entry_point: importlib.metadata.EntryPoint
    ) -> None:
        code = (
            "import importlib, json, sys\n"
            f"importlib.import_module({entry_point.module!r})\n"
            "print(json.dumps(sorted(sys.modules)))\n"
        )
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
        )
        assert done.returncode == 0, f"importing {entry_point.module} failed:\n{done.stderr}"
        loaded = json.loads(done.stdout.splitlines()[-1])
        tops = {".".join(m.split(".")[:i]) for m in loaded for i in (1, 2)}
        bad = sorted(set(self.forbidden_at_import) & tops)
        assert not bad, (
            f"importing {entry_point.module} loads {bad}; a plugin imports only berth.plugins "
            "at import time (import heavy libraries inside the factory)"
        )

    def test_hooks_match_core_hook_specs(self, plugin_manager: pluggy.PluginManager) -> None:
        # pluggy already refused arguments a spec does not have; this catches misspelt hooks.
        try:
            plugin_manager.check_pending()
        except pluggy.PluginValidationError as exc:
            pytest.fail(f"{exc}; hook names are listed in docs/plugins/hooks.md")

    def test_declares_no_driver_of_another_kind(self, plugin_manager: pluggy.PluginManager) -> None:
        for kind, hook_name in REGISTRATION_HOOKS.items():
            if kind == self.kind:
                continue
            declared = _flatten(getattr(plugin_manager.hook, hook_name)())
            assert not declared, (
                f"a module registered in {ENTRY_POINT_GROUPS[self.kind]!r} declares {kind} "
                f"drivers through {hook_name}; give them their own entry point"
            )


class DriverRegistrationSuite(PluginRegistrationSuite):
    """Checks for a driver: exactly one spec of the right type, a fast probe that never raises,
    and a factory that builds the kind's contract when the probe says the host can run it.

    Kind suites set ``spec_type`` (the spec record class) and ``contract`` (the driver ABC).
    """

    spec_type: ClassVar[type[AnySpec]]
    contract: ClassVar[type]

    @pytest.fixture
    def spec(self, plugin_manager: pluggy.PluginManager) -> AnySpec:
        """The single spec record the plugin declares for its entry point."""
        hook_name = REGISTRATION_HOOKS[self.kind]
        declared = _flatten(getattr(plugin_manager.hook, hook_name)())
        if len(declared) != 1:
            pytest.fail(
                f"{hook_name} returned {len(declared)} specs; a module behind entry point "
                f"{self.name!r} declares exactly one driver, named {self.name!r}"
            )
        spec = declared[0]
        if not isinstance(spec, self.spec_type):
            pytest.fail(
                f"{hook_name} returned a {type(spec).__name__}, not a {self.spec_type.__name__}"
            )
        return spec

    @pytest.fixture
    def probe_result(self, spec: AnySpec, context: PluginContext) -> ProbeResult:
        """The probe's answer in ``context``; the test fails if the probe raises."""
        return _run_probe(spec, context)

    @pytest.fixture
    def driver(self, spec: AnySpec, context: PluginContext, probe_result: ProbeResult) -> Any:
        """The driver built by its factory; the test is skipped where the probe says no."""
        if not probe_result.supported:
            pytest.skip(f"{self.kind} plugin {self.name!r} cannot run here: {probe_result.reason}")
        return spec.factory(context)

    def test_registration_hook_returns_one_spec_named_after_entry_point(
        self, spec: AnySpec
    ) -> None:
        assert spec.name == self.name, (
            f"the spec is named {spec.name!r} but its entry point is {self.name!r}; "
            "they must be equal (the entry-point name is the name users type)"
        )
        assert callable(spec.probe) and callable(spec.factory), "probe and factory are callables"

    def test_probe_answers_within_time_limit(self, spec: AnySpec, context: PluginContext) -> None:
        started = time.monotonic()
        _run_probe(spec, context)
        elapsed = time.monotonic() - started
        assert elapsed < PROBE_TIME_LIMIT, (
            f"the probe took {elapsed:.2f} s; it must answer within {PROBE_TIME_LIMIT} s "
            "(check what the host has, do not set anything up)"
        )

    def test_probe_gives_a_reason_when_unsupported(self, probe_result: ProbeResult) -> None:
        assert isinstance(probe_result.reason, str)
        if not probe_result.supported:
            assert probe_result.reason.strip(), "an unsupported probe result must say why"
        assert "\n" not in probe_result.reason, "a probe's reason is one line"

    def test_probe_copes_with_missing_directories(self, spec: AnySpec, tmp_path: Path) -> None:
        bare = make_plugin_context(tmp_path / "fresh", self.kind, self.name, create_dirs=False)
        _run_probe(spec, bare)

    def test_factory_builds_the_contract_when_supported(self, driver: Any) -> None:
        assert isinstance(driver, self.contract), (
            f"the factory of {self.name!r} returned a {type(driver).__name__}, "
            f"not a {self.contract.__name__}"
        )


def _run_probe(spec: AnySpec, context: PluginContext) -> ProbeResult:
    try:
        result = spec.probe(context)
    except Exception as exc:
        pytest.fail(
            f"the probe raised {type(exc).__name__}: {exc}; a probe never raises, it returns "
            "ProbeResult.unsupported(reason)"
        )
    if not isinstance(result, ProbeResult):
        pytest.fail(f"the probe returned a {type(result).__name__}, not a ProbeResult")
    return result


def _flatten(results: list[Any]) -> list[Any]:
    return [item for returned in results for item in (returned or ())]


def _dist_name(entry_point: importlib.metadata.EntryPoint) -> str:
    dist = entry_point.dist
    return dist.name if dist is not None else "<unknown distribution>"
