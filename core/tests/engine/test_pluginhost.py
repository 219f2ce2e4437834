"""The plugin host in-process, with fake distributions on sys.path."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from berth.engine.errors import PluginError
from berth.engine.pluginhost import PluginHost, PluginPolicy
from berth.engine.selection import _first_supported, select_isolation, select_storage
from berth.testing.fake_dist import make_fake_distribution

OK_STORAGE = """
from berth.plugins import StorageDriverSpec, ProbeResult, hookimpl

@hookimpl
def berth_storage_drivers():
    return [StorageDriverSpec(name="{name}", factory=lambda ctx: object(),
                              probe=lambda ctx: ProbeResult.ok())]
"""

LISTENER = """
HEARD = []

from berth.plugins import hookimpl

@hookimpl
def berth_container_started(container_id, attributes):
    HEARD.append(("started", container_id, dict(attributes)))

@hookimpl
def berth_container_died(container_id, exit_code, attributes):
    HEARD.append(("died", container_id, exit_code))

@hookimpl
def berth_volume_created(name, driver):
    HEARD.append(("volume", name, driver))
"""

FAULTY_LISTENER = """
from berth.plugins import hookimpl

@hookimpl
def berth_container_started(container_id, attributes):
    raise RuntimeError("listener bug")
"""

CRASHING_PROBE = """
from berth.plugins import IsolationRuntimeSpec, hookimpl

def probe(ctx):
    raise OSError("no such device")

@hookimpl
def berth_isolation_runtimes():
    return [IsolationRuntimeSpec(name="crashy", factory=lambda ctx: None, probe=probe)]
"""


class RecordingLog:
    """Stands in for a structlog logger: keeps (level, event, context) tuples."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, object]]] = []

    def __getattr__(self, level: str):  # type: ignore[no-untyped-def]
        return lambda event, **kw: self.lines.append((level, event, kw))


@pytest.fixture
def host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginHost]:
    site = tmp_path / "site"
    make_fake_distribution(
        site,
        "fake-bbb",
        "1.0",
        {"berth.storage.v1": {"bbb": "fk_bbb"}},
        {"fk_bbb": OK_STORAGE.replace("{name}", "bbb")},
    )
    make_fake_distribution(
        site,
        "fake-aaa",
        "1.0",
        {"berth.storage.v1": {"aaa": "fk_aaa"}},
        {"fk_aaa": OK_STORAGE.replace("{name}", "aaa")},
    )
    make_fake_distribution(
        site,
        "fake-listen",
        "1.0",
        {"berth.extensions.v1": {"listen": "fk_listen", "faulty": "fk_faulty"}},
        {"fk_listen": LISTENER, "fk_faulty": FAULTY_LISTENER},
    )
    make_fake_distribution(
        site,
        "fake-crashy",
        "1.0",
        {"berth.isolation.v1": {"crashy": "fk_crashy"}},
        {"fk_crashy": CRASHING_PROBE},
    )
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    plugin_host = PluginHost(tmp_path / "data", tmp_path / "run", PluginPolicy(), RecordingLog())
    plugin_host.discover()
    yield plugin_host
    for name in ("fk_bbb", "fk_aaa", "fk_listen", "fk_faulty", "fk_crashy"):
        sys.modules.pop(name, None)


def hermetic(host: PluginHost, *names: str) -> PluginHost:
    """Only the named storage plugins may load: the real drivers' state on this host is moot."""
    fresh = PluginHost(host.data_root, host.exec_root, PluginPolicy(allow=names), RecordingLog())
    fresh.discover()
    return fresh


def test_priority_list_before_alphabetical(host: PluginHost) -> None:
    only_fakes = hermetic(host, "aaa", "bbb")
    selection = _first_supported(only_fakes, "storage", ("bbb",))
    assert selection.name == "bbb"
    assert only_fakes.records["storage"]["aaa"].status == "not loaded"  # never imported


def test_without_priority_the_first_by_name_wins(host: PluginHost, tmp_path: Path) -> None:
    selection = select_storage(hermetic(host, "aaa", "bbb"), "", tmp_path / "data")
    assert selection.name == "aaa"
    assert set(selection.skipped) >= {"overlay", "vfs"}  # disabled by the allow list
    assert "plugins.allow" in selection.skipped["overlay"]


def test_no_usable_driver_is_a_selection_without_record(host: PluginHost) -> None:
    selection = select_storage(hermetic(host, "nothing"), "", Path("/nonexistent"))
    assert selection.record is None
    assert selection.summary().startswith("no usable storage driver (overlay: not in plugins.allow")


def test_crashing_probe_counts_as_unsupported(host: PluginHost) -> None:
    with pytest.raises(PluginError, match="probe failed: OSError: no such device"):
        select_isolation(host, "crashy")
    only_crashy = hermetic(host, "crashy")
    selection = select_isolation(only_crashy, "")
    assert selection.record is None
    assert selection.skipped["crashy"] == "probe failed: OSError: no such device"


def test_event_hooks_reach_extensions_and_a_faulty_one_is_isolated(host: PluginHost) -> None:
    host.load_all(["extension"])
    listener = sys.modules["fk_listen"]
    host.hooks.event("container", "start", "c1", {"name": "web", "image": "busybox"})
    host.hooks.event("container", "die", "c1", {"exitCode": "3"})
    host.hooks.event("volume", "create", "data", {"driver": "local"})
    host.hooks.event("container", "exec_start", "c1", {})  # no hook for this one
    log = host._log  # type: ignore[attr-defined]
    assert [line[:2] for line in log.lines] == [("exception", "plugin.hook_failed")]
    assert log.lines[0][2]["plugin"] == "extension/faulty"
    assert listener.HEARD == [
        ("started", "c1", {"name": "web", "image": "busybox"}),
        ("died", "c1", 3),
        ("volume", "data", "local"),
    ]


def test_policy_entries_by_name_or_kind_slash_name() -> None:
    policy = PluginPolicy(allow=("storage/vfs", "bridge"), disabled=("hub",))
    assert policy.refusal("storage", "vfs") == ""
    assert policy.refusal("network", "bridge") == ""
    assert "plugins.disabled" in policy.refusal("registry", "hub")
    assert "plugins.allow" in policy.refusal("storage", "overlay")
