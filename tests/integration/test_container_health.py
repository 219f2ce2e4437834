"""Healthchecks on a real berthd: ``--health-*`` and an image's ``HEALTHCHECK``, probed as
execs; ``State.Health`` in Docker's shape, ``health_status`` and exec events, ``ps`` status and
``--filter health=`` with the real docker CLI, timeouts, bad settings (400), and probes that go
on after ``kill -9`` of berthd.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.archives import BUSYBOX, busybox_rootfs, sha256_bytes
from tests.integration.daemon import Daemon, request
from tests.integration.test_containers_api import _api, _empty_and_stop, _new_daemon

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="containers need root"),
    pytest.mark.skipif(not BUSYBOX.is_file(), reason=f"{BUSYBOX} is missing (busybox-static)"),
    pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not on PATH"),
    pytest.mark.timeout(300),
]

MS = 1_000_000  # nanoseconds


@pytest.fixture(scope="module")
def berthd() -> Iterator[Daemon]:
    daemon = _new_daemon()
    yield daemon
    _empty_and_stop(daemon)


def docker(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DOCKER_HOST": daemon.host,
        "DOCKER_CONFIG": str(daemon.root / "docker-config"),
        "DOCKER_CLI_HINTS": "false",
    }
    return subprocess.run(
        ["docker", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def docker_ok(daemon: Daemon, *args: str) -> str:
    done = docker(daemon, *args)
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr}"
    return done.stdout


def health_of(daemon: Daemon, name: str) -> dict[str, Any] | None:
    status, body = _api(daemon, "GET", f"/containers/{name}/json")
    assert status == 200, body
    found = body["State"].get("Health")
    return dict(found) if found is not None else None


def log_length(daemon: Daemon, name: str) -> int:
    return len((health_of(daemon, name) or {}).get("Log") or [])


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def wait_status(daemon: Daemon, name: str, status: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def reached() -> bool:
        seen.update(health_of(daemon, name) or {})
        return seen.get("Status") == status

    wait_for(reached, f"{name} to become {status} (last: {seen})")
    return seen


def events_of(daemon: Daemon, container_id: str, since: float) -> list[str]:
    filters = urllib.parse.quote(json.dumps({"container": [container_id]}))
    path = f"/v1.44/events?since={since:.3f}&until={time.time():.3f}&filters={filters}"
    _status, _, body = request(daemon.sock, "GET", path)
    return [json.loads(line)["Action"] for line in body.splitlines() if line.strip()]


@contextlib.contextmanager
def removed_after(daemon: Daemon, *names: str) -> Iterator[None]:
    try:
        yield
    finally:
        for name in names:
            _api(daemon, "DELETE", f"/containers/{name}?force=1")


def test_failing_then_passing_probe(berthd: Daemon) -> None:
    since = time.time()
    with removed_after(berthd, "hc-cycle"):
        cid = docker_ok(
            berthd, "run", "-d", "--network", "none", "--name", "hc-cycle",
            "--health-cmd", "echo probing; test -e /tmp/ok",
            "--health-interval", "200ms", "--health-retries", "2",
            "busybox", "sleep", "120",
        ).strip()  # fmt: skip
        health = wait_status(berthd, "hc-cycle", "unhealthy")
        assert health["FailingStreak"] >= 2
        entry = health["Log"][-1]
        assert sorted(entry) == ["End", "ExitCode", "Output", "Start"]
        assert (entry["ExitCode"], entry["Output"]) == (1, "probing\n")
        listing = docker_ok(berthd, "ps", "--filter", "health=unhealthy", "--format",
                            "{{.Names}} {{.Status}}")  # fmt: skip
        assert listing.startswith("hc-cycle Up ") and listing.endswith(" (unhealthy)\n")
        docker_ok(berthd, "exec", "hc-cycle", "touch", "/tmp/ok")
        health = wait_status(berthd, "hc-cycle", "healthy")
        assert health["FailingStreak"] == 0 and health["Log"][-1]["ExitCode"] == 0
        wait_for(lambda: log_length(berthd, "hc-cycle") == 5, "five results")
        time.sleep(0.5)
        assert log_length(berthd, "hc-cycle") == 5  # the last five only
        assert docker_ok(berthd, "ps", "--filter", "health=healthy", "-q") == cid[:12] + "\n"
        assert docker_ok(berthd, "ps", "--filter", "health=unhealthy", "-q") == ""
        status = docker_ok(berthd, "ps", "--filter", "name=hc-cycle", "--format", "{{.Status}}")
        assert status.endswith(" (healthy)\n")
        actions = events_of(berthd, cid, since)
        probe = "/bin/sh -c echo probing; test -e /tmp/ok"
        assert f"exec_create: {probe}" in actions and f"exec_start: {probe}" in actions
        assert "exec_die" in actions
        changes = [a for a in actions if a.startswith("health_status")]
        assert changes == ["health_status: unhealthy", "health_status: healthy"]
        docker_ok(berthd, "stop", "-t", "1", "hc-cycle")
        assert health_of(berthd, "hc-cycle") is not None  # kept after the exit, as Docker does


def test_starting_until_the_first_probe(berthd: Daemon) -> None:
    with removed_after(berthd, "hc-slow"):
        docker_ok(berthd, "run", "-d", "--network", "none", "--name", "hc-slow",
                  "--health-cmd", "true", "--health-interval", "1h",
                  "busybox", "sleep", "120")  # fmt: skip
        assert health_of(berthd, "hc-slow") == {"Status": "starting", "FailingStreak": 0, "Log": []}
        status = docker_ok(berthd, "ps", "--filter", "health=starting", "--format", "{{.Status}}")
        assert status.startswith("Up ") and status.endswith(" (health: starting)\n")


def test_a_probe_over_its_timeout_is_killed_and_fails(berthd: Daemon) -> None:
    with removed_after(berthd, "hc-timeout"):
        docker_ok(berthd, "run", "-d", "--network", "none", "--name", "hc-timeout",
                  "--health-cmd", "sleep 77",
                  "--health-timeout", "300ms", "--health-interval", "200ms",
                  "--health-retries", "1", "busybox", "sleep", "120")  # fmt: skip
        entry = wait_status(berthd, "hc-timeout", "unhealthy")["Log"][0]
        assert (entry["ExitCode"], entry["Output"]) == (-1, "Health check exceeded timeout (300ms)")

        def probes_are_gone() -> bool:
            ps = docker_ok(berthd, "exec", "hc-timeout", "ps", "-o", "pid,args")
            lines = [line for line in ps.splitlines() if "sleep 77" in line]
            return len(lines) <= 1  # at most the probe running right now

        wait_for(probes_are_gone, "the timed-out probes to be killed")


def _image_with_healthcheck(daemon: Daemon, healthcheck: dict[str, Any]) -> None:
    """Load busybox-hc:latest: the busybox layer and a config with a HEALTHCHECK."""
    layer = busybox_rootfs(daemon.root / "hc-layer.tar").read_bytes()
    config = json.dumps({
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["sleep", "120"], "Env": ["PATH=/bin"], "Healthcheck": healthcheck},
        "rootfs": {"type": "layers", "diff_ids": [sha256_bytes(layer)]},
    }).encode()  # fmt: skip
    config_name, layer_name = sha256_bytes(config)[7:] + ".json", "layer.tar"
    manifest = [{"Config": config_name, "RepoTags": ["busybox-hc:latest"], "Layers": [layer_name]}]
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, data in (
            (config_name, config),
            (layer_name, layer),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    status, _, body = request(daemon.sock, "POST", "/v1.44/images/load", archive.getvalue())
    assert status == 200 and b"error" not in body, body


def test_image_healthcheck_and_no_healthcheck(berthd: Daemon) -> None:
    check = {"Test": ["CMD-SHELL", "echo from the image"], "Interval": 200 * MS, "Retries": 1}
    _image_with_healthcheck(berthd, check)
    with removed_after(berthd, "hc-image", "hc-none"):
        docker_ok(berthd, "run", "-d", "--network", "none", "--name", "hc-image", "busybox-hc")
        health = wait_status(berthd, "hc-image", "healthy")
        assert health["Log"][0]["Output"] == "from the image\n"
        docker_ok(
            berthd,
            "run",
            "-d",
            "--network",
            "none",
            "--name",
            "hc-none",
            "--no-healthcheck",
            "busybox-hc",
        )
        assert health_of(berthd, "hc-none") is None
        test = docker_ok(berthd, "inspect", "-f", "{{json .Config.Healthcheck.Test}}", "hc-none")
        assert json.loads(test) == ["NONE"]
        done = docker(berthd, "ps", "--filter", "name=hc-none", "--format", "{{.Status}}")
        assert "health" not in done.stdout
    assert _api(berthd, "DELETE", "/images/busybox-hc")[0] == 200


@pytest.mark.parametrize(
    ("healthcheck", "message"),
    [
        (
            {"Test": ["CMD", "true"], "Interval": 10},
            "Interval in Healthcheck cannot be less than 1ms",
        ),
        ({"Test": ["CMD", "true"], "Timeout": -1}, "Timeout in Healthcheck cannot be negative"),
        ({"Test": ["CMD", "true"], "Retries": -2}, "Retries in Healthcheck cannot be negative"),
        ({"Test": ["PROBE", "true"]}, "unknown Healthcheck test type 'PROBE'"),
        ({"Test": ["CMD"]}, "Healthcheck test CMD needs a command"),
    ],
    ids=["interval", "timeout", "retries", "type", "command"],
)
def test_bad_healthchecks_are_400(
    berthd: Daemon, healthcheck: dict[str, Any], message: str
) -> None:
    before = _api(berthd, "GET", "/containers/json?all=1")[1]
    status, body = _api(
        berthd, "POST", "/containers/create", {"Image": "busybox", "Healthcheck": healthcheck}
    )
    assert status == 400 and message in body["message"], body
    assert _api(berthd, "GET", "/containers/json?all=1")[1] == before


def test_probes_go_on_after_kill_9_of_berthd() -> None:
    daemon = _new_daemon()
    try:
        docker_ok(daemon, "run", "-d", "--network", "none", "--name", "hc-live",
                  "--health-cmd", "true", "--health-interval", "200ms",
                  "busybox", "sleep", "120")  # fmt: skip
        wait_status(daemon, "hc-live", "healthy")
        assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
        daemon.start()
        restarted = time.time()

        def probed_again() -> bool:
            log = (health_of(daemon, "hc-live") or {}).get("Log") or []
            return any(_seconds(e["Start"]) > restarted for e in log)

        wait_for(probed_again, "a probe by the restarted daemon")
        assert (health_of(daemon, "hc-live") or {})["Status"] == "healthy"
    finally:
        _empty_and_stop(daemon)


def _seconds(stamp: str) -> float:
    whole, _, fraction = stamp.rstrip("Z").partition(".")
    base = datetime.fromisoformat(whole + "+00:00").timestamp()
    return base + float("0." + (fraction or "0"))


def test_paths_are_not_left_behind(berthd: Daemon) -> None:
    """The module's daemon keeps no monitor state of removed containers."""
    listed = {c["Id"] for c in _api(berthd, "GET", "/containers/json?all=1")[1]}
    states = Path(berthd.exec_root, "containers")
    left = {p.name for p in states.iterdir()} if states.is_dir() else set()
    assert left <= listed
