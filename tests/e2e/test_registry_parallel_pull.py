"""Pulls that unpack their layers all at once (overlay: each layer into its own ``diff`` by a
worker process, recorded in chain order at the end): the stacked result is right (whiteouts,
opaque directories, the same blob twice), a bad layer among several or a disk that fills
leaves nothing behind, and a daemon killed mid-pull leaves nothing partial after its
restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from berth.testing.faultproxy import Fault, FaultProxy
from berth.testing.registry import LocalRegistry

from tests.e2e.archives import layer_tar
from tests.e2e.conftest import berth_ok, image_listing, needs_busybox
from tests.e2e.registries import (
    berth_ok_or_error,
    big_layer,
    daemon_on_tmpfs,
    daemon_with,
    layer_digest,
    needs_registry,
    registry,
    stop,
    store_counts,
    upload_image,
)
from tests.integration.daemon import Daemon

pytestmark = [needs_registry, needs_busybox]
__all__ = ["registry"]


@pytest.fixture(scope="module")
def berthd() -> Iterator[Daemon]:
    daemon = daemon_with({"storage-driver": "overlay"})
    yield daemon
    stop(daemon)


def pending_markers(daemon: Daemon) -> list[Path]:
    return list((daemon.data_root / "image").glob("*/layerdb/pending/*"))


def driver_layers(daemon: Daemon) -> set[str]:
    home = daemon.data_root / "storage" / "overlay"
    return {p.parent.name for p in home.glob("*/diff")}


def test_layers_unpacked_at_once_stack_in_order(
    berthd: Daemon, registry: LocalRegistry, rootfs_tar: Path
) -> None:
    first = layer_tar({"data/a": b"a1", "data/b": b"b1", "keep/x": b"x"})
    layers = [
        rootfs_tar.read_bytes(),
        first,
        layer_tar({"data/.wh.a": b"", "data/c": b"c3"}),  # deletes a
        layer_tar({"keep/.wh..wh..opq": b"", "keep/y": b"y"}),  # keep/ now holds only y
        first,  # the same blob again: a, b and keep/x come back
    ]
    upload_image(registry.url, "parallel/stack", "1", layers)
    out = berth_ok(berthd, "pull", f"{registry.host}/parallel/stack:1")
    assert "Pull complete" in out
    finished = [line for line in berthd.log().splitlines() if "pull.finished" in line]
    assert "unpack_cpu_s" in finished[-1], "the layers were not unpacked by worker processes"
    listing = berth_ok(
        berthd,
        "run",
        "--rm",
        "--network",
        "none",
        f"{registry.host}/parallel/stack:1",
        "sh",
        "-c",
        "ls /data /keep; cat /data/a",
    )
    assert listing.split() == ["/data:", "a", "b", "c", "/keep:", "x", "y", "a1"]
    assert pending_markers(berthd) == []
    berth_ok(berthd, "rmi", f"{registry.host}/parallel/stack:1")


def test_a_bad_layer_among_several_leaves_nothing(berthd: Daemon, registry: LocalRegistry) -> None:
    layers = [big_layer(11), big_layer(12), b"this is no tar at all" * 400, big_layer(13)]
    upload_image(registry.url, "parallel/bad", "1", layers)
    before, images, dirs = store_counts(berthd), image_listing(berthd), driver_layers(berthd)
    err = berth_ok_or_error(berthd, "pull", f"{registry.host}/parallel/bad:1")
    assert "cannot be unpacked" in err or "not the expected" in err, err
    assert store_counts(berthd) == before
    assert image_listing(berthd) == images
    assert driver_layers(berthd) == dirs
    assert pending_markers(berthd) == []


def test_a_daemon_killed_mid_pull_leaves_nothing_partial(registry: LocalRegistry) -> None:
    daemon = daemon_with({"storage-driver": "overlay", "registry-timeout": 120})
    try:
        with FaultProxy(registry.url) as proxy:
            upload_image(registry.url, "parallel/killed", "1", [big_layer(21), big_layer(22)])
            stalled = layer_digest(registry, "parallel/killed", "1")
            proxy.add(Fault("GET", f"/blobs/{stalled}", stall_after=1000, times=100))
            client = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "berth.cli.main",
                    "pull",
                    f"{proxy.host}/parallel/killed:1",
                ],
                env={**daemon.env, "BERTH_HOST": daemon.host},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            try:
                _wait_for(lambda: len(pending_markers(daemon)) == 2, client)
                daemon.stop(signal.SIGKILL)
            finally:
                client.kill()
                client.wait()
        daemon.start()
        assert pending_markers(daemon) == []
        assert driver_layers(daemon) == set()
        assert store_counts(daemon)[1:] == (0, 0)  # no temporary blob, no layer record
        berth_ok(daemon, "pull", f"{registry.host}/parallel/killed:1")
        assert len(driver_layers(daemon)) == 2
    finally:
        stop(daemon)


def _wait_for(condition: Callable[[], bool], client: subprocess.Popen[bytes]) -> None:
    """Until ``condition()`` holds (the pull reached that point); fails if the pull ended."""
    deadline = time.monotonic() + 60
    while not condition():
        assert client.poll() is None, f"the pull ended: {client.communicate()}"
        assert time.monotonic() < deadline, "the pull never reserved its layers"
        time.sleep(0.02)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")
def test_a_disk_that_fills_while_layers_unpack_at_once(registry: LocalRegistry) -> None:
    """An overlay data root on a 24 MiB tmpfs: a layer that inflates past it fails the pull in
    one line (the worker's ENOSPC), and nothing is left: no driver layer, marker or blob."""
    zeros = layer_tar({"zeros": b"\0" * 40_000_000})  # compresses to almost nothing
    upload_image(registry.url, "parallel/bomb", "1", [big_layer(31), zeros, big_layer(32)])
    with daemon_on_tmpfs({"storage-driver": "overlay"}) as daemon:
        before = store_counts(daemon)
        err = berth_ok_or_error(daemon, "pull", f"{registry.host}/parallel/bomb:1")
        assert "No space left on device" in err, err
        assert store_counts(daemon) == before
        assert driver_layers(daemon) == set()
        assert pending_markers(daemon) == []


def test_download_slots_are_the_daemons(registry: LocalRegistry) -> None:
    """max-concurrent-downloads bounds the daemon's downloads, as in Docker: with one slot,
    two pulls at once (one with the same blob twice) still both finish, one layer at a time."""
    daemon = daemon_with({"storage-driver": "overlay", "max-concurrent-downloads": 1})
    try:
        first = layer_tar({"one/a": b"a"})
        upload_image(registry.url, "parallel/slot-a", "1", [big_layer(51), first, first])
        upload_image(registry.url, "parallel/slot-b", "1", [big_layer(52), big_layer(53)])
        pulls = [
            subprocess.Popen(
                [sys.executable, "-m", "berth.cli.main", "pull", "-q", ref],
                env={**daemon.env, "BERTH_HOST": daemon.host},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for ref in (f"{registry.host}/parallel/slot-a:1", f"{registry.host}/parallel/slot-b:1")
        ]
        for pull in pulls:
            _, err = pull.communicate(timeout=120)
            assert pull.returncode == 0, err.decode()
        assert pending_markers(daemon) == []
        assert len(driver_layers(daemon)) == 5
    finally:
        stop(daemon)
