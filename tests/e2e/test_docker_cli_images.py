"""The real docker CLI (28.x) on images against a real berthd: import, images, inspect,
history, tag, rmi, save, load, prune, system df — and the same answers as the berth CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.archives import read_archive, sha256_bytes, sha256_file
from tests.e2e.conftest import berth_ok, docker_env, needs_busybox, needs_docker_cli
from tests.integration.daemon import Daemon

pytestmark = [needs_docker_cli, needs_busybox]


def docker(
    daemon: Daemon, *args: str, stdin: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    if stdin is not None:
        with stdin.open("rb") as f:
            done = subprocess.run(
                ["docker", *args],
                env=docker_env(daemon),
                stdin=f,
                capture_output=True,
                timeout=timeout,
            )
        return subprocess.CompletedProcess(
            done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
        )
    return subprocess.run(
        ["docker", *args],
        env=docker_env(daemon),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def docker_ok(daemon: Daemon, *args: str, stdin: Path | None = None) -> str:
    done = docker(daemon, *args, stdin=stdin)
    assert done.returncode == 0, (
        f"docker {' '.join(args)} failed ({done.returncode}): {done.stderr}\n"
        f"daemon log tail:\n{daemon.log()[-3000:]}"
    )
    return done.stdout


@pytest.fixture(scope="module")
def imported(berthd: Daemon, rootfs_tar: Path) -> str:
    """`docker import` of the busybox rootfs as dk/busybox:1; the image ID."""
    out = docker_ok(
        berthd, "import", "-c", 'CMD ["sh"]', "-m", "by docker", str(rootfs_tar), "dk/busybox:1"
    )
    image_id = out.strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    return image_id


def test_docker_import_and_inspect(berthd: Daemon, imported: str, rootfs_tar: Path) -> None:
    (image,) = json.loads(docker_ok(berthd, "image", "inspect", "dk/busybox:1"))
    assert image["Id"] == imported
    assert image["RepoTags"] == ["dk/busybox:1"]
    assert image["Comment"] == "by docker"
    assert image["Config"]["Cmd"] == ["sh"]
    assert image["RootFS"]["Layers"] == [sha256_file(rootfs_tar)]


def test_docker_and_berth_print_the_same_tables(berthd: Daemon, imported: str) -> None:
    table = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.Size}}"
    assert docker_ok(berthd, "images", "--format", table, "dk/busybox") == berth_ok(
        berthd, "images", "--format", table, "dk/busybox"
    )
    history = "table {{.ID}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
    assert docker_ok(berthd, "history", "--format", history, "dk/busybox:1") == berth_ok(
        berthd, "history", "--format", history, "dk/busybox:1"
    )
    assert json.loads(docker_ok(berthd, "image", "inspect", "dk/busybox:1")) == json.loads(
        berth_ok(berthd, "image", "inspect", "dk/busybox:1")
    )
    json_line = "{{json .}}"
    docker_rows = [
        json.loads(x)
        for x in docker_ok(berthd, "images", "--format", json_line, "dk/busybox").splitlines()
    ]
    berth_rows = [
        json.loads(x)
        for x in berth_ok(berthd, "images", "--format", json_line, "dk/busybox").splitlines()
    ]
    for row in (*docker_rows, *berth_rows):
        row.pop("CreatedSince")  # "N seconds ago" moves between the two calls
    assert docker_rows == berth_rows


def test_docker_images_quiet_and_filters(berthd: Daemon, imported: str) -> None:
    assert imported[7:19] in docker_ok(berthd, "images", "-q").split()
    out = docker_ok(berthd, "images", "--filter", "reference=dk/*", "--format", "{{.Repository}}")
    assert out.split() == ["dk/busybox"]


def test_docker_tag_and_rmi(berthd: Daemon, imported: str) -> None:
    assert docker_ok(berthd, "tag", "dk/busybox:1", "dk/other:2") == ""
    assert docker_ok(berthd, "images", "-q", "--no-trunc", "dk/other") == imported + "\n"
    assert docker_ok(berthd, "rmi", "dk/other:2") == "Untagged: dk/other:2\n"
    missing = docker(berthd, "rmi", "dk/other:2")
    assert missing.returncode == 1
    assert "No such image" in missing.stderr
    bad = docker(berthd, "image", "inspect", "dk/nothing:here")
    assert bad.returncode == 1 and "No such image: dk/nothing:here" in bad.stderr


def test_docker_save_then_load_into_berth_and_back(
    berthd: Daemon, imported: str, tmp_path: Path
) -> None:
    saved = tmp_path / "dk.tar"
    docker_ok(berthd, "save", "-o", str(saved), "dk/busybox:1")
    files = read_archive(saved)
    (manifest,) = json.loads(files["manifest.json"])
    assert sha256_bytes(files[manifest["Config"]]) == imported
    docker_ok(berthd, "rmi", "dk/busybox:1")
    assert berth_ok(berthd, "load", "-i", str(saved)) == "Loaded image: dk/busybox:1\n"
    assert docker_ok(berthd, "load", "-i", str(saved)) == "Loaded image: dk/busybox:1\n"
    assert docker_ok(berthd, "load", stdin=saved) == "Loaded image: dk/busybox:1\n"
    assert docker_ok(berthd, "inspect", "-f", "{{.Id}}", "dk/busybox:1") == imported + "\n"


def test_docker_prune_and_df(berthd: Daemon, imported: str, rootfs_tar: Path) -> None:
    dangling = docker_ok(berthd, "import", "-c", "ENV DK=1", str(rootfs_tar)).strip()
    out = docker_ok(berthd, "image", "prune", "-f")
    assert f"deleted: {dangling}" in out and "Total reclaimed space:" in out
    df = docker_ok(berthd, "system", "df").splitlines()
    assert df[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert df[1].split()[0] == "Images" and int(df[1].split()[1]) >= 1
    verbose = docker_ok(berthd, "system", "df", "-v")
    assert "Images space usage:" in verbose and "dk/busybox" in verbose
