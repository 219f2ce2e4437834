"""The volume service over the installed `local` driver: records, users, filters, prune."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from berth.engine.errors import BadParameter, Conflict, NotFound
from berth.engine.pluginhost import PluginHost, PluginPolicy
from berth.engine.volumes.records import ANONYMOUS_LABEL
from berth.engine.volumes.service import VolumeService
from berth.testing.logger import RecordingLogger


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def __call__(self, type_: str, action: str, actor: str, **attributes: str) -> None:
        self.seen.append((type_, action, actor))


@pytest.fixture
def events() -> Events:
    return Events()


def make_service(root: Path, events: Any) -> VolumeService:
    log = RecordingLogger()
    host = PluginHost(root / "data", root / "run", PluginPolicy(), log)
    host.discover()
    return VolumeService(root / "data" / "volumes", host, log, events)


@pytest.fixture
def volumes(tmp_path: Path, events: Events) -> Iterator[VolumeService]:
    service = make_service(tmp_path, events)
    yield service
    for record in list(service.records):
        for user in service.users(record.name):
            service.drop_user(record.name, user)
        service.remove(record.name, force=True)


def names(listing: dict[str, Any]) -> list[str]:
    return [v["Name"] for v in listing["Volumes"]]


def test_create_inspect_and_records_on_disk(
    volumes: VolumeService, tmp_path: Path, events: Events
) -> None:
    made = volumes.create("one", "", {}, {"a": "b"})
    assert made["Driver"] == "local" and made["Labels"] == {"a": "b"}
    assert made["Mountpoint"] == str(tmp_path / "data/volume/local/one/_data")
    assert volumes.inspect("one") == made
    assert ("volume", "create", "one") in events.seen
    again = make_service(tmp_path, events)
    assert again.inspect("one")["Labels"] == {"a": "b"}, "records are kept on disk"


def test_anonymous_volumes_get_a_name_and_the_label(volumes: VolumeService) -> None:
    record = volumes.ensure()
    assert len(record.name) == 64 and record.labels == {ANONYMOUS_LABEL: ""}


def test_same_name_other_driver_is_a_conflict(volumes: VolumeService) -> None:
    volumes.create("dup")
    with pytest.raises(NotFound, match='plugin "other" not found'):
        volumes.create("dup2", "other")
    record = volumes.records.get("dup")
    assert record is not None
    record.driver = "other"
    with pytest.raises(Conflict, match="already exists with driver"):
        volumes.create("dup", "local")
    record.driver = "local"


def test_bad_names_and_options(volumes: VolumeService) -> None:
    for bad in ("a/b", "..", "x"):
        with pytest.raises(BadParameter):
            volumes.create(bad)
    with pytest.raises(BadParameter, match='invalid option: "x"'):
        volumes.create("opts", "local", {"x": "1"})
    assert names(volumes.list_volumes()) == []


def test_remove_in_use_missing_and_forced(volumes: VolumeService) -> None:
    volumes.create("busy")
    volumes.add_user("busy", "c1")
    with pytest.raises(Conflict, match=r"remove busy: volume is in use - \[c1\]"):
        volumes.remove("busy")
    with pytest.raises(Conflict):
        volumes.remove("busy", force=True)
    volumes.drop_user("busy", "c1")
    volumes.remove("busy")
    with pytest.raises(NotFound, match="get busy: no such volume"):
        volumes.remove("busy")
    volumes.remove("busy", force=True)


def test_list_filters(volumes: VolumeService) -> None:
    volumes.create("blue", labels={"team": "blue"})
    volumes.create("red", labels={"team": "red"})
    volumes.add_user("red", "c1")
    assert names(volumes.list_volumes({"label": ["team=blue"]})) == ["blue"]
    assert names(volumes.list_volumes({"label": ["team"]})) == ["blue", "red"]
    assert names(volumes.list_volumes({"dangling": ["true"]})) == ["blue"]
    assert names(volumes.list_volumes({"dangling": ["0"]})) == ["red"]
    assert names(volumes.list_volumes({"name": ["^re"]})) == ["red"]
    assert names(volumes.list_volumes({"driver": ["local"]})) == ["blue", "red"]
    assert names(volumes.list_volumes({"driver": ["other"]})) == []
    with pytest.raises(BadParameter, match="invalid filter 'colour'"):
        volumes.list_volumes({"colour": ["x"]})
    with pytest.raises(BadParameter, match="invalid filter 'dangling=maybe'"):
        volumes.list_volumes({"dangling": ["maybe"]})
    volumes.drop_user("red", "c1")


def test_prune_takes_unused_anonymous_volumes_unless_all(volumes: VolumeService) -> None:
    volumes.create("named")
    anonymous = volumes.ensure().name
    used = volumes.ensure().name
    volumes.add_user(used, "c1")
    report = volumes.prune({})
    assert report["VolumesDeleted"] == [anonymous]
    assert volumes.prune({"label!": ["x"]})["VolumesDeleted"] is None
    report = volumes.prune({"all": ["true"], "label": ["nope"]})
    assert report["VolumesDeleted"] is None
    assert volumes.prune({"all": ["1"]})["VolumesDeleted"] == ["named"]
    assert names(volumes.list_volumes()) == [used]
    volumes.drop_user(used, "c1")


def test_old_api_prune_takes_every_unused_volume(volumes: VolumeService) -> None:
    volumes.create("named-old")
    assert volumes.prune({}, api_version="1.41")["VolumesDeleted"] == ["named-old"]


def test_usage_counts_size_and_users(volumes: VolumeService) -> None:
    made = volumes.create("sized")
    (Path(made["Mountpoint"]) / "f").write_bytes(b"x" * 1234)
    volumes.add_user("sized", "c1")
    usage = {v["Name"]: v["UsageData"] for v in volumes.usage()}
    assert usage["sized"] == {"Size": 1234, "RefCount": 1}
    volumes.drop_user("sized", "c1")


def test_mount_and_unmount_for_a_container(volumes: VolumeService, events: Events) -> None:
    volumes.create("mo")
    path = volumes.mount("mo", "c1")
    assert path.is_dir()
    volumes.unmount("mo", "c1")
    assert ("volume", "mount", "mo") in events.seen
    assert ("volume", "unmount", "mo") in events.seen
    with pytest.raises(NotFound):
        volumes.mount("absent", "c1")
