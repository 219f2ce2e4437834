"""Interoperability with skopeo (a client nobody here wrote): archives skopeo makes load into
berth with the IDs and layers expected; archives berth saves are read by skopeo with the same
layers."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.archives import OciImage, layer_tar, oci_layout, read_archive
from tests.e2e.conftest import berth_ok, needs_busybox, needs_skopeo
from tests.integration.daemon import Daemon

pytestmark = [needs_skopeo, needs_busybox]


def skopeo(*args: str) -> str:
    done = subprocess.run(
        ["skopeo", "--insecure-policy", *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"skopeo {' '.join(args)} failed: {done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def layout(rootfs_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, OciImage]:
    """An OCI layout (made here) with a two-layer busybox, named skopeo/busybox:1."""
    directory = tmp_path_factory.mktemp("layout") / "oci"
    layers = [rootfs_tar.read_bytes(), layer_tar({"etc/motd": b"made for skopeo\n"})]
    return directory, oci_layout(directory, layers, "skopeo/busybox:1")


def test_skopeo_docker_archive_loads(
    berthd: Daemon, layout: tuple[Path, OciImage], tmp_path: Path
) -> None:
    directory, image = layout
    archive = tmp_path / "skopeo-docker.tar"
    skopeo(
        "copy", f"oci:{directory}:skopeo/busybox:1", f"docker-archive:{archive}:skopeo/busybox:1"
    )
    assert berth_ok(berthd, "load", "-i", str(archive)) == "Loaded image: skopeo/busybox:1\n"
    (loaded,) = json.loads(berth_ok(berthd, "image", "inspect", "skopeo/busybox:1"))
    assert loaded["Id"] == image.config_digest
    assert loaded["RootFS"]["Layers"] == image.diff_ids
    assert loaded["Config"]["Cmd"] == ["sh"]


def test_skopeo_oci_archive_loads(
    berthd: Daemon, layout: tuple[Path, OciImage], tmp_path: Path
) -> None:
    directory, image = layout
    archive = tmp_path / "skopeo-oci.tar"
    skopeo("copy", f"oci:{directory}:skopeo/busybox:1", f"oci-archive:{archive}:skopeo/oci:2")
    assert berth_ok(berthd, "load", "-i", str(archive)) == "Loaded image: skopeo/oci:2\n"
    (loaded,) = json.loads(berth_ok(berthd, "image", "inspect", "skopeo/oci:2"))
    assert loaded["Id"] == image.config_digest
    assert loaded["RootFS"]["Layers"] == image.diff_ids


def test_an_oci_layout_tarred_by_hand_loads(
    berthd: Daemon, layout: tuple[Path, OciImage], tmp_path: Path
) -> None:
    directory, image = layout
    archive = tmp_path / "layout.tar"
    subprocess.run(["tar", "-C", str(directory), "-cf", str(archive), "."], check=True)
    out = berth_ok(berthd, "load", "-i", str(archive))
    assert out in ("Loaded image: skopeo/busybox:1\n", f"Loaded image ID: {image.config_digest}\n")
    listed = berth_ok(berthd, "images", "-a", "-q", "--no-trunc").split()
    assert image.config_digest in listed


@pytest.fixture(scope="module")
def saved(
    berthd: Daemon, rootfs_tar: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    berth_ok(berthd, "import", "-c", 'CMD ["sh"]', str(rootfs_tar), "e2e/saved:1")
    archive = tmp_path_factory.mktemp("saved") / "berth-saved.tar"
    berth_ok(berthd, "save", "-o", str(archive), "e2e/saved:1")
    (image,) = json.loads(berth_ok(berthd, "image", "inspect", "e2e/saved:1"))
    return archive, image


def test_skopeo_reads_what_berth_saves(saved: tuple[Path, dict[str, Any]]) -> None:
    archive, image = saved
    info = json.loads(skopeo("inspect", f"docker-archive:{archive}"))
    assert info["Layers"] == image["RootFS"]["Layers"]
    assert (info["Os"], info["Architecture"]) == ("linux", "amd64")
    config = json.loads(skopeo("inspect", "--config", f"docker-archive:{archive}"))
    assert config["rootfs"]["diff_ids"] == image["RootFS"]["Layers"]


def test_skopeo_copies_what_berth_saves_to_oci(
    saved: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    archive, image = saved
    target = tmp_path / "oci"
    skopeo("copy", f"docker-archive:{archive}", f"oci:{target}:copied")
    config = json.loads(skopeo("inspect", "--config", f"oci:{target}:copied"))
    assert config["rootfs"]["diff_ids"] == image["RootFS"]["Layers"]  # the same layers


def test_berth_save_is_also_an_oci_layout(saved: tuple[Path, dict[str, Any]]) -> None:
    archive, image = saved
    files = read_archive(archive)
    assert "index.json" in files and "oci-layout" in files
    info = json.loads(skopeo("inspect", "--raw", f"oci-archive:{archive}"))
    assert info["config"]["digest"] == image["Id"]
    config = json.loads(skopeo("inspect", "--config", f"oci-archive:{archive}"))
    assert config["rootfs"]["diff_ids"] == image["RootFS"]["Layers"]
