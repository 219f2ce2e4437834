"""Builds whose base image is in a registry: FROM an image that is not here pulls it (Docker's
progress lines in the build output), `--pull` pulls one that is here, and a base that no
registry has is one clear error with nothing tagged. A real docker-registry on 127.0.0.1 and
the real docker CLI (classic builder) against berthd."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from berth.testing.registry import LocalRegistry

from tests.e2e.conftest import berth_ok, image_listing, needs_busybox, needs_docker_cli
from tests.e2e.containers import docker_env, remove_all_containers
from tests.e2e.registries import daemon_with, import_busybox, needs_registry, registry, stop
from tests.integration.daemon import Daemon

pytestmark = [needs_registry, needs_busybox, needs_docker_cli]
__all__ = ["registry"]


@pytest.fixture(scope="module")
def berthd() -> Iterator[Daemon]:
    daemon = daemon_with({})
    try:
        yield daemon
    finally:
        remove_all_containers(daemon)
        stop(daemon)


def build(daemon: Daemon, context: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**docker_env(daemon), "DOCKER_BUILDKIT": "0"}
    done = subprocess.run(
        ["docker", "build", "--network", "host", *args, str(context)],
        env=env,
        capture_output=True,
        timeout=120,
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def test_from_a_registry_image_pulls_it(
    berthd: Daemon, registry: LocalRegistry, rootfs_tar: Path, tmp_path: Path
) -> None:
    ref = f"{registry.host}/buildpull/busybox:1"
    import_busybox(berthd, rootfs_tar, ref)
    berth_ok(berthd, "push", ref)
    berth_ok(berthd, "rmi", ref)
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {ref}\nRUN echo pulled-base > /p\n")
    done = build(berthd, context, "-t", "bp-built")
    assert done.returncode == 0, done.stderr
    assert "Pull complete" in done.stdout or "Downloaded newer image" in done.stdout
    assert "Successfully tagged bp-built:latest" in done.stdout
    again = build(berthd, context, "--pull", "-t", "bp-built")
    assert again.returncode == 0, again.stderr
    assert "Image is up to date" in again.stdout
    assert again.stdout.count(" ---> Using cache\n") == 1


def test_a_base_no_registry_has_is_one_clear_error(
    berthd: Daemon, registry: LocalRegistry, tmp_path: Path
) -> None:
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {registry.host}/buildpull/none:1\nRUN true\n")
    before = image_listing(berthd)
    done = build(berthd, context, "-t", "bp-none")
    assert done.returncode == 1
    assert "buildpull/none" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert image_listing(berthd) == before
