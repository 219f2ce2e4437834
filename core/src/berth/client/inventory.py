"""`berth plugin ls --local`: the plugin inventory of this machine, without a daemon.

Loading and probing plugins imports the engine, pluggy, stevedore and the plugins themselves;
the client must not, so it runs `python -m berth.engine.inventory --json` in a child process
and reads the JSON list it prints.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from typing import Any

from berth.client.errors import ClientError

INVENTORY_TIMEOUT = 120.0


def inventory_command() -> list[str]:
    return [sys.executable, "-m", "berth.engine.inventory", "--json"]


def run_inventory_process(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """The seam tests replace: run the inventory command, capture its output."""
    return subprocess.run(
        list(argv),
        capture_output=True,
        text=True,
        timeout=INVENTORY_TIMEOUT,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def local_inventory() -> list[dict[str, Any]]:
    argv = inventory_command()
    try:
        done = run_inventory_process(argv)
    except subprocess.TimeoutExpired:
        raise ClientError(
            f"listing local plugins took longer than {INVENTORY_TIMEOUT:g} s: a plugin's probe "
            "may hang; run `python -m berth.engine.inventory` to see which"
        ) from None
    except OSError as exc:
        raise ClientError(f"cannot list local plugins: {exc}") from exc
    if done.returncode != 0:
        why = _last_line(done.stderr) or f"exit status {done.returncode}"
        raise ClientError(f"cannot list local plugins: {why}")
    try:
        value = json.loads(done.stdout)
    except ValueError as exc:
        raise ClientError(
            f"cannot list local plugins: the inventory printed no JSON ({exc})"
        ) from exc
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ClientError("cannot list local plugins: the inventory printed no list of objects")
    return value
