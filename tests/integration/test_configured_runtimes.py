"""daemon.json ``runtimes`` and ``default-runtime`` on a real berthd, with the real docker CLI:
a configured name runs containers with its binary and ``runtimeArgs`` (through the OCI
backend), is the default when ``default-runtime`` names it, and bad names or binaries get one
clear line each (unknown: 400 / exit 125; missing binary; crun on a hybrid cgroup layout).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from tests.e2e.archives import BUSYBOX
from tests.integration.daemon import Daemon, make_daemon
from tests.integration.test_containers_api import _empty_and_stop, _import_busybox, _start

RUNC = shutil.which("runc")
CRUN = shutil.which("crun")

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="containers need root"),
    pytest.mark.skipif(not BUSYBOX.is_file(), reason=f"{BUSYBOX} is missing (busybox-static)"),
    pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not on PATH"),
    pytest.mark.skipif(RUNC is None, reason="runc is not installed"),
    pytest.mark.timeout(300),
]


@pytest.fixture(scope="module")
def berthd() -> Iterator[Daemon]:
    daemon = make_daemon()
    # A runtime binary that notes its arguments, then is runc: shows path and runtimeArgs used.
    wrapper = daemon.root / "noting-runc"
    wrapper.write_text(f'#!/bin/sh\necho "$@" >> {daemon.root}/calls\nexec {RUNC} "$@"\n')
    wrapper.chmod(0o755)
    runtimes = {
        "noting-runc": {"path": str(wrapper), "runtimeArgs": ["--debug"]},
        "missing": {"path": "/nonexistent/bin/runc"},
    }
    if CRUN is not None:
        runtimes["crun-here"] = {"path": CRUN}
    config = {"storage-driver": "overlay", "default-runtime": "noting-runc", "runtimes": runtimes}
    daemon.config_file.write_text(json.dumps(config))
    _start(daemon)
    _import_busybox(daemon)
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


def test_the_default_runtime_is_the_configured_one(berthd: Daemon) -> None:
    info = docker(berthd, "info", "--format", "{{.DefaultRuntime}} {{json .Runtimes}}")
    default, runtimes = info.stdout.split(" ", 1)
    assert default == "noting-runc" and "noting-runc" in runtimes and "missing" in runtimes
    done = docker(
        berthd, "run", "--network", "none", "--name", "by-default", "busybox", "echo", "hi"
    )
    try:
        assert (done.returncode, done.stdout, done.stderr) == (0, "hi\n", "")
        runtime = docker(berthd, "inspect", "-f", "{{.HostConfig.Runtime}}", "by-default")
        assert runtime.stdout == "noting-runc\n"
        calls = (berthd.root / "calls").read_text().splitlines()
        creates = [line for line in calls if " create " in line]
        assert creates and all(line.startswith("--debug ") for line in creates)
    finally:
        docker(berthd, "rm", "-f", "by-default")


def test_runtime_flag_picks_a_plugin_runtime_too(berthd: Daemon) -> None:
    done = docker(
        berthd, "run", "--rm", "--network", "none", "--runtime", "runc", "busybox", "echo", "plain"
    )
    assert (done.returncode, done.stdout) == (0, "plain\n"), done.stderr


def test_an_unknown_runtime_is_refused(berthd: Daemon) -> None:
    before = docker(berthd, "ps", "-aq").stdout
    done = docker(
        berthd, "run", "--rm", "--network", "none", "--runtime", "nope", "busybox", "true"
    )
    assert done.returncode == 125
    first = done.stderr.splitlines()[0]
    assert first.startswith(
        "docker: Error response from daemon: unknown or invalid runtime name: nope"
    )
    assert "noting-runc" in first  # the names one can use
    assert docker(berthd, "ps", "-aq").stdout == before


def test_a_missing_binary_is_one_clear_line(berthd: Daemon) -> None:
    done = docker(
        berthd, "run", "--rm", "--network", "none", "--runtime", "missing", "busybox", "true"
    )
    assert done.returncode == 125
    assert (
        "runtime 'missing' cannot be used here: the OCI runtime /nonexistent/bin/runc does not "
        "exist or is not executable"
    ) in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.skipif(CRUN is None, reason="crun is not installed")
def test_crun_on_this_host(berthd: Daemon) -> None:
    done = docker(
        berthd,
        "run",
        "--rm",
        "--network",
        "none",
        "--runtime",
        "crun-here",
        "busybox",
        "echo",
        "crun",
    )
    if done.returncode == 0:
        assert done.stdout == "crun\n"  # a host crun can work on
    else:
        assert done.returncode == 125
        assert "hybrid cgroup layout" in done.stderr and "use runc" in done.stderr
        assert "Traceback" not in done.stderr
