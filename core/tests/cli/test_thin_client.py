"""The client stays thin: click, the standard library and berth.cli/berth.client, nothing else.

Checked in a fresh interpreter, after building every command's help and running every command
(against an absent daemon, and `plugin ls --local`, whose work happens in a child process).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

FORBIDDEN = (
    "pluggy",
    "stevedore",
    "structlog",
    "pyroute2",
    "aiohttp",
    "h11",
    "berth.engine",
    "berth.daemon",
    "berth.plugins",
)

PROBE = r"""
import json, sys
import click
from berth.cli.main import cli

def walk(command, parent):
    ctx = click.Context(command, info_name=command.name, parent=parent)
    command.get_help(ctx)
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            walk(command.get_command(ctx, name), ctx)

walk(cli, None)
nowhere = "unix://" + sys.argv[1]
for args in (["version"], ["info"], ["events"], ["plugin", "ls"], ["plugin", "ls", "--local"],
             ["version", "--format", "{{json .}}"], ["completion", "bash"],
             ["run", "--rm", "-e", "A=1", "-m", "1g", "busybox", "true"], ["exec", "c", "true"],
             ["ps", "-a"], ["stats", "--no-stream"], ["logs", "c"], ["inspect", "c"]):
    try:
        cli.main(["-H", nowhere, *args], prog_name="berth", standalone_mode=False)
    except Exception:
        pass
json.dump(sorted(sys.modules), sys.stdout)
"""


def loaded_modules(tmp_path: Path) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path / "absent.sock")],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    modules: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return modules


def test_no_server_side_or_heavy_imports(tmp_path: Path) -> None:
    modules = loaded_modules(tmp_path)
    assert "berth.cli.main" in modules and "berth.client.api" in modules  # the probe really ran
    bad = [m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == []


def test_only_click_stdlib_and_the_client_side(tmp_path: Path) -> None:
    allowed_top = set(sys.stdlib_module_names) | {
        "click",
        "__main__",
        "_virtualenv",
        "_distutils_hack",
    }
    modules = loaded_modules(tmp_path)
    foreign = [
        m
        for m in modules
        if m.split(".")[0] not in allowed_top
        and not (m in ("berth", "berth.humanize") or m.startswith(("berth.cli", "berth.client")))
    ]
    assert foreign == []
