"""The images API of a real berthd with a real storage driver (vfs by default; set
``BERTH_IMAGES_DRIVERS=overlay,vfs`` to run these against others), through docker-py and raw
HTTP: load, list, inspect, history, tag, rmi, save, import, prune, df, events — and bad
inputs refused with nothing stored before lost and nothing partial left."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.integration.daemon import Daemon, make_daemon, request

DRIVERS = [d for d in os.environ.get("BERTH_IMAGES_DRIVERS", "vfs").split(",") if d]
EXTRA_PATH = [Path(p) for p in os.environ.get("BERTH_IMAGES_PYTHONPATH", "").split(":") if p]


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_bytes(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o755, 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


BASE = tar_bytes({"bin/hello": b"#!/bin/sh\necho hello\n", "etc/motd": b"welcome\n"})
TOP = tar_bytes({"srv/app.txt": b"application data\n" * 100})


def config(layers: list[bytes], created: str = "2024-05-06T07:08:09.123456789Z") -> bytes:
    return json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "created": created,
            "config": {"Cmd": ["/bin/hello"], "Labels": {"test": "images-api"}},
            "rootfs": {"type": "layers", "diff_ids": [sha(layer) for layer in layers]},
            "history": [
                {"created": created, "created_by": f"layer {i}"} for i in range(len(layers))
            ],
        }
    ).encode()


def archive(layers: list[bytes], tags: list[str], cfg: bytes | None = None) -> bytes:
    cfg = cfg or config(layers)
    files = {f"blobs/sha256/{sha(layer)[7:]}": layer for layer in layers}
    files[f"blobs/sha256/{sha(cfg)[7:]}"] = cfg
    manifest = [
        {
            "Config": f"blobs/sha256/{sha(cfg)[7:]}",
            "RepoTags": tags,
            "Layers": [f"blobs/sha256/{sha(layer)[7:]}" for layer in layers],
        }
    ]
    files["manifest.json"] = json.dumps(manifest).encode()
    return tar_bytes(files)


def snapshot(root: Path) -> dict[str, int]:
    return {
        str(p.relative_to(root)): p.lstat().st_size
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.is_symlink()
    }


@pytest.fixture(scope="module", params=DRIVERS)
def daemon(request: pytest.FixtureRequest) -> Iterator[Daemon]:
    berthd = make_daemon(pythonpath=EXTRA_PATH, args=["--storage-driver", request.param])
    try:
        berthd.start()
        yield berthd
        assert berthd.stop() == 0, berthd.log()
    finally:
        berthd.cleanup()


@pytest.fixture
def client(daemon: Daemon) -> Iterator[docker.DockerClient]:
    c = docker.DockerClient(base_url=daemon.host, version="1.44", timeout=60)
    yield c
    for image in c.images.list(all=True):
        c.images.remove(image.id, force=True)
    c.close()


def image_root(daemon: Daemon) -> Path:
    driver = json.loads(request(daemon.sock, "GET", "/info")[2])["Driver"]
    return daemon.data_root / "image" / driver


def test_load_list_inspect_history(client: docker.DockerClient, daemon: Daemon) -> None:
    loaded = client.images.load(archive([BASE, TOP], ["hello:1", "me/hello:latest"]))
    cfg = config([BASE, TOP])
    assert {image.id for image in loaded} == {sha(cfg)}
    listed = client.api.images()
    assert listed[0]["Id"] == sha(cfg)
    assert listed[0]["RepoTags"] == ["hello:1", "me/hello:latest"]
    assert listed[0]["Labels"] == {"test": "images-api"}
    assert listed[0]["Created"] == 1714979289
    assert listed[0]["Size"] > len(b"application data\n" * 100)
    inspect = client.api.inspect_image("me/hello")
    assert inspect["RootFS"]["Layers"] == [sha(BASE), sha(TOP)]
    assert inspect["Os"] == "linux" and inspect["Architecture"] == "amd64"
    assert inspect["GraphDriver"]["Name"] in DRIVERS
    assert inspect["Config"]["Cmd"] == ["/bin/hello"]
    history = client.api.history("hello:1")
    assert [h["CreatedBy"] for h in history] == ["layer 1", "layer 0"]
    assert history[0]["Id"] == sha(cfg) and history[1]["Id"] == "<missing>"
    info = json.loads(request(daemon.sock, "GET", "/info")[2])
    assert info["Images"] == 1


def test_tag_rmi_and_events(client: docker.DockerClient, daemon: Daemon) -> None:
    since = time.time()
    client.images.load(archive([BASE], ["base:1"]))
    image = client.images.get("base:1")
    assert image.tag("localhost:5000/base", "v2") is True
    assert sorted(client.images.get(image.id).tags) == ["base:1", "localhost:5000/base:v2"]
    assert client.api.remove_image("base:1") == [{"Untagged": "base:1"}]
    deleted = client.api.remove_image("localhost:5000/base:v2")
    assert deleted[0] == {"Untagged": "localhost:5000/base:v2"}
    assert {"Deleted": image.id} in deleted
    until = time.time() + 1
    events = [
        e["Action"]
        for e in client.events(since=since, until=until, decode=True, filters={"type": "image"})
    ]
    assert events == ["load", "tag", "untag", "untag", "delete"]


def test_save_and_load_round_trip(client: docker.DockerClient, daemon: Daemon) -> None:
    client.images.load(archive([BASE, TOP], ["round:trip"]))
    before = client.api.inspect_image("round:trip")
    saved = b"".join(client.images.get("round:trip").save(named=True))
    with tarfile.open(fileobj=io.BytesIO(saved)) as tar:
        names = set(tar.getnames())
    assert {"manifest.json", "index.json", "oci-layout"} <= names
    client.images.remove("round:trip")
    assert client.images.list() == []
    loaded = client.images.load(gzip.compress(saved))
    assert loaded[0].id == before["Id"]
    after = client.api.inspect_image("round:trip")
    assert after["RootFS"] == before["RootFS"]
    status, _, body = request(daemon.sock, "GET", "/images/get?names=round:trip&names=round")
    assert status == 200 and body == saved


def test_import_with_changes(client: docker.DockerClient, daemon: Daemon) -> None:
    rootfs = gzip.compress(BASE)
    status, _, body = request(
        daemon.sock,
        "POST",
        "/v1.44/images/create?fromSrc=-&repo=imported&tag=v1&message=hi"
        "&changes=CMD%20%5B%22%2Fbin%2Fhello%22%5D&changes=ENV%20A%3D1",
        rootfs,
    )
    assert status == 200, body
    image_id = json.loads(body.splitlines()[-1])["status"]
    inspect = client.api.inspect_image("imported:v1")
    assert inspect["Id"] == image_id
    assert inspect["Comment"] == "hi"
    assert inspect["Config"]["Cmd"] == ["/bin/hello"]
    assert inspect["Config"]["Env"] == ["A=1"]
    assert inspect["RootFS"]["Layers"] == [sha(BASE)]


def test_prune_and_df(client: docker.DockerClient, daemon: Daemon) -> None:
    client.images.load(archive([BASE], ["kept:1"]))
    dangling = client.images.load(archive([BASE, TOP], []))[0]
    top_size = dangling.history()[0]["Size"]  # the layer only the dangling image has
    assert top_size >= len(b"application data\n" * 100)
    df = client.df()
    assert df["LayersSize"] > 0
    assert df["Containers"] == [] and df["Volumes"] == [] and df["BuildCache"] == []
    assert {i["SharedSize"] for i in df["Images"]} == {df["Images"][0]["SharedSize"]}
    report = client.images.prune()
    assert len(report["ImagesDeleted"]) >= 2
    assert report["SpaceReclaimed"] == top_size
    assert [i.tags for i in client.images.list()] == [["kept:1"]]


@pytest.mark.parametrize(
    ("case", "body", "status", "message"),
    [
        ("traversal", tar_bytes({"../../escaped": b"x"}), 400, "escapes the archive"),
        ("symlink", tar_bytes({}, {"manifest.json": "../../etc/passwd"}), 400, "escapes"),
        ("garbage", b"definitely not a tar" * 100, 400, "not a valid tar"),
        ("truncated", gzip.compress(archive([BASE, TOP], ["t:1"]))[:500], 400, "truncated"),
        (
            "wrong diff ID",
            archive([BASE, TOP], ["wrong:1"], cfg=config([BASE, BASE])),
            400,
            "diff ID",
        ),
        (
            "missing blob",
            tar_bytes({"manifest.json": json.dumps([{"Config": "x.json", "Layers": []}]).encode()}),
            400,
            "no file 'x.json'",
        ),
    ],
)
def test_bad_loads_change_nothing(
    client: docker.DockerClient,
    daemon: Daemon,
    case: str,
    body: bytes,
    status: int,
    message: str,
) -> None:
    client.images.load(archive([BASE], ["survivor:1"]))
    root = image_root(daemon)
    before = snapshot(root)
    storage_before = snapshot(daemon.data_root / "storage")
    got, _, answer = request(daemon.sock, "POST", "/images/load?quiet=1", body)
    assert got == status, answer
    text = json.loads(answer)["message"]
    assert message in text and "\n" not in text
    assert snapshot(root) == before
    assert snapshot(daemon.data_root / "storage") == storage_before
    assert not (daemon.root.parent / "escaped").exists()
    assert [i.tags for i in client.images.list()] == [["survivor:1"]]


def test_errors_have_docker_statuses(client: docker.DockerClient, daemon: Daemon) -> None:
    with pytest.raises(docker.errors.ImageNotFound, match="No such image: ghost:latest"):
        client.api.remove_image("ghost")
    with pytest.raises(docker.errors.ImageNotFound):
        client.api.tag("ghost", "other", "1")
    with pytest.raises(docker.errors.ImageNotFound):
        client.api.inspect_image("ghost:2")
    client.images.load(archive([BASE], ["real:1"]))
    with pytest.raises(docker.errors.APIError) as caught:
        client.api.tag("real:1", "UPPER", "case")
    assert caught.value.status_code == 400
    assert "must be lowercase" in str(caught.value)
    status, _, body = request(daemon.sock, "GET", "/images/a::b/json")
    assert status == 400 and json.loads(body)["message"] == "invalid reference format"
    status, _, body = request(
        daemon.sock, "GET", "/images/json?filters=%7B%22bad%22%3A%5B%22x%22%5D%7D"
    )
    assert status == 400 and "invalid filter 'bad'" in json.loads(body)["message"]
    status, _, body = request(daemon.sock, "GET", "/images/get?names=ghost")
    assert status == 404


def test_images_survive_a_restart(daemon: Daemon, client: docker.DockerClient) -> None:
    client.images.load(archive([BASE, TOP], ["persist:1"]))
    image_id = client.images.get("persist:1").id
    assert daemon.stop() == 0
    daemon.start()
    fresh = docker.DockerClient(base_url=daemon.host, version="1.44", timeout=30)
    try:
        assert fresh.images.get("persist:1").id == image_id
    finally:
        fresh.close()


def test_no_storage_driver_means_a_clear_503(fresh_daemon: Daemon) -> None:
    fresh_daemon.config_file.write_text(
        json.dumps({"plugins": {"disabled": ["overlay", "btrfs", "vfs"]}})
    )
    fresh_daemon.start()
    status, _, body = request(fresh_daemon.sock, "GET", "/images/json")
    assert status == 503
    message: Any = json.loads(body)["message"]
    assert message.startswith("images are unavailable: no usable storage driver")
    df = json.loads(request(fresh_daemon.sock, "GET", "/system/df")[2])
    assert df["Images"] == [] and df["LayersSize"] == 0
