"""The image service against a directory-backed fake driver: every operation, and every
failure leaving the store as it was."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard
from berth.engine.errors import BadParameter
from berth.engine.images import reference
from berth.engine.images.errors import (
    ImageConflict,
    ImageNotFound,
    InvalidArchive,
    InvalidContent,
    InvalidReference,
)
from berth.engine.images.service import ImageService

from .builders import (
    ImageSpec,
    config_for,
    docker_archive,
    layer_tar,
    oci_layout,
    sha,
    tar_of,
)
from .conftest import Events, state_of
from .fakedriver import FakeDriver

BASE = layer_tar({"bin/sh": b"#!shell\n", "etc/os-release": b"ID=test\n"})
APP = layer_tar({"app/main": b"print('hi')\n"})
OTHER = layer_tar({"srv/data": b"other\n"})


def load(service: ImageService, data: bytes) -> list[str]:
    return service.load(io.BytesIO(data))


def root_of(service: ImageService) -> Path:
    return service.root


# --- load --------------------------------------------------------------------------------


@pytest.mark.parametrize("legacy", [False, True])
def test_load_docker_archive(service: ImageService, events: Events, legacy: bool) -> None:
    image = ImageSpec([BASE, APP], ["busybox:latest", "me/app:v1"])
    messages = load(service, docker_archive([image], legacy=legacy))
    assert messages == ["Loaded image: busybox:latest", "Loaded image: me/app:v1"]
    listed = service.list_images()
    assert len(listed) == 1
    assert listed[0]["Id"] == image.id
    assert listed[0]["RepoTags"] == ["busybox:latest", "me/app:v1"]
    assert listed[0]["Size"] == len(b"#!shell\n") + len(b"ID=test\n") + len(b"print('hi')\n")
    assert events.actions() == ["load"]  # Docker tags a load without tag events
    inspect = service.inspect("busybox")
    assert inspect["RootFS"] == {"Type": "layers", "Layers": [sha(BASE), sha(APP)]}
    assert inspect["GraphDriver"]["Name"] == "fake"
    assert inspect["Config"]["Cmd"] == ["/bin/sh"]
    assert inspect["Metadata"]["LastTagTime"] != "0001-01-01T00:00:00Z"


def test_load_oci_layout_gzip_layers_and_gzipped_archive(service: ImageService) -> None:
    image = ImageSpec([BASE, APP], ["docker.io/library/alpine:3"], compress=True)
    archive = gzip.compress(oci_layout([image]))
    assert load(service, archive) == ["Loaded image: alpine:3"]
    stored = service.resolve("alpine:3")
    assert stored.manifest is not None and stored.manifest.digest == sha(image.manifest())
    # the original gzip blobs are kept, so a save hands back the same manifest
    saved = b"".join(service.save(["alpine:3"]))
    with tarfile.open(fileobj=io.BytesIO(saved)) as tar:
        names = tar.getnames()
        index = json.loads(tar.extractfile("index.json").read())  # type: ignore[union-attr]
    assert f"blobs/sha256/{sha(image.manifest())[7:]}" in names
    assert index["manifests"][0]["digest"] == sha(image.manifest())
    assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == (
        "docker.io/library/alpine:3"
    )


def test_untagged_oci_image(service: ImageService) -> None:
    image = ImageSpec([BASE])
    assert load(service, oci_layout([image])) == [f"Loaded image ID: {image.id}"]
    assert service.list_images()[0]["RepoTags"] == []
    assert service.list_images(api_version="1.41")[0]["RepoTags"] == ["<none>:<none>"]


def test_shared_layer_stored_once(service: ImageService, driver: FakeDriver) -> None:
    first = ImageSpec([BASE, APP], ["one:1"])
    second = ImageSpec([BASE, OTHER], ["two:1"])
    load(service, docker_archive([first]))
    load(service, docker_archive([second]))
    assert len(service.layers.all()) == 3
    assert len(driver.layer_ids()) == 3
    df = service.df()
    assert df["LayersSize"] == sum(layer.size for layer in service.layers.all())
    shared = {i["RepoTags"][0]: i["SharedSize"] for i in df["Images"]}
    assert shared["one:1"] == shared["two:1"] == service.layers.get(sha(BASE)).size  # type: ignore[union-attr]


def test_tag_moves_with_docker_message(service: ImageService) -> None:
    old = ImageSpec([BASE], ["app:latest"])
    new = ImageSpec([BASE, APP], ["app:latest"])
    load(service, docker_archive([old]))
    messages = load(service, docker_archive([new]))
    assert messages[0] == (
        f"The image app:latest already exists, renaming the old one with ID {old.id} "
        "to empty string"
    )
    assert service.resolve("app").id == new.id
    dangling = service.list_images(image_filters={"dangling": ["true"]})
    assert [i["Id"] for i in dangling] == [old.id]


def test_save_load_round_trip_into_another_store(
    service: ImageService, tmp_path: Path, events: Events
) -> None:
    image = ImageSpec([BASE, APP], ["busybox:latest"])
    load(service, docker_archive([image], legacy=True))
    stream = service.save(["busybox"])
    archive = b"".join(stream)
    stream.close()
    assert "save" in events.actions()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())  # type: ignore[union-attr]
        assert json.loads(tar.extractfile("oci-layout").read()) == {  # type: ignore[union-attr]
            "imageLayoutVersion": "1.0.0"
        }
        repositories = json.loads(tar.extractfile("repositories").read())  # type: ignore[union-attr]
    assert manifest[0]["RepoTags"] == ["busybox:latest"]
    assert manifest[0]["Config"] == f"blobs/sha256/{image.id[7:]}"
    assert list(repositories) == ["busybox"]
    other = ImageService(tmp_path / "other", FakeDriver(tmp_path / "d2"), "fake", None, events)  # type: ignore[arg-type]
    assert other.load(io.BytesIO(archive)) == ["Loaded image: busybox:latest"]
    assert other.resolve("busybox").id == image.id
    # and the OCI half alone loads too
    oci_only = _strip_members(archive, {"manifest.json", "repositories"})
    third = ImageService(tmp_path / "third", FakeDriver(tmp_path / "d3"), "fake", None, events)  # type: ignore[arg-type]
    assert third.load(io.BytesIO(oci_only)) == ["Loaded image: busybox:latest"]


def _strip_members(archive: bytes, drop: set[str]) -> bytes:
    out = io.BytesIO()
    with (
        tarfile.open(fileobj=io.BytesIO(archive)) as src,
        tarfile.open(fileobj=out, mode="w") as dst,
    ):
        for member in src:
            if member.name in drop:
                continue
            dst.addfile(member, src.extractfile(member) if member.isreg() else None)
    return out.getvalue()


def test_save_of_missing_or_bad_name(service: ImageService) -> None:
    with pytest.raises(ImageNotFound, match="No such image: nope:latest"):
        service.save(["nope"])
    with pytest.raises(InvalidReference):
        service.save(["UPPER:case"])


# --- bad archives: nothing stored, nothing lost ------------------------------------------


def _bad_archives() -> dict[str, tuple[bytes, type[Exception], str]]:
    good = ImageSpec([BASE, APP], ["bad:1"])
    wrong_diff = ImageSpec([BASE, APP], ["bad:2"], config=config_for([BASE, OTHER]))
    truncated = ImageSpec([BASE, APP], ["bad:3"], compress=True)
    first, second = truncated.blobs()
    trunc_members = {"one/layer.tar": first, "two/layer.tar": second[: len(second) // 2]}
    return {
        "wrong diff ID": (docker_archive([wrong_diff]), InvalidContent, "diff ID"),
        "missing blob": (
            oci_layout([good], skip={f"blobs/sha256/{sha(APP)[7:]}"}),
            InvalidArchive,
            "missing blob",
        ),
        "manifest pointing nowhere": (
            tar_of(
                [
                    (
                        "manifest.json",
                        json.dumps(
                            [{"Config": "nowhere.json", "RepoTags": ["bad:4"], "Layers": []}]
                        ).encode(),
                    )
                ]
            ),
            InvalidArchive,
            "no file 'nowhere.json'",
        ),
        "path traversal": (
            tar_of([("../evil", b"x"), ("manifest.json", b"[]")]),
            InvalidArchive,
            "escapes the archive",
        ),
        "absolute path": (tar_of([("/etc/evil", b"x")]), InvalidArchive, "absolute"),
        "escaping symlink": (
            tar_of([], [_symlink("blobs/x", "../../etc/passwd")]),
            InvalidArchive,
            "escapes",
        ),
        "not a tar": (b"this is not an archive" * 100, InvalidArchive, "not a valid tar"),
        "empty": (b"", InvalidArchive, "not a valid tar"),
        "no index": (tar_of([("hello", b"x")]), InvalidArchive, "neither manifest.json"),
        "truncated archive": (docker_archive([good])[:3000], InvalidArchive, "tar"),
        "wrong blob name": (
            tar_of([(f"blobs/sha256/{'0' * 64}", b"data")]),
            InvalidContent,
            "not the expected",
        ),
        "layer count mismatch": (
            docker_archive([ImageSpec([BASE], ["bad:5"], config=config_for([BASE, APP]))]),
            InvalidArchive,
            "diff IDs",
        ),
        "bad tag": (
            docker_archive([ImageSpec([BASE], ["UPPER:case"])]),
            InvalidArchive,
            "must be lowercase",
        ),
        "schema 1": (_schema1_layout(), Exception, "schema 1"),
        "truncated gzip layer": (
            tar_of(
                [
                    *trunc_members.items(),
                    (f"blobs/sha256/{truncated.id[7:]}", truncated.config),
                    (
                        "manifest.json",
                        json.dumps(
                            [
                                {
                                    "Config": f"blobs/sha256/{truncated.id[7:]}",
                                    "RepoTags": ["bad:3"],
                                    "Layers": list(trunc_members),
                                }
                            ]
                        ).encode(),
                    ),
                ]
            ),
            InvalidContent,
            "truncated or corrupt",
        ),
    }


def _symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info


def _schema1_layout() -> bytes:
    manifest = json.dumps({"schemaVersion": 1, "name": "x"}).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.docker.distribution.manifest.v1+json",
                "digest": sha(manifest),
                "size": len(manifest),
            }
        ],
    }
    return tar_of(
        [
            (f"blobs/sha256/{sha(manifest)[7:]}", manifest),
            ("index.json", json.dumps(index).encode()),
        ]
    )


@pytest.mark.parametrize("case", sorted(_bad_archives()))
def test_bad_archive_changes_nothing(
    service: ImageService, driver: FakeDriver, tmp_path: Path, case: str
) -> None:
    load(service, docker_archive([ImageSpec([BASE], ["keep:1"])]))
    before = state_of(root_of(service))
    layers_before = driver.layer_ids()
    data, error, message = _bad_archives()[case]
    with pytest.raises(error) as caught:
        load(service, data)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert getattr(caught.value, "status", 400) == 400
    assert state_of(root_of(service)) == before
    assert driver.layer_ids() == layers_before
    assert not (tmp_path / "evil").exists() and not Path("/etc/evil").exists()
    assert [i["RepoTags"] for i in service.list_images()] == [["keep:1"]]


def test_driver_failure_rolls_back(service: ImageService, driver: FakeDriver) -> None:
    driver.fail_apply = OSError("disk full")
    before = state_of(root_of(service))
    with pytest.raises(InvalidContent, match="cannot be unpacked: disk full"):
        load(service, docker_archive([ImageSpec([BASE], ["x:1"])]))
    assert state_of(root_of(service)) == before
    assert driver.layer_ids() == set()
    assert len(driver.created) == len(driver.removed) == 1


def test_second_layer_failure_removes_the_first(service: ImageService, driver: FakeDriver) -> None:
    bad = ImageSpec([BASE, APP], ["x:1"], config=config_for([BASE, OTHER]))
    with pytest.raises(InvalidContent):
        load(service, docker_archive([bad]))
    assert driver.layer_ids() == set()
    assert service.layers.all() == []
    assert list(service.blobs.all()) == []


# --- import ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "packer",
    [lambda b: b, gzip.compress, bz2.compress, zstandard.ZstdCompressor().compress],
    ids=["plain", "gzip", "bzip2", "zstd"],
)
def test_import(service: ImageService, events: Events, packer: Callable[[bytes], bytes]) -> None:
    rootfs = packer(BASE)
    image_id = service.import_image(
        io.BytesIO(rootfs),
        repo="imported",
        tag="v1",
        message="from a test",
        changes=["CMD /bin/sh", "ENV A=1", "EXPOSE 80"],
    )
    inspect = service.inspect("imported:v1")
    assert inspect["Id"] == image_id
    assert inspect["Comment"] == "from a test"
    assert inspect["Config"]["Cmd"] == ["/bin/sh", "-c", "/bin/sh"]
    assert inspect["Config"]["Env"] == ["A=1"]
    assert inspect["RootFS"]["Layers"] == [sha(BASE)]
    history = service.history("imported:v1")
    assert history[0]["Id"] == image_id and history[0]["Comment"] == "from a test"
    assert history[0]["Tags"] == ["imported:v1"]
    assert events.actions()[-2:] == ["tag", "import"]
    saved = b"".join(service.save(["imported:v1"]))
    kept = rootfs if packer is not bz2.compress else BASE  # bzip2 has no OCI media type
    with tarfile.open(fileobj=io.BytesIO(saved)) as tar:
        assert f"blobs/sha256/{sha(kept)[7:]}" in tar.getnames()


def test_import_default_message_and_untagged(service: ImageService) -> None:
    image_id = service.import_image(io.BytesIO(BASE))
    assert service.inspect(image_id)["Comment"] == "Imported from -"
    assert service.list_images()[0]["RepoTags"] == []


@pytest.mark.parametrize(
    ("body", "kwargs", "error"),
    [
        (gzip.compress(BASE, mtime=0)[:100], {}, InvalidContent),
        (b"not a tar" * 1000, {}, InvalidContent),
        (BASE, {"repo": "UPPER"}, InvalidReference),
        (BASE, {"changes": ["RUN x"]}, BadParameter),
        (layer_tar({"../../escape": b"x"}), {}, InvalidContent),
    ],
    # Stable names: xdist workers must collect the same test IDs.
    ids=["truncated-gzip", "not-a-tar", "bad-repo", "bad-change", "escaping-entry"],
)
def test_bad_import_leaves_nothing(
    service: ImageService,
    driver: FakeDriver,
    body: bytes,
    kwargs: dict[str, object],
    error: type[Exception],
) -> None:
    before = state_of(root_of(service))
    with pytest.raises(error):
        service.import_image(io.BytesIO(body), **kwargs)  # type: ignore[arg-type]
    assert state_of(root_of(service)) == before
    assert driver.layer_ids() == set()


# --- lookups, tag, list filters ----------------------------------------------------------


def test_resolve_by_id_prefix_and_errors(service: ImageService) -> None:
    image = ImageSpec([BASE], ["busybox:latest"])
    load(service, docker_archive([image]))
    assert service.resolve(image.id).id == image.id
    assert service.resolve(image.id[7:19]).id == image.id
    assert service.resolve(image.id[:19]).id == image.id
    with pytest.raises(ImageNotFound, match="No such image: nope:latest") as caught:
        service.resolve("nope")
    assert caught.value.status == 404
    with pytest.raises(ImageNotFound, match="No such image: sha256:" + "0" * 64):
        service.resolve("sha256:" + "0" * 64)
    with pytest.raises(InvalidReference, match="must be lowercase"):
        service.inspect("UPPER:case")


def test_tag(service: ImageService, events: Events) -> None:
    image = ImageSpec([BASE], ["busybox:latest"])
    load(service, docker_archive([image]))
    ref = service.tag("busybox", "localhost:5000/me/bb", "v2")
    assert ref.familiar == "localhost:5000/me/bb:v2"
    assert events.seen[-1][1:] == ("tag", image.id, {"name": "localhost:5000/me/bb:v2"})
    assert service.inspect("localhost:5000/me/bb:v2")["RepoTags"] == [
        "busybox:latest",
        "localhost:5000/me/bb:v2",
    ]
    with pytest.raises(ImageNotFound):
        service.tag("missing", "x", "y")
    with pytest.raises(InvalidReference):
        service.tag("busybox", "a::b", "")
    with pytest.raises(InvalidReference, match="invalid tag format"):
        service.tag("busybox", "x", "bad tag!")
    with pytest.raises(InvalidReference, match="ambiguous"):
        service.tag("busybox", "sha256", "abc")


def test_list_filters(service: ImageService) -> None:
    old = ImageSpec(
        [BASE],
        ["base:1"],
        config=config_for([BASE], created="2020-01-01T00:00:00Z", labels={"tier": "base"}),
    )
    mid = ImageSpec(
        [BASE, APP],
        ["me/app:1", "me/app:2"],
        config=config_for([BASE, APP], created="2022-01-01T00:00:00Z", labels={"tier": "app"}),
    )
    new = ImageSpec(
        [BASE, OTHER], [], config=config_for([BASE, OTHER], created="2024-01-01T00:00:00Z")
    )
    load(service, docker_archive([old, mid, new]))

    def ids(**kwargs: object) -> list[str]:
        return [i["Id"] for i in service.list_images(**kwargs)]  # type: ignore[arg-type]

    assert ids() == [new.id, mid.id, old.id]  # newest first
    assert ids(image_filters={"dangling": ["true"]}) == [new.id]
    assert ids(image_filters={"dangling": ["false"]}) == [mid.id, old.id]
    assert ids(image_filters={"label": ["tier"]}) == [mid.id, old.id]
    assert ids(image_filters={"label": ["tier=app"]}) == [mid.id]
    assert ids(image_filters={"before": ["me/app:1"]}) == [old.id]
    assert ids(image_filters={"since": ["base:1"]}) == [new.id, mid.id]
    assert ids(image_filters={"reference": ["me/*"]}) == [mid.id]
    assert ids(image_filters={"reference": ["base"]}) == [old.id]
    tags = service.list_images(image_filters={"reference": ["me/*:2"]})
    assert tags[0]["RepoTags"] == ["me/app:2"]
    with pytest.raises(BadParameter, match="invalid filter 'colour'"):
        service.list_images(image_filters={"colour": ["red"]})
    with pytest.raises(BadParameter, match="dangling=maybe"):
        service.list_images(image_filters={"dangling": ["maybe"]})
    with pytest.raises(ImageNotFound):
        service.list_images(image_filters={"before": ["missing"]})


# --- remove and prune --------------------------------------------------------------------


def test_rmi_untag_then_delete(service: ImageService, driver: FakeDriver, events: Events) -> None:
    image = ImageSpec([BASE, APP], ["a:1", "b:1"])
    load(service, docker_archive([image]))
    assert service.remove("a:1") == [{"Untagged": "a:1"}]
    assert service.resolve("b:1").id == image.id
    records = service.remove("b:1")
    assert records[0] == {"Untagged": "b:1"}
    assert records[1] == {"Deleted": image.id}
    assert {r["Deleted"] for r in records[2:]} == set(image_chain(image))
    assert "delete" in events.actions()
    assert service.list_images() == []
    assert driver.layer_ids() == set()
    assert list(service.blobs.all()) == []
    assert state_of(root_of(service)) == {"repositories.json": len(b'{"Repositories": {}}')}


def image_chain(image: ImageSpec) -> list[str]:
    from berth.engine.images.digests import chain_ids

    return chain_ids([sha(layer) for layer in image.layers])


def test_rmi_by_id_with_several_repositories_needs_force(service: ImageService) -> None:
    image = ImageSpec([BASE], ["a:1", "b:1"])
    load(service, docker_archive([image]))
    with pytest.raises(ImageConflict) as caught:
        service.remove(image.id[7:19])
    assert caught.value.status == 409
    assert str(caught.value) == (
        f"conflict: unable to delete {image.id[7:19]} (must be forced) - "
        "image is referenced in multiple repositories"
    )
    records = service.remove(image.id[7:19], force=True)
    assert records[:2] == [{"Untagged": "a:1"}, {"Untagged": "b:1"}]
    assert {"Deleted": image.id} in records


def test_rmi_by_id_single_repository(service: ImageService) -> None:
    image = ImageSpec([BASE], ["a:1"])
    load(service, docker_archive([image]))
    records = service.remove(image.id)
    assert records[:2] == [{"Untagged": "a:1"}, {"Deleted": image.id}]


def test_rmi_missing_is_404(service: ImageService) -> None:
    with pytest.raises(ImageNotFound, match="No such image: ghost:latest") as caught:
        service.remove("ghost")
    assert caught.value.status == 404


def test_rmi_conflicts_with_containers(service: ImageService) -> None:
    image = ImageSpec([BASE], ["a:1"])
    load(service, docker_archive([image]))
    users: list[tuple[str, bool]] = [("c" * 64, True)]
    service.add_usage_check(lambda image_id: users if image_id == image.id else [])
    with pytest.raises(ImageConflict, match=r"cannot be forced.*running container cccccccccccc"):
        service.remove(image.id, force=True)
    users[:] = [("d" * 64, False)]
    with pytest.raises(ImageConflict, match=r"must be forced.*stopped container dddddddddddd"):
        service.remove(image.id)
    # by name: the tag goes, the image stays for its container
    assert service.remove("a:1") == [{"Untagged": "a:1"}]
    assert service.resolve(image.id).id == image.id
    assert service.remove(image.id, force=True)[0] == {"Deleted": image.id}


def test_prune(service: ImageService, events: Events) -> None:
    keep = ImageSpec([BASE], ["keep:1"])
    dangling = ImageSpec([BASE, APP], [])
    labelled = ImageSpec(
        [BASE, OTHER], ["other:1"], config=config_for([BASE, OTHER], labels={"x": "y"})
    )
    load(service, docker_archive([keep, dangling, labelled]))
    report = service.prune()
    assert report["ImagesDeleted"][0] == {"Deleted": dangling.id}
    assert report["SpaceReclaimed"] == len(b"print('hi')\n")
    assert events.seen[-1][1] == "prune"
    assert service.prune() == {"ImagesDeleted": None, "SpaceReclaimed": 0}
    report = service.prune({"dangling": ["false"], "label!": ["x"]})
    assert {"Untagged": "keep:1"} in report["ImagesDeleted"]
    assert [i["RepoTags"] for i in service.list_images()] == [["other:1"]]
    with pytest.raises(BadParameter):
        service.prune({"reference": ["x"]})


# --- restart and crash recovery ----------------------------------------------------------


def test_state_survives_a_restart(
    open_service: Callable[[], ImageService], service: ImageService
) -> None:
    image = ImageSpec([BASE, APP], ["persist:1"])
    load(service, docker_archive([image]))
    again = open_service()
    assert again.resolve("persist:1").id == image.id
    assert again.list_images()[0]["Size"] == service.list_images()[0]["Size"]
    assert again.history("persist:1")[0]["Id"] == image.id


def test_crash_leftovers_are_cleaned_at_start(
    open_service: Callable[[], ImageService], service: ImageService, driver: FakeDriver
) -> None:
    image = ImageSpec([BASE], ["kept:1"])
    load(service, docker_archive([image]))
    root = root_of(service)
    # a registration cut short: its marker and half-made driver layer
    driver.create("f" * 64, None)
    (root / "layerdb" / "pending" / ("f" * 64)).write_bytes(b"")
    # one cut short just after its record was written: the layer must stay
    kept_layer = service.layers.get(sha(BASE))
    assert kept_layer is not None
    (root / "layerdb" / "pending" / kept_layer.cache_id).write_bytes(b"")
    # a load cut short: a lease on a layer, a stray blob, a temp file
    other = ImageSpec([OTHER], ["gone:1"])
    layer = service.layers.register(io.BytesIO(OTHER), None, sha(OTHER), "lease:dead")
    stray = service.blobs.put(b"stray blob")
    (root / "blobs" / "tmp" / "blob-x").write_bytes(b"partial")
    # a tag naming an image whose metadata never got written
    service.repos.add(reference.parse("ghost:1"), other.id)
    again = open_service()
    assert "f" * 64 not in driver.layer_ids()
    assert list((root / "layerdb" / "pending").iterdir()) == []
    assert again.layers.get(layer.chain_id) is None
    assert not again.blobs.exists(stray)
    assert list((root / "blobs" / "tmp").iterdir()) == []
    assert [i["RepoTags"] for i in again.list_images()] == [["kept:1"]]
    assert again.resolve("kept:1").id == image.id
    assert kept_layer.cache_id in driver.layer_ids()


def test_listing_reads_nothing_from_disk(
    service: ImageService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`berth images` is budgeted: the list comes from the in-memory index alone."""
    load(service, docker_archive([ImageSpec([BASE], ["seed:1"])]))
    for i in range(100):
        service.tag("seed:1", f"repo{i}", "latest")
    for i in range(20):
        service.import_image(io.BytesIO(layer_tar({f"f{i}": b"x"})), repo=f"imp{i}")

    def no_disk(*args: object, **kwargs: object) -> None:
        raise AssertionError("listing touched the disk")

    monkeypatch.setattr("builtins.open", no_disk)
    monkeypatch.setattr(Path, "read_bytes", no_disk)
    monkeypatch.setattr(Path, "open", no_disk)
    listed = service.list_images()
    assert len(listed) == 21
    assert len(listed[-1]["RepoTags"]) == 101
