"""The container store: atomic records on disk, an in-memory index, Docker's lookups."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from berth.engine.containers import model
from berth.engine.containers.names import NameConflict
from berth.engine.containers.store import (
    CONFIG_FILE,
    HOST_CONFIG_FILE,
    AmbiguousPrefix,
    ContainerNotFound,
    ContainerStore,
)

from .conftest import RecordingLog
from .kit import make_container, one_line


def new(store: ContainerStore, name: str, container_id: str | None = None) -> model.Container:
    cid = container_id or model.new_container_id()
    container = make_container({"Cmd": ["echo", name]}, {"NetworkMode": "none"}, container_id=cid)
    container.name = store.names.reserve(name, cid)
    store.add(container)
    return container


def test_records_survive_a_restart(tmp_path: Path, log: RecordingLog) -> None:
    store = ContainerStore(tmp_path / "containers", log)
    one = new(store, "one")
    two = new(store, "two")
    two.mark_started(99)
    two.mark_exited(3)
    two.restart_count = 1
    store.save(two)

    again = ContainerStore(tmp_path / "containers", log)
    assert {c.id for c in again} == {one.id, two.id}
    loaded = again.lookup("two")
    assert loaded.to_disk() == two.to_disk()
    assert loaded.host_config == two.host_config
    assert (loaded.state.status, loaded.state.exit_code, loaded.restart_count) == ("exited", 3, 1)
    assert again.names.owner("/one") == one.id


def test_files_have_dockers_names_and_are_private(tmp_path: Path, log: RecordingLog) -> None:
    store = ContainerStore(tmp_path / "containers", log)
    container = new(store, "web")
    directory = store.dir_of(container.id)
    assert directory == tmp_path / "containers" / container.id
    for name in (CONFIG_FILE, HOST_CONFIG_FILE):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600
    data = json.loads((directory / CONFIG_FILE).read_text())
    assert data["ID"] == container.id and data["Name"] == "/web"
    assert "HostConfig" not in data
    host_config = json.loads((directory / HOST_CONFIG_FILE).read_text())
    assert host_config["NetworkMode"] == "none"
    assert store.log_path_of(container.id) == directory / f"{container.id}-json.log"


def test_host_config_is_rewritten_only_when_asked(tmp_path: Path, log: RecordingLog) -> None:
    store = ContainerStore(tmp_path / "containers", log)
    container = new(store, "web")
    path = store.dir_of(container.id) / HOST_CONFIG_FILE
    container.host_config["Memory"] = 1 << 30
    store.save(container)
    assert json.loads(path.read_text())["Memory"] == 0
    store.save(container, host_config=True)
    assert json.loads(path.read_text())["Memory"] == 1 << 30


def test_listing_never_reads_the_disk(tmp_path: Path, log: RecordingLog) -> None:
    store = ContainerStore(tmp_path / "containers", log)
    made = [new(store, f"c{i}") for i in range(3)]
    for container in made:
        (store.dir_of(container.id) / CONFIG_FILE).unlink()
    assert len(store.containers()) == 3
    assert store.lookup("c1").id == made[1].id


def test_listing_is_newest_first(tmp_path: Path, log: RecordingLog) -> None:
    store = ContainerStore(tmp_path / "containers", log)
    old = new(store, "old")
    old.created = model.now_rfc3339(1_700_000_000)
    young = new(store, "young")
    young.created = model.now_rfc3339(1_800_000_000)
    assert [c.bare_name for c in store.containers()] == ["young", "old"]


def test_lookup_by_id_name_and_prefix(tmp_path: Path, log: RecordingLog) -> None:
    store = ContainerStore(tmp_path / "containers", log)
    a = new(store, "alpha", "abc1" + "0" * 60)
    b = new(store, "beta", "abc2" + "0" * 60)
    assert store.lookup(a.id) is a
    assert store.lookup("alpha") is a and store.lookup("/beta") is b
    assert store.lookup("abc2") is b
    with pytest.raises(AmbiguousPrefix) as ambiguous:
        store.lookup("abc")
    assert one_line(ambiguous) == "Multiple IDs found with provided prefix: abc"
    assert ambiguous.value.status == 400
    for missing in ("nope", "abd", "", "ABC1"):
        with pytest.raises(ContainerNotFound) as caught:
            store.lookup(missing)
        assert one_line(caught) == f"No such container: {missing}"
        assert caught.value.status == 404


def test_a_name_that_looks_like_a_prefix_wins(tmp_path: Path, log: RecordingLog) -> None:
    store = ContainerStore(tmp_path / "containers", log)
    a = new(store, "abc1x", "abc1" + "0" * 60)
    b = new(store, "abc1", "fff" + "0" * 61)
    assert store.lookup("abc1") is b  # a name beats an ID prefix, as in Docker
    assert store.lookup("abc1x") is a


def test_remove_deletes_the_directory_and_frees_the_name(tmp_path: Path, log: RecordingLog) -> None:
    store = ContainerStore(tmp_path / "containers", log)
    container = new(store, "web")
    (store.dir_of(container.id) / "hosts").write_text("x")
    store.remove(container.id)
    assert not store.dir_of(container.id).exists()
    assert store.get(container.id) is None and "web" not in store.names
    with pytest.raises(ContainerNotFound):
        store.lookup("web")
    new(store, "web")  # the name can be used again
    assert len(ContainerStore(tmp_path / "containers", log)) == 1


def test_rename_persists_and_refuses_taken_names(tmp_path: Path, log: RecordingLog) -> None:
    store = ContainerStore(tmp_path / "containers", log)
    container = new(store, "old")
    other = new(store, "other")
    with pytest.raises(NameConflict):
        store.rename(container, "other")
    assert container.name == "/old"
    assert store.rename(container, "new") == "/new"
    assert store.lookup("new") is container
    with pytest.raises(ContainerNotFound):
        store.lookup("old")
    again = ContainerStore(tmp_path / "containers", log)
    assert again.lookup("new").id == container.id
    assert again.lookup("other").id == other.id


def test_a_crash_mid_create_leaves_nothing_after_restart(tmp_path: Path, log: RecordingLog) -> None:
    root = tmp_path / "containers"
    store = ContainerStore(root, log)
    kept = new(store, "kept")
    half = root / ("d" * 64)
    half.mkdir()
    (half / HOST_CONFIG_FILE).write_text("{}")  # written first; config.v2.json never came
    (root / kept.id / f".{CONFIG_FILE}.tmp123").write_text("partial")  # a torn temp file
    again = ContainerStore(root, log)
    assert not half.exists()
    assert [c.id for c in again] == [kept.id]
    assert "container.incomplete_removed" in log.names()


def test_unreadable_records_are_skipped_and_reported(tmp_path: Path, log: RecordingLog) -> None:
    root = tmp_path / "containers"
    store = ContainerStore(root, log)
    good = new(store, "good")
    bad = new(store, "bad")
    (root / bad.id / CONFIG_FILE).write_text("{not json")
    moved = root / ("e" * 64)
    moved.mkdir()
    (moved / CONFIG_FILE).write_text(json.dumps(good.to_disk()))  # someone else's record
    (root / "stray-file").write_text("x")
    again = ContainerStore(root, log)
    assert [c.id for c in again] == [good.id]
    assert log.names().count("container.unreadable") == 2
    assert (root / bad.id).exists()  # kept for a human to look at


def test_two_records_claiming_one_name(tmp_path: Path, log: RecordingLog) -> None:
    root = tmp_path / "containers"
    store = ContainerStore(root, log)
    first = new(store, "same", "1" * 63 + "a")
    second = new(store, "second", "2" * 63 + "a")
    record = json.loads((root / second.id / CONFIG_FILE).read_text())
    record["Name"] = "/same"
    (root / second.id / CONFIG_FILE).write_text(json.dumps(record))
    again = ContainerStore(root, log)
    names = {c.id: c.name for c in again}
    assert names[first.id] == "/same"
    assert names[second.id] != "/same" and again.names.owner(names[second.id]) == second.id
    assert "container.name_reassigned" in log.names()


def test_adding_twice_is_refused(tmp_path: Path, log: RecordingLog) -> None:
    store = ContainerStore(tmp_path / "containers", log)
    container = new(store, "web")
    with pytest.raises(Exception, match="exists already"):
        store.add(container)


def test_symlinked_entries_are_ignored(tmp_path: Path, log: RecordingLog) -> None:
    root = tmp_path / "containers"
    outside = tmp_path / "outside"
    store = ContainerStore(root, log)
    container = new(store, "web")
    os.rename(root / container.id, outside)
    os.symlink(outside, root / container.id)
    assert len(ContainerStore(root, log)) == 0
    assert outside.exists()  # not removed through the link
