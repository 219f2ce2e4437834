"""The lean path of `berth pull` (berth.cli.pull_fast, through the `berth` entry point)
answers exactly as the full click CLI does — output, stderr, exit status, the image it
stores — without loading click, and hands every other form to the full CLI."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from berth.testing.registry import LocalRegistry

from tests.e2e.conftest import CLIENT, berth_ok
from tests.e2e.registries import (
    big_layer,
    daemon_with,
    needs_registry,
    registry,
    small_layers,
    stop,
    upload_image,
)
from tests.integration.daemon import Daemon

pytestmark = needs_registry
__all__ = ["registry"]

FAST = [sys.executable, "-m", "berth.cli.fastpath"]
PROBE = """
import sys
from berth.cli import fastpath
code = fastpath.fast_pull(sys.argv[1:])
sys.stdout.flush()
heavy = [m for m in ("click", "json", "typing", "re", "tarfile") if m in sys.modules]
print("code", code, *heavy, file=sys.stderr)
"""


@pytest.fixture(scope="module")
def daemon(registry: LocalRegistry) -> Iterator[Daemon]:
    upload_image(registry.url, "lean/app", "1", [*small_layers("lean"), big_layer(41)])
    started = daemon_with({})
    yield started
    stop(started)


def _run(daemon: Daemon, argv: list[str]) -> tuple[int, str, str]:
    done = subprocess.run(
        argv,
        env={**daemon.env, "BERTH_HOST": daemon.host},
        input=b"",
        capture_output=True,
        timeout=120,
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def _both(daemon: Daemon, args: list[str]) -> tuple[tuple[int, str, str], tuple[int, str, str]]:
    """The full CLI's answer, then the lean path's, each from a store without the image."""
    answers = []
    for client in (CLIENT, FAST):
        subprocess.run(
            [*CLIENT, "rmi", "-f", args[-1]],
            env={**daemon.env, "BERTH_HOST": daemon.host},
            capture_output=True,
            timeout=60,
        )
        answers.append(_run(daemon, [*client, "pull", *args]))
    return answers[0], answers[1]


def test_quiet_pull_as_the_full_cli(daemon: Daemon, registry: LocalRegistry) -> None:
    full, lean = _both(daemon, ["-q", f"{registry.host}/lean/app:1"])
    assert lean == full
    assert lean[1] == f"{registry.host}/lean/app:1\n"
    listing = berth_ok(daemon, "images", "--format", "{{.Repository}}:{{.Tag}}")
    assert f"{registry.host}/lean/app:1" in listing.split()


def _steady(output: str) -> list[str]:
    """The lines that do not depend on timing: all but the layers' progress lines."""
    return [line for line in output.splitlines() if not _LAYER_LINE.match(line)]


_LAYER_LINE = re.compile(r"^[0-9a-f]{12}: ")


def test_pull_with_progress_as_the_full_cli(daemon: Daemon, registry: LocalRegistry) -> None:
    full, lean = _both(daemon, [f"{registry.host}/lean/app:1"])
    assert lean[0] == full[0] == 0
    assert full[2] == lean[2] == ""
    assert _steady(lean[1]) == _steady(full[1])
    assert _steady(lean[1])[0] == "1: Pulling from lean/app"
    assert _steady(lean[1])[-1] == f"{registry.host}/lean/app:1"
    assert "Pull complete" in lean[1]


def test_default_tag_and_errors_as_the_full_cli(daemon: Daemon, registry: LocalRegistry) -> None:
    full, lean = _both(daemon, ["-q", f"{registry.host}/lean/none"])
    assert lean == full
    assert lean[0] == 1
    assert len(lean[2].splitlines()) == 1 and "Traceback" not in lean[2]


def test_the_plain_forms_stay_lean(daemon: Daemon, registry: LocalRegistry) -> None:
    """No click, and none of the modules that cost start-up time (json, typing, re and
    tarfile: each ~5-15 ms)."""
    for args in (["-q", f"{registry.host}/lean/app:1"], [f"{registry.host}/lean/app:1"]):
        _, _, err = _run(daemon, [sys.executable, "-c", PROBE, *args])
        last = err.splitlines()[-1].split()
        assert last[:2] == ["code", "0"], err
        assert last[2:] == [], f"the lean path imported {last[2:]}"


@pytest.mark.parametrize(
    "args",
    [
        ["--platform", "linux/arm64", "app"],
        ["-a", "app"],
        ["-qa", "app"],
        ["app@sha256:" + "0" * 64],
        ["App"],
        ["--help"],
        ["a", "b"],
        [],
    ],
    ids=lambda a: " ".join(a) or "none",
)
def test_other_forms_are_handed_over(daemon: Daemon, args: list[str]) -> None:
    _, _, err = _run(daemon, [sys.executable, "-c", PROBE, *args])
    assert err.splitlines()[-1].split()[:2] == ["code", "None"]


def test_a_daemon_that_does_not_answer_is_left_to_the_full_cli(tmp_path: Path) -> None:
    env = {"BERTH_HOST": f"unix://{tmp_path}/nobody.sock", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "-q", "app"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.stderr.decode().splitlines()[-1].split()[:2] == ["code", "None"]
