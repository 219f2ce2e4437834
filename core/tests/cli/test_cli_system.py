"""`berth version`, `berth info`, `berth events`, errors and exit statuses (CliRunner)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from berth.cli.clientinfo import python_version
from berth.cli.main import cli
from click.testing import CliRunner, Result

Berth = Callable[..., Result]
NOPE_ERROR = 'template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"\n'


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# --- version --------------------------------------------------------------------------------


def test_version_layout(berth: Berth) -> None:
    result = berth("version")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:3] == ["Client:", " Version:           0.1.0", " API version:       1.44"]
    assert f" Python version:    {python_version()}" in lines
    server = lines[lines.index("Server: Berth Engine") :]
    assert server == [
        "Server: Berth Engine",
        " Engine:",
        "  Version:          0.1.0",
        "  API version:      1.44 (minimum version 1.24)",
        "  Python version:   3.11.2",
        "  Kernel version:   6.1.0-test",
        "  OS/Arch:          linux/amd64",
        " crun:",
        "  Version:          1.8.1",
        "  Path:             /usr/bin/crun",
    ]
    assert lines[lines.index("Server: Berth Engine") - 1] == ""


def test_version_of_a_docker_daemon_shows_go(berth: Berth, daemon: Any, fakes: ModuleType) -> None:
    docker = {
        "Platform": {"Name": "Docker Engine - Community"},
        "Components": [
            {
                "Name": "Engine",
                "Version": "24.0.5",
                "Details": {"ApiVersion": "1.43", "MinAPIVersion": "1.12", "GoVersion": "go1.20.6"},
            }
        ],
        "Version": "24.0.5",
    }
    daemon.routes[("GET", "/version")] = fakes.Reply(body=docker)
    out = berth("version").stdout
    assert "Server: Docker Engine - Community" in out
    assert "  Go version:       go1.20.6\n" in out
    assert "  API version:      1.43 (minimum version 1.12)\n" in out


def test_version_format(berth: Berth) -> None:
    result = berth("version", "--format", "{{.Server.Version}} {{.Client.ApiVersion}}")
    assert (result.exit_code, result.stdout) == (0, "0.1.0 1.44\n")
    data = json.loads(berth("version", "--format", "json").stdout)
    assert data["Server"]["MinAPIVersion"] == "1.24"
    assert data["Client"]["Version"] == "0.1.0"


def test_version_format_error(berth: Berth) -> None:
    result = berth("version", "--format", "{{.Server.Nope}}")
    assert result.exit_code == 1
    assert result.stderr == (
        'template: :1:2: executing "" at <.Server.Nope>: map has no entry for key "Nope"\n'
    )


def test_version_without_daemon_prints_the_client_then_fails(short_tmp: Any) -> None:
    url = f"unix://{short_tmp}/absent.sock"
    result = CliRunner().invoke(cli, ["-H", url, "version"])
    assert result.exit_code == 1
    assert result.stdout.startswith("Client:\n Version:           0.1.0\n")
    assert "Server" not in result.stdout
    assert result.stderr == f"Cannot connect to the berth daemon at {url}. Is berthd running?\n"


def test_version_format_without_daemon_still_prints_client_fields(short_tmp: Any) -> None:
    url = f"unix://{short_tmp}/absent.sock"
    result = CliRunner().invoke(cli, ["-H", url, "version", "-f", "{{.Client.Version}}"])
    assert (result.exit_code, result.stdout) == (1, "0.1.0\n")
    assert "Cannot connect" in result.stderr


def test_host_from_environment(daemon: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BERTH_HOST", daemon.url)
    assert CliRunner().invoke(cli, ["version"]).exit_code == 0
    monkeypatch.delenv("BERTH_HOST")
    monkeypatch.setenv("DOCKER_HOST", daemon.url)
    assert CliRunner().invoke(cli, ["version"]).exit_code == 0
    assert daemon.paths() == ["/version", "/version"]


def test_bad_host_is_one_line() -> None:
    result = CliRunner().invoke(cli, ["-H", "ssh://x", "version"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and 'unsupported scheme "ssh"' in result.stderr


def test_root_version_flag() -> None:
    for flag in ("--version", "-v"):
        result = CliRunner().invoke(cli, [flag])
        assert (result.exit_code, result.stdout) == (0, "Berth version 0.1.0, build unknown\n")


def test_debug_logs_requests(berth: Berth, daemon: Any) -> None:
    result = CliRunner().invoke(cli, ["-D", "-H", daemon.url, "info", "-f", "{{.Name}}"])
    assert result.stdout == "testhost\n"
    assert f"DEBU GET {daemon.url}/v1.44/info" in result.stderr


# --- info -----------------------------------------------------------------------------------


def test_info_layout(berth: Berth) -> None:
    result = berth("info")
    assert result.exit_code == 0
    out = result.stdout
    assert out.startswith("Client:\n Version:    0.1.0\n Debug Mode: false\n\nServer:\n")
    expected_runs = [
        " Containers: 3\n  Running: 1\n  Paused: 0\n  Stopped: 2\n Images: 5\n",
        " Storage Driver: overlay\n  Backing Filesystem: extfs\n  Supports d_type: true\n"
        " Logging Driver: json-file\n",
        " Plugins:\n  Volume: local\n  Network: bridge host null\n  Log: json-file local\n",
        " Berth Plugins:\n  Storage:\n   overlay: active\n"
        "   btrfs: unsupported (/var/lib/berth is not on a btrfs file system)\n"
        "  Network:\n   bridge: ready\n",
        " Runtimes: crun runc\n Default Runtime: crun\n",
        " Security Options:\n  seccomp\n   Profile: builtin\n  cgroupns\n",
        " CPUs: 2\n Total Memory: 3.825GiB\n Name: testhost\n",
        " Berth Root Dir: /var/lib/berth\n",
        " Insecure Registries:\n  127.0.0.0/8\n Live Restore Enabled: true\n",
    ]
    for run in expected_runs:
        assert run in out
    assert "Authorization" not in out  # null in the answer: not shown
    assert result.stderr == "WARNING: bridge-nf-call-iptables is disabled\n"


def test_info_format_on_the_raw_json(berth: Berth) -> None:
    assert berth("info", "--format", "{{.Driver}}").stdout == "overlay\n"
    assert berth("info", "-f", "{{json .Plugins.Volume}}").stdout == '["local"]\n'
    assert berth("info", "-f", "{{.ClientInfo.Version}}").stdout == "0.1.0\n"
    data = json.loads(berth("info", "--format", "json").stdout)
    assert data["BerthPlugins"][0]["Name"] == "overlay"


def test_info_unknown_field(berth: Berth) -> None:
    result = berth("info", "--format", "{{.Nope}}")
    assert result.exit_code == 1
    assert (
        result.stderr
        == 'template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"\n'
    )
    assert result.stdout == ""


def test_info_bad_template(berth: Berth) -> None:
    result = berth("info", "--format", "{{.Driver")
    assert result.exit_code == 1
    assert result.stderr == "template parsing error: template: :1: unclosed action\n"


def test_system_info_is_info(berth: Berth) -> None:
    assert berth("system", "info").stdout == berth("info").stdout


def test_info_without_daemon(short_tmp: Any) -> None:
    url = f"unix://{short_tmp}/absent.sock"
    result = CliRunner().invoke(cli, ["-H", url, "info"])
    assert result.exit_code == 1
    assert result.stdout.startswith("Client:\n Version:    0.1.0\n")
    assert result.stdout.endswith("Server:\n")
    assert result.stderr == f"Cannot connect to the berth daemon at {url}. Is berthd running?\n"


def test_daemon_error(berth: Berth, daemon: Any, fakes: ModuleType) -> None:
    daemon.routes[("GET", "/info")] = fakes.Reply(500, {"message": "store is locked"})
    result = berth("info")
    assert result.exit_code == 1
    assert result.stderr.endswith("Error response from daemon: store is locked\n")


def test_unexpected_errors_are_one_line(
    berth: Berth, monkeypatch: pytest.MonkeyPatch, daemon: Any
) -> None:
    from berth.client import system as api_system

    def broken(_api: object) -> None:
        raise RuntimeError("something odd")

    monkeypatch.setattr(api_system, "info", broken)
    result = berth("info")
    assert result.exit_code == 1
    assert result.stderr.startswith("berth: unexpected error: RuntimeError: something odd")
    assert "Traceback" not in result.output
    debug = CliRunner().invoke(cli, ["-D", "-H", daemon.url, "info"])
    assert "Traceback" in debug.stderr


# --- events ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("utc")
def test_events_default_lines(berth: Berth) -> None:
    result = berth("events")
    assert result.exit_code == 0
    assert result.stdout == (
        "2026-11-28T10:15:00.123456789Z container start 4a5b6c (image=busybox, name=x)\n"
        "2026-11-28T10:15:01.000000000Z network connect n1\n"
    )


def test_events_query(berth: Berth, daemon: Any) -> None:
    result = berth(
        "system", "events", "--since", "1700000000", "--until", "2026-11-28T10:15:00Z",
        "--filter", "type=container", "-f", "event=start", "--filter", "event=die",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    query = daemon.requests[-1].query
    assert query["since"] == ["1700000000"]
    assert query["until"] == ["1795860900.000000000"]
    assert json.loads(query["filters"][0]) == {
        "type": {"container": True},
        "event": {"start": True, "die": True},
    }


def test_events_relative_since(berth: Berth, daemon: Any) -> None:
    before = time.time()
    assert berth("events", "--since", "10m").exit_code == 0
    since = float(daemon.requests[-1].query["since"][0])
    assert before - 601 < since < time.time() - 599


def test_events_without_options_send_no_query(berth: Berth, daemon: Any) -> None:
    berth("events")
    assert daemon.requests[-1].target == "/v1.44/events"


def test_events_format(berth: Berth) -> None:
    result = berth("events", "--format", "{{.Type}} {{.Actor.Attributes.name}}")
    assert result.stdout == "container x\nnetwork \n"
    lines = berth("events", "--format", "json").stdout.splitlines()
    assert json.loads(lines[0])["Actor"]["ID"] == "4a5b6c"
    assert len(lines) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--filter", "novalue"], 'bad format of filter "novalue" (expected name=value)'),
        (["--filter", "=x"], "bad format of filter"),
        (["--since", "yesterday"], '"yesterday" is not a time or a duration'),
        (["--until", "2026-02-30"], "is not a valid time"),
    ],
)
def test_events_bad_options_are_usage_errors(berth: Berth, args: list[str], message: str) -> None:
    result = berth("events", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Usage: berth events" in result.stderr


def test_events_bad_format_fails_before_connecting(berth: Berth, daemon: Any) -> None:
    result = berth("events", "--format", "{{range .}}")
    assert result.exit_code == 1
    assert '"range" actions are not supported' in result.stderr
    assert daemon.requests == []


def test_events_interrupted_is_quiet(berth: Berth, monkeypatch: pytest.MonkeyPatch) -> None:
    from berth.client import system as api_system

    def interrupted(*_a: object, **_k: object) -> Iterator[dict[str, Any]]:
        yield {"Type": "container", "Action": "start", "Actor": {"ID": "a"}}
        raise KeyboardInterrupt

    monkeypatch.setattr(api_system, "events", interrupted)
    result = berth("events")
    assert result.exit_code == 130
    assert result.stdout == "container start a\n"
    assert result.stderr == ""


def test_events_ctrl_c_in_a_real_process(daemon: Any, fakes: ModuleType) -> None:
    """A real `berth events` streams, then SIGINT ends it: exit 130, no traceback."""
    hold = threading.Event()
    daemon.routes[("GET", "/events")] = fakes.Stream(items=fakes.SAMPLE_EVENTS, keep_open=hold)
    env = {**os.environ, "TZ": "UTC"}
    process = subprocess.Popen(
        [sys.executable, "-m", "berth.cli.main", "-H", daemon.url, "events"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        second = process.stdout.readline()
        assert first.startswith("2026-11-28T10:15:00.123456789Z container start 4a5b6c")
        assert second.endswith("network connect n1\n")
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=10)
    finally:
        hold.set()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130
    assert "Traceback" not in err and err == ""
