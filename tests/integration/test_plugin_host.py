"""A real berthd with broken, duplicate, disabled and working fake plugins installed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.daemon import Daemon, make_daemon, request
from tests.integration.fakeplugins import install_fakes


@pytest.fixture(scope="module")
def fakes_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install_fakes(tmp_path_factory.mktemp("fakes"))


@pytest.fixture
def daemon_with_fakes(fakes_dir: Path) -> Iterator[Daemon]:
    daemon = make_daemon(pythonpath=[fakes_dir])
    daemon.env["BERTH_TEST_MARKER"] = str(daemon.root / "marker-imported")
    yield daemon
    daemon.cleanup()


def plugins_installed(kind: str) -> set[str]:
    import importlib.metadata

    return {ep.name for ep in importlib.metadata.entry_points(group=f"berth.{kind}.v1")}


def plugins_of(daemon: Daemon) -> dict[tuple[str, str], dict[str, object]]:
    status, _, body = request(daemon.sock, "GET", "/v1.44/berth/plugins")
    assert status == 200
    return {(p["Kind"], p["Name"]): p for p in json.loads(body)}


def refusal(daemon: Daemon, *extra: str) -> str:
    """Start the daemon expecting it to refuse; return its one-line error."""
    proc = daemon.spawn(*extra)
    assert proc.wait(30) != 0, "berthd should have refused to start"
    lines = [line for line in daemon.log().splitlines() if line.startswith("berthd: ")]
    assert lines, daemon.log()
    assert "Traceback" not in daemon.log()
    return lines[-1]


def test_broken_and_duplicate_plugins_are_reported_not_fatal(daemon_with_fakes: Daemon) -> None:
    daemon_with_fakes.start()
    plugins = plugins_of(daemon_with_fakes)
    broken = plugins[("network", "broken")]
    assert broken["Status"] == "error"
    assert "this plugin is broken on purpose" in str(broken["Reason"])
    assert broken["Distribution"] == "fake-broken"
    dup = plugins[("storage", "vfs")]
    assert dup["Status"] == "duplicate"
    assert "berth-storage-vfs" in str(dup["Reason"]) and "fake-dup-vfs" in str(dup["Reason"])
    wrong = plugins[("volume", "wrongname")]
    assert wrong["Status"] == "error" and "something-else" in str(wrong["Reason"])
    # The client shows the same, in docker-like columns.
    result = daemon_with_fakes.run_client("plugin", "ls")
    assert result.returncode == 0, result.stderr
    assert "broken" in result.stdout and "duplicate" in result.stdout


def test_disabled_plugin_is_never_imported(daemon_with_fakes: Daemon) -> None:
    daemon_with_fakes.config_file.write_text(
        json.dumps({"plugins": {"disabled": ["network/marker", "broken"]}})
    )
    daemon_with_fakes.start()
    plugins = plugins_of(daemon_with_fakes)
    assert plugins[("network", "marker")]["Status"] == "disabled"
    assert plugins[("network", "broken")]["Status"] == "disabled"
    assert not (daemon_with_fakes.root / "marker-imported").exists()


def test_allow_list_keeps_others_out(daemon_with_fakes: Daemon) -> None:
    daemon_with_fakes.config_file.write_text(json.dumps({"plugins": {"allow": ["dirs", "hub"]}}))
    daemon_with_fakes.start()
    plugins = plugins_of(daemon_with_fakes)
    assert plugins[("network", "marker")]["Status"] == "disabled"
    assert not (daemon_with_fakes.root / "marker-imported").exists()
    assert plugins[("storage", "dirs")]["Status"] == "active"


def test_enabled_marker_plugin_is_imported(daemon_with_fakes: Daemon) -> None:
    daemon_with_fakes.start()
    assert (daemon_with_fakes.root / "marker-imported").exists()
    marker = plugins_of(daemon_with_fakes)[("network", "marker")]
    assert marker["Status"] == "unsupported" and marker["Reason"] == "only a marker"


def test_chosen_working_driver_is_built_and_cleaned_up(daemon_with_fakes: Daemon) -> None:
    daemon_with_fakes.args = ["--storage-driver", "dirs"]
    daemon_with_fakes.start()
    _, _, body = request(daemon_with_fakes.sock, "GET", "/info")
    info = json.loads(body)
    assert info["Driver"] == "dirs"
    assert ["Backing Filesystem", "test"] in info["DriverStatus"]
    assert plugins_of(daemon_with_fakes)[("storage", "dirs")]["Selected"] is True
    assert daemon_with_fakes.stop() == 0
    assert (daemon_with_fakes.data_root / "storage" / "dirs" / "cleaned-up").exists()


def test_prior_storage_state_wins_over_priority(daemon_with_fakes: Daemon) -> None:
    prior = daemon_with_fakes.data_root / "storage" / "dirs"
    prior.mkdir(parents=True)
    (prior / "some-layer").mkdir()
    daemon_with_fakes.start()
    _, _, body = request(daemon_with_fakes.sock, "GET", "/info")
    assert json.loads(body)["Driver"] == "dirs"


def test_several_prior_states_refuse(daemon_with_fakes: Daemon) -> None:
    for name in ("dirs", "picky"):
        (daemon_with_fakes.data_root / "storage" / name / "x").mkdir(parents=True)
    message = refusal(daemon_with_fakes)
    assert "dirs, picky" in message and "--storage-driver" in message


def test_unknown_storage_driver_refuses(fresh_daemon: Daemon) -> None:
    message = refusal(fresh_daemon, "--storage-driver", "nope")
    installed = ", ".join(sorted(plugins_installed("storage")))
    assert message == f"berthd: no storage driver 'nope'; installed: {installed}"


def test_aufs_names_alternatives(fresh_daemon: Daemon) -> None:
    message = refusal(fresh_daemon, "--storage-driver", "aufs")
    assert "aufs is not in mainline Linux kernels" in message
    assert ", ".join(sorted(plugins_installed("storage"))) in message


def test_chosen_driver_whose_probe_fails_refuses(daemon_with_fakes: Daemon) -> None:
    message = refusal(daemon_with_fakes, "--storage-driver", "picky")
    assert message == (
        "berthd: storage driver 'picky' (chosen by storage-driver) cannot be used: "
        "needs a frobnicator device"
    )


def test_chosen_duplicate_driver_refuses_naming_both(daemon_with_fakes: Daemon) -> None:
    message = refusal(daemon_with_fakes, "--storage-driver", "vfs")
    assert "berth-storage-vfs" in message and "fake-dup-vfs" in message


def test_extension_hears_daemon_started_and_stopping(daemon_with_fakes: Daemon) -> None:
    daemon_with_fakes.args = ["--storage-driver", "dirs"]
    daemon_with_fakes.start()
    lifecycle = daemon_with_fakes.root / "lifecycle"
    assert lifecycle.read_text() == "started dirs\n"
    assert plugins_of(daemon_with_fakes)[("extension", "lifecycle")]["Status"] == "ready"
    assert daemon_with_fakes.stop() == 0
    assert lifecycle.read_text() == "started dirs\nstopping\n"
