"""docker-py's image API against a real berthd: import_image, images.list/get/load/remove,
image.save(), tag, history, prune, df."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.e2e.archives import read_archive, sha256_bytes, sha256_file
from tests.e2e.conftest import needs_busybox
from tests.integration.daemon import Daemon

pytestmark = needs_busybox


@pytest.fixture(scope="module")
def client(berthd: Daemon) -> Iterator[Any]:
    c = docker.DockerClient(base_url=berthd.host, version="auto", timeout=120)
    yield c
    c.close()


@pytest.fixture(scope="module")
def imported(client: Any, rootfs_tar: Path) -> str:
    """api.import_image of the busybox rootfs file as py/busybox:1; the image ID."""
    answer = client.api.import_image(
        src=str(rootfs_tar), repository="py/busybox", tag="1", changes=['CMD ["sh"]']
    )
    statuses = [json.loads(line).get("status", "") for line in answer.splitlines() if line.strip()]
    image_id = statuses[-1]
    assert image_id.startswith("sha256:") and len(image_id) == 71, answer
    return str(image_id)


def test_list_and_get(client: Any, imported: str, rootfs_tar: Path) -> None:
    listed = {image.id: image for image in client.images.list()}
    assert imported in listed
    assert "py/busybox:1" in listed[imported].tags
    image = client.images.get("py/busybox:1")
    assert image.id == imported
    assert image.attrs["RootFS"]["Layers"] == [sha256_file(rootfs_tar)]
    assert image.attrs["Config"]["Cmd"] == ["sh"]
    assert [i.id for i in client.images.list(name="py/busybox")] == [imported]
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get("py/nothing:here")


def test_tag_history_remove(client: Any, imported: str) -> None:
    image = client.images.get(imported)
    assert image.tag("py/tagged", "2") is True
    assert "py/tagged:2" in client.images.get(imported).tags
    history = image.history()
    assert history and history[0]["Id"] == imported
    client.images.remove("py/tagged:2")
    assert "py/tagged:2" not in client.images.get(imported).tags


def test_save_remove_load(client: Any, imported: str, tmp_path: Path) -> None:
    client.images.get("py/busybox:1").tag("py/saved", "1")
    archive = tmp_path / "saved.tar"
    with archive.open("wb") as f:
        for chunk in client.images.get("py/saved:1").save(named="py/saved:1"):
            f.write(chunk)
    (manifest,) = json.loads(read_archive(archive)["manifest.json"])
    assert manifest["RepoTags"] == ["py/saved:1"]
    assert sha256_bytes(read_archive(archive)[manifest["Config"]]) == imported
    client.images.remove("py/saved:1")
    with archive.open("rb") as f:
        loaded = client.images.load(f)
    assert [image.id for image in loaded] == [imported]
    assert "py/saved:1" in loaded[0].tags


def test_load_error_is_reported(client: Any) -> None:
    before = sorted(image.id for image in client.images.list(all=True))
    with pytest.raises((docker.errors.APIError, docker.errors.ImageLoadError)):
        client.images.load(b"not a tar archive" * 100)
    assert sorted(image.id for image in client.images.list(all=True)) == before


def test_prune_and_df(client: Any, imported: str, rootfs_tar: Path) -> None:
    answer = client.api.import_image(src=str(rootfs_tar), changes=["ENV PY=prune"])
    dangling = json.loads(answer.splitlines()[-1])["status"]
    report = client.images.prune(filters={"dangling": True})
    deleted = [item.get("Deleted") for item in report["ImagesDeleted"] or []]
    assert dangling in deleted
    assert report["SpaceReclaimed"] >= 0
    usage = client.df()
    assert imported in [image["Id"] for image in usage["Images"]]
    assert usage["LayersSize"] > 0
