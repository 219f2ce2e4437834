"""`berth plugin ls`: from the daemon and --local (through the subprocess seam)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import pytest
from berth.client import inventory
from click.testing import Result

Berth = Callable[..., Result]
NOPE_ERROR = 'template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"\n'

TABLE = (
    "KIND      NAME      DISTRIBUTION            VERSION   STATUS        REASON\n"
    "storage   overlay   berth-storage-overlay   0.1.0     active        \n"
    "storage   btrfs     berth-storage-btrfs     0.1.0     unsupported   "
    "/var/lib/berth is not on a btrfs file system\n"
    "network   bridge    berth-net-bridge        0.1.0     ready         \n"
)


def test_ls_table(berth: Berth, daemon: Any) -> None:
    result = berth("plugin", "ls")
    assert (result.exit_code, result.stdout) == (0, TABLE)
    assert daemon.requests[-1].target == "/v1.44/berth/plugins"


def test_ls_reason_is_never_truncated(berth: Berth, daemon: Any, fakes: ModuleType) -> None:
    reason = "import failed: ModuleNotFoundError: No module named 'pyroute2' " * 4
    entry = {**fakes.SAMPLE_PLUGINS[2], "Status": "error", "Reason": reason}
    daemon.routes[("GET", "/berth/plugins")] = fakes.Reply(body=[entry])
    assert berth("plugin", "ls").stdout.splitlines()[1].endswith(reason)


def test_ls_quiet_format_json_and_alias(berth: Berth, fakes: ModuleType) -> None:
    assert berth("plugin", "ls", "-q").stdout == "overlay\nbtrfs\nbridge\n"
    assert berth("plugin", "ls", "--format", "{{.Kind}}/{{.Name}}: {{.Status}}").stdout == (
        "storage/overlay: active\nstorage/btrfs: unsupported\nnetwork/bridge: ready\n"
    )
    lines = berth("plugin", "ls", "--format", "json").stdout.splitlines()
    assert [json.loads(line) for line in lines] == fakes.SAMPLE_PLUGINS
    assert berth("plugin", "ls", "--format", "table {{.Name}}\\t{{.Selected}}").stdout == (
        "NAME      SELECTED\noverlay   true\nbtrfs     false\nbridge    false\n"
    )
    assert berth("plugin", "list").stdout == TABLE


def test_ls_fills_missing_columns(berth: Berth, daemon: Any, fakes: ModuleType) -> None:
    sparse = {"Kind": "volume", "Name": "local", "Status": "not loaded", "Reason": None}
    daemon.routes[("GET", "/berth/plugins")] = fakes.Reply(body=[sparse])
    result = berth("plugin", "ls")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[1].split() == ["volume", "local", "not", "loaded"]


def test_ls_unknown_field(berth: Berth) -> None:
    result = berth("plugin", "ls", "--format", "{{.Nope}}")
    assert result.exit_code == 1
    assert (
        result.stderr
        == 'template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"\n'
    )


def test_ls_bad_flag(berth: Berth) -> None:
    result = berth("plugin", "ls", "--nope")
    assert result.exit_code == 2
    assert "No such option" in result.stderr and "--nope" in result.stderr


# --- --local --------------------------------------------------------------------------------


def fake_inventory(
    monkeypatch: pytest.MonkeyPatch, returncode: int, stdout: str, stderr: str = ""
) -> list[list[str]]:
    calls: list[list[str]] = []

    def run(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        calls.append(list(argv))
        return subprocess.CompletedProcess(list(argv), returncode, stdout, stderr)

    monkeypatch.setattr(inventory, "run_inventory_process", run)
    return calls


def test_local_runs_the_inventory_in_a_subprocess(
    berth: Berth, daemon: Any, fakes: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_inventory(monkeypatch, 0, json.dumps(fakes.SAMPLE_PLUGINS) + "\n")
    result = berth("plugin", "ls", "--local")
    assert (result.exit_code, result.stdout) == (0, TABLE)
    assert calls == [[sys.executable, "-m", "berth.engine.inventory", "--json"]]
    assert daemon.requests == []  # no daemon needed


@pytest.mark.parametrize(
    ("returncode", "stdout", "stderr", "message"),
    [
        (1, "", "Traceback...\nModuleNotFoundError: No module named 'berth.engine.inventory'\n",
         "cannot list local plugins: ModuleNotFoundError: No module named"),
        (3, "", "", "cannot list local plugins: exit status 3"),
        (0, "not json", "", "the inventory printed no JSON"),
        (0, '{"Kind": "storage"}', "", "no list of objects"),
    ],
)  # fmt: skip
def test_local_failures_are_one_line(
    berth: Berth,
    monkeypatch: pytest.MonkeyPatch,
    returncode: int,
    stdout: str,
    stderr: str,
    message: str,
) -> None:
    fake_inventory(monkeypatch, returncode, stdout, stderr)
    result = berth("plugin", "ls", "--local")
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_local_timeout(berth: Berth, monkeypatch: pytest.MonkeyPatch) -> None:
    def hang(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
        raise subprocess.TimeoutExpired(list(argv), inventory.INVENTORY_TIMEOUT)

    monkeypatch.setattr(inventory, "run_inventory_process", hang)
    result = berth("plugin", "ls", "--local")
    assert result.exit_code == 1
    assert "a plugin's probe may hang" in result.stderr


def test_local_inventory_for_real() -> None:
    """The real seam, against the lead's `berth.engine.inventory`, in its own process."""
    entries = inventory.local_inventory()
    assert entries, "no plugin installed in this workspace?"
    assert all({"Kind", "Name", "Distribution", "Status"} <= set(entry) for entry in entries)
