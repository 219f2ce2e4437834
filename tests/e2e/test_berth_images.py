"""The berth CLI against a real berthd, on each storage driver: a busybox image made offline
with `berth import`, then images / inspect / history / tag / rmi / save / load / prune / df."""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.archives import read_archive, sha256_bytes, sha256_file
from tests.e2e.conftest import (
    berth,
    berth_ok,
    image_listing,
    needs_busybox,
    start_daemon,
    stop_daemon,
)
from tests.integration.daemon import Daemon

pytestmark = needs_busybox

ID = re.compile(r"sha256:[0-9a-f]{64}")


@pytest.fixture(scope="module", params=["vfs", "overlay"])
def daemon(request: pytest.FixtureRequest) -> Iterator[Daemon]:
    started = start_daemon(request.param)
    yield started
    stop_daemon(started)


@pytest.fixture(scope="module")
def busybox(daemon: Daemon, rootfs_tar: Path) -> str:
    """busybox:latest imported from the host's static busybox; its image ID."""
    out = berth_ok(daemon, "import", "-c", 'CMD ["sh"]', str(rootfs_tar), "busybox:latest")
    assert ID.fullmatch(out.strip()), out
    return out.strip()


def test_the_driver_in_use_is_the_one_asked_for(daemon: Daemon, busybox: str) -> None:
    asked = json.loads(daemon.config_file.read_text())["storage-driver"]
    assert berth_ok(daemon, "info", "--format", "{{.Driver}}") == asked + "\n"
    assert (daemon.data_root / "image" / asked).is_dir()  # each driver's images apart


def test_import_makes_an_image_whose_layer_is_the_tarball(
    daemon: Daemon, busybox: str, rootfs_tar: Path
) -> None:
    data = json.loads(berth_ok(daemon, "image", "inspect", "busybox"))
    assert len(data) == 1
    image = data[0]
    assert image["Id"] == busybox
    assert image["RepoTags"] == ["busybox:latest"]
    assert image["RootFS"]["Layers"] == [sha256_file(rootfs_tar)]
    assert image["Config"]["Cmd"] == ["sh"]
    assert (image["Os"], image["Architecture"]) == ("linux", "amd64")
    assert image["Size"] > 1_000_000


def test_images_lists_it_as_docker_does(daemon: Daemon, busybox: str) -> None:
    lines = berth_ok(daemon, "images", "busybox").splitlines()
    assert lines[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    row = lines[1].split()
    assert row[:3] == ["busybox", "latest", busybox[7:19]]
    assert re.fullmatch(r"\d+(\.\d+)?MB", row[-1])
    assert berth_ok(daemon, "images", "-q", "busybox") == busybox[7:19] + "\n"
    assert berth_ok(daemon, "images", "-q", "--no-trunc", "busybox") == busybox + "\n"
    (line,) = berth_ok(daemon, "images", "--format", "json", "busybox").splitlines()
    assert json.loads(line)["ID"] == busybox[7:19]


def test_history_and_inspect_format(daemon: Daemon, busybox: str) -> None:
    lines = berth_ok(daemon, "history", "busybox").splitlines()
    assert lines[0].split()[:2] == ["IMAGE", "CREATED"]
    assert lines[1].startswith(busybox[7:19])
    assert berth_ok(daemon, "inspect", "-f", "{{.Id}}", "busybox") == busybox + "\n"


def test_tag_and_untag(daemon: Daemon, busybox: str) -> None:
    berth_ok(daemon, "tag", "busybox", "e2e/copy:1")
    assert berth_ok(daemon, "images", "-q", "--no-trunc", "e2e/copy") == busybox + "\n"
    assert berth_ok(daemon, "rmi", "e2e/copy:1") == "Untagged: e2e/copy:1\n"
    assert berth_ok(daemon, "inspect", "-f", "{{.Id}}", "busybox") == busybox + "\n"
    missing = berth(daemon, "rmi", "e2e/copy:1")
    assert missing.returncode == 1
    assert missing.stderr.decode().startswith("Error response from daemon: No such image")


def test_save_rmi_load_round_trip(daemon: Daemon, busybox: str, tmp_path: Path) -> None:
    berth_ok(daemon, "tag", "busybox", "e2e/trip:1")
    archive = tmp_path / "trip.tar"
    assert berth_ok(daemon, "save", "-o", str(archive), "e2e/trip:1") == ""
    files = read_archive(archive)
    (manifest,) = json.loads(files["manifest.json"])
    assert manifest["RepoTags"] == ["e2e/trip:1"]
    assert sha256_bytes(files[manifest["Config"]]) == busybox  # the image ID is the config's
    diff_ids = json.loads(files[manifest["Config"]])["rootfs"]["diff_ids"]
    assert [sha256_bytes(files[layer]) for layer in manifest["Layers"]] == diff_ids

    assert berth_ok(daemon, "rmi", "e2e/trip:1") == "Untagged: e2e/trip:1\n"
    assert berth_ok(daemon, "load", "-i", str(archive)) == "Loaded image: e2e/trip:1\n"
    assert berth_ok(daemon, "inspect", "-f", "{{.Id}}", "e2e/trip:1") == busybox + "\n"


def test_save_to_stdout_and_load_from_stdin(daemon: Daemon, busybox: str, tmp_path: Path) -> None:
    saved = berth(daemon, "save", "busybox")
    assert saved.returncode == 0, saved.stderr
    archive = tmp_path / "piped.tar"
    archive.write_bytes(saved.stdout)
    assert "manifest.json" in read_archive(archive)
    assert berth_ok(daemon, "load", stdin=archive) == "Loaded image: busybox:latest\n"


def test_remove_and_load_back_the_only_image(
    daemon: Daemon, rootfs_tar: Path, tmp_path: Path
) -> None:
    image_id = berth_ok(daemon, "import", str(rootfs_tar), "e2e/solo:1").strip()
    archive = tmp_path / "solo.tar"
    berth_ok(daemon, "save", "-o", str(archive), "e2e/solo:1")
    removed = berth_ok(daemon, "rmi", "e2e/solo:1").splitlines()
    assert removed[0] == "Untagged: e2e/solo:1"
    assert f"Deleted: {image_id}" in removed
    assert berth(daemon, "inspect", "e2e/solo:1").returncode == 1
    assert berth_ok(daemon, "load", "-q", "-i", str(archive)) == "Loaded image: e2e/solo:1\n"
    assert berth_ok(daemon, "inspect", "-f", "{{.Id}}", "e2e/solo:1") == image_id + "\n"


def test_import_from_stdin_with_message(daemon: Daemon, rootfs_tar: Path) -> None:
    out = berth_ok(daemon, "import", "-m", "from stdin", "-", "e2e/stdin:1", stdin=rootfs_tar)
    image_id = out.strip()
    assert ID.fullmatch(image_id)
    assert berth_ok(daemon, "inspect", "-f", "{{.Comment}}", image_id) == "from stdin\n"


def test_prune_removes_dangling_images(daemon: Daemon, rootfs_tar: Path, busybox: str) -> None:
    dangling = berth_ok(daemon, "import", "-c", "ENV E2E=prune", str(rootfs_tar)).strip()
    listed = berth_ok(daemon, "images", "-q", "--no-trunc", "--filter", "dangling=true")
    assert dangling in listed.split()
    out = berth_ok(daemon, "image", "prune", "-f")
    assert f"deleted: {dangling}" in out
    assert out.rstrip("\n").splitlines()[-1].startswith("Total reclaimed space: ")
    assert berth(daemon, "inspect", dangling).returncode == 1
    assert berth_ok(daemon, "inspect", "-f", "{{.Id}}", "busybox") == busybox + "\n"


def test_system_df_counts_images(daemon: Daemon, busybox: str) -> None:
    lines = berth_ok(daemon, "system", "df").splitlines()
    assert lines[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    images = lines[1].split()
    assert images[0] == "Images" and int(images[1]) >= 1
    count = len({line.split()[0] for line in image_listing(daemon)})
    assert int(images[1]) == count


def test_load_a_gzip_compressed_archive(daemon: Daemon, busybox: str, tmp_path: Path) -> None:
    berth_ok(daemon, "tag", "busybox", "e2e/gz:1")
    archive = tmp_path / "gz.tar"
    berth_ok(daemon, "save", "-o", str(archive), "e2e/gz:1")
    packed = tmp_path / "gz.tar.gz"
    packed.write_bytes(gzip.compress(archive.read_bytes(), compresslevel=1))
    berth_ok(daemon, "rmi", "e2e/gz:1")
    assert berth_ok(daemon, "load", stdin=packed) == "Loaded image: e2e/gz:1\n"
    assert berth_ok(daemon, "inspect", "-f", "{{.Id}}", "e2e/gz:1") == busybox + "\n"
