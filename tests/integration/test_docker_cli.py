"""The real docker CLI (28.x) against a real berthd."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest

from tests.integration.conftest import needs_docker_cli
from tests.integration.daemon import Daemon, request

pytestmark = needs_docker_cli


def docker(daemon: Daemon, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    env = {**daemon.env, "DOCKER_HOST": daemon.host, "DOCKER_CONFIG": str(daemon.root / "dcfg")}
    return subprocess.run(
        ["docker", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_version_shows_berth_with_api_1_44(berthd: Daemon) -> None:
    result = docker(berthd, "version")
    assert result.returncode == 0, result.stderr
    assert "Server: Berth Engine" in result.stdout
    assert "API version:      1.44 (minimum version 1.24)" in result.stdout
    server = json.loads(docker(berthd, "version", "--format", "{{json .Server}}").stdout)
    assert server["ApiVersion"] == "1.44"
    assert server["Components"][0]["Name"] == "Engine"


def test_info_shows_storage_driver_and_plugins(berthd: Daemon) -> None:
    result = docker(berthd, "info")
    assert result.returncode == 0, result.stderr
    assert "Storage Driver: " in result.stdout
    assert f"Docker Root Dir: {berthd.data_root}" in result.stdout
    assert (
        "Storage Driver: "
        + json.loads(docker(berthd, "info", "--format", "{{json .Driver}}").stdout)
        in result.stdout
    )
    # The network plugins that work are listed (unusable ones would be warnings on stderr).
    assert "Network: bridge" in result.stdout
    status, _, body = request(berthd.sock, "GET", "/v1.44/info")
    assert status == 200
    info = json.loads(body)
    # Every installed plugin is listed with its status, and none is silently missing.
    listed = {(p["Kind"], p["Name"]): p["Status"] for p in info["BerthPlugins"]}
    for expected in [
        ("storage", "overlay"),
        ("storage", "vfs"),
        ("network", "bridge"),
        ("registry", "hub"),
    ]:
        assert expected in listed
    driver = info["Driver"]
    if driver == "none":  # no driver can work yet: each one's reason is in DriverStatus
        reasons = dict(info["DriverStatus"])
        assert set(reasons) >= {"overlay", "vfs"}
        assert any("storage driver" in w for w in info["Warnings"])
    else:
        assert listed[("storage", driver)] == "active"


def test_system_events_streams_live(berthd: Daemon) -> None:
    env = {**berthd.env, "DOCKER_HOST": berthd.host, "DOCKER_CONFIG": str(berthd.root / "dcfg")}
    proc = subprocess.Popen(
        ["docker", "system", "events", "--format", "{{json .}}", "--filter", "type=daemon"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)  # let the CLI subscribe
        assert berthd.proc is not None
        os.kill(berthd.proc.pid, signal.SIGHUP)  # a config reload is a daemon event
        assert proc.stdout is not None
        line = proc.stdout.readline()
        event = json.loads(line)
        assert event["Type"] == "daemon" and event["Action"] == "reload"
    finally:
        proc.terminate()
        proc.wait(10)


def test_events_since_until_replays_history(berthd: Daemon) -> None:
    # Plugin load events are in the history from start-up; a bounded query ends by itself.
    now = str(int(time.time()) + 1)
    result = docker(
        berthd, "events", "--since", "0", "--until", now, "--format", "{{.Type}} {{.Action}}"
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert all(line.split()[0] in ("plugin", "daemon") for line in lines)


def test_bad_filter_is_a_clear_error(berthd: Daemon) -> None:
    result = docker(berthd, "events", "--filter", "colour=red", "--until", "1")
    assert result.returncode != 0
    assert "invalid filter 'colour'" in result.stderr


def test_unknown_endpoint_is_docker_shaped(berthd: Daemon) -> None:
    result = docker(berthd, "swarm", "unlock-key")
    assert result.returncode != 0
    assert "page not found" in result.stderr or "404" in result.stderr


@pytest.mark.parametrize("args", [("plugin", "ls")])
def test_docker_plugin_ls_has_no_managed_plugins(berthd: Daemon, args: tuple[str, ...]) -> None:
    result = docker(berthd, *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split()[:2] == ["ID", "NAME"]
