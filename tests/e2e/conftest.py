"""Fixtures of the end-to-end tests: real berthd daemons, the real `berth` CLI, a busybox rootfs.

Every daemon runs on a temporary socket, data root and exec root (tests/integration/daemon.py)
and is stopped and removed at the end of its module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.archives import BUSYBOX, busybox_rootfs
from tests.integration.daemon import Daemon, make_daemon

needs_busybox = pytest.mark.skipif(
    not BUSYBOX.is_file(), reason=f"{BUSYBOX} is missing (Debian package busybox-static)"
)
needs_skopeo = pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")
needs_docker_cli = pytest.mark.skipif(
    shutil.which("docker") is None, reason="the docker CLI is not on PATH"
)

CLIENT = [sys.executable, "-m", "berth.cli.main"]


def start_daemon(driver: str = "") -> Daemon:
    """A started berthd, with `driver` as its storage driver (automatic when empty); skips the
    test when that driver cannot work on this host."""
    daemon = make_daemon(config={"storage-driver": driver} if driver else {})
    try:
        daemon.start()
    except RuntimeError as exc:
        log = daemon.log()
        daemon.cleanup()
        if driver and "cannot be used" in log:
            pytest.skip(f"storage driver {driver} cannot work here: {log.strip().splitlines()[-1]}")
        raise RuntimeError(f"berthd did not start: {exc}") from None
    return daemon


def stop_daemon(daemon: Daemon) -> None:
    code = daemon.stop()
    log = daemon.log()
    shutil.rmtree(daemon.root, ignore_errors=True)
    assert code == 0, f"berthd did not stop cleanly ({code}):\n{log}"


@pytest.fixture(scope="module")
def berthd() -> Iterator[Daemon]:
    """One berthd (automatic storage driver) for a module's tests."""
    daemon = start_daemon()
    yield daemon
    stop_daemon(daemon)


@pytest.fixture(scope="session")
def rootfs_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox rootfs tarball (made once per session, the same bytes every time)."""
    if not BUSYBOX.is_file():
        pytest.skip(f"{BUSYBOX} is missing (Debian package busybox-static)")
    return busybox_rootfs(tmp_path_factory.mktemp("rootfs") / "busybox-rootfs.tar")


def berth(
    daemon: Daemon,
    *args: str,
    stdin: bytes | Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[bytes]:
    """Run the real berth CLI against `daemon`; output as bytes (archives go through it)."""
    env = {**daemon.env, "BERTH_HOST": daemon.host}
    if isinstance(stdin, Path):
        with stdin.open("rb") as f:
            return subprocess.run(
                [*CLIENT, *args], env=env, stdin=f, capture_output=True, timeout=timeout
            )
    return subprocess.run(
        [*CLIENT, *args],
        env=env,
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=timeout,
    )


def berth_ok(daemon: Daemon, *args: str, stdin: bytes | Path | None = None) -> str:
    """Run berth; it must succeed; its stdout as text."""
    done = berth(daemon, *args, stdin=stdin)
    assert done.returncode == 0, (
        f"berth {' '.join(args)} failed ({done.returncode}): {done.stderr.decode()}\n"
        f"daemon log tail:\n{daemon.log()[-3000:]}"
    )
    return done.stdout.decode()


def image_listing(daemon: Daemon) -> list[str]:
    """Every image and tag, sorted: to see that a failed command changed nothing."""
    out = berth_ok(
        daemon, "images", "-a", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"
    )
    return sorted(out.splitlines())


def docker_env(daemon: Daemon) -> dict[str, str]:
    return {
        **os.environ,
        "DOCKER_HOST": daemon.host,
        "DOCKER_CONFIG": str(daemon.root / "docker-config"),
        "DOCKER_CLI_HINTS": "false",
    }
