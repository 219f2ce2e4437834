"""The container record: Docker's merge of create options with the image config, state and its
``Status`` text, the disk form and the inspect/ps views."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from berth.engine.containers import model
from berth.engine.containers.model import (
    ZERO_TIME,
    Container,
    Health,
    HealthLog,
    State,
    merge_env,
    merge_image_config,
)
from berth.engine.errors import BadParameter

from .kit import make_container, one_line

T0 = 1_800_000_000.0  # a fixed "now"


def at(offset: float) -> str:
    return model.now_rfc3339(T0 + offset)


# --- environment and image config ---------------------------------------------------------


def test_merge_env_replaces_appends_and_removes() -> None:
    base = ["PATH=/bin", "LANG=C", "KEEP=1"]
    assert merge_env(base, ["LANG=fr_FR", "NEW=x", "KEEP"]) == ["PATH=/bin", "LANG=fr_FR", "NEW=x"]
    assert base == ["PATH=/bin", "LANG=C", "KEEP=1"]  # not modified
    assert merge_env(None, ["A=1", "A=2"]) == ["A=2"]
    assert merge_env(["A=1"], ["MISSING"]) == ["A=1"]
    assert merge_env(["A=1"], ["A", "A=3"]) == ["A=3"]  # removed, then set again


IMAGE = {
    "User": "app",
    "Env": ["PATH=/usr/bin", "LANG=C"],
    "Entrypoint": ["/entry"],
    "Cmd": ["serve", "--port", "80"],
    "WorkingDir": "/srv",
    "Labels": {"from": "image", "both": "image"},
    "ExposedPorts": {"80/tcp": {}},
    "Volumes": {"/data": {}},
    "StopSignal": "SIGQUIT",
    "Healthcheck": {"Test": ["CMD", "true"], "Interval": 5_000_000_000, "Retries": 3},
}


def test_image_config_fills_what_the_request_leaves_out() -> None:
    merged = merge_image_config({"Image": "x"}, IMAGE)
    assert merged["User"] == "app"
    assert merged["Entrypoint"] == ["/entry"]
    assert merged["Cmd"] == ["serve", "--port", "80"]
    assert merged["WorkingDir"] == "/srv"
    assert merged["Env"] == ["PATH=/usr/bin", "LANG=C"]
    assert merged["Labels"] == {"from": "image", "both": "image"}
    assert merged["ExposedPorts"] == {"80/tcp": {}}
    assert merged["StopSignal"] == "SIGQUIT"
    assert merged["Healthcheck"]["Test"] == ["CMD", "true"]
    assert merged["Tty"] is False and merged["Hostname"] == ""  # Docker's defaults are there


def test_request_values_win_and_unions_are_kept() -> None:
    merged = merge_image_config(
        {
            "User": "root",
            "Env": ["LANG=en_US", "EXTRA=1"],
            "Cmd": ["sh"],
            "WorkingDir": "/tmp",
            "Labels": {"both": "request"},
            "ExposedPorts": {"443/tcp": {}},
            "Healthcheck": {"Test": ["CMD", "false"]},
        },
        IMAGE,
    )
    assert merged["User"] == "root"
    assert merged["Env"] == ["PATH=/usr/bin", "LANG=en_US", "EXTRA=1"]
    assert merged["Entrypoint"] == ["/entry"]  # image entrypoint kept, with our cmd
    assert merged["Cmd"] == ["sh"]
    assert merged["Labels"] == {"from": "image", "both": "request"}
    assert merged["ExposedPorts"] == {"80/tcp": {}, "443/tcp": {}}
    assert merged["Healthcheck"] == {
        "Test": ["CMD", "false"],
        "Interval": 5_000_000_000,
        "Retries": 3,
    }


def test_an_explicit_entrypoint_drops_the_image_cmd_only_when_empty() -> None:
    merged = merge_image_config({"Entrypoint": ["/other"]}, IMAGE)
    assert merged["Entrypoint"] == ["/other"]
    assert merged["Cmd"] is None  # Docker: a new entrypoint does not take the image's cmd
    cleared = merge_image_config({"Entrypoint": [""], "Cmd": ["ls"]}, IMAGE)
    assert cleared["Entrypoint"] is None and cleared["Cmd"] == ["ls"]
    assert model.command_of(cleared) == ("ls", [])
    assert merge_image_config({"Entrypoint": [""]}, IMAGE)["Cmd"] is None
    emptied = merge_image_config({"Entrypoint": []}, IMAGE)  # docker-py's entrypoint=[]
    assert emptied["Entrypoint"] is None and emptied["Cmd"] == ["serve", "--port", "80"]


def test_command_of_joins_entrypoint_and_cmd() -> None:
    assert model.command_of(merge_image_config({}, IMAGE)) == ("/entry", ["serve", "--port", "80"])
    with pytest.raises(BadParameter) as caught:
        model.command_of(merge_image_config({}, {"Env": []}))
    assert one_line(caught) == "No command specified"


# --- state --------------------------------------------------------------------------------


def test_status_follows_the_flags_as_docker_derives_it() -> None:
    state = State()
    assert state.status == "created"
    state.set_running(42, at(0))
    assert (state.status, state.pid, state.running) == ("running", 42, True)
    state.paused = True
    assert state.status == "paused"
    state.paused = False
    state.set_restarting(3, at(1))
    assert state.status == "restarting"
    state.set_stopped(137, at(2), oom=True)
    assert (state.status, state.exit_code, state.oom_killed, state.pid) == ("exited", 137, True, 0)
    state.removal_in_progress = True
    assert state.status == "removing"
    state.removal_in_progress, state.dead = False, True
    assert state.status == "dead"


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0.3, "Less than a second"),
        (1, "1 second"),
        (59, "59 seconds"),
        (60, "About a minute"),
        (119, "About a minute"),
        (120, "2 minutes"),
        (3599, "59 minutes"),
        (3600, "About an hour"),
        (5400, "2 hours"),
        (47 * 3600, "47 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (90 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_duration_matches_go_units(seconds: float, text: str) -> None:
    assert model.human_duration(seconds) == text


def test_describe_gives_docker_ps_status_texts() -> None:
    state = State()
    assert state.describe(T0) == "Created"
    state.set_running(7, at(-125))
    assert state.describe(T0) == "Up 2 minutes"
    state.paused = True
    assert state.describe(T0) == "Up 2 minutes (Paused)"
    state.paused = False
    state.health = Health()
    assert state.describe(T0) == "Up 2 minutes (health: starting)"
    state.health.status = "healthy"
    assert state.describe(T0) == "Up 2 minutes (healthy)"
    state.set_stopped(3, at(-5))
    assert state.describe(T0) == "Exited (3) 5 seconds ago"
    state.set_restarting(1, at(-1))
    assert state.describe(T0) == "Restarting (1) 1 second ago"
    state = State(removal_in_progress=True, started_at=at(-9))
    assert state.describe(T0) == "Removal In Progress"
    assert State(dead=True, started_at=at(-9)).describe(T0) == "Dead"


def test_times_round_trip_with_nanoseconds() -> None:
    text = model.now_rfc3339(T0 + 0.123456789)
    assert re.fullmatch(r"2027-01-15T08:00:00\.1234567\d\dZ", text), text
    parsed = model.parse_rfc3339(text)
    assert parsed is not None and abs(parsed - (T0 + 0.123456789)) < 1e-6
    assert model.parse_rfc3339("2026-01-02T03:04:05+02:00") == model.parse_rfc3339(
        "2026-01-02T01:04:05Z"
    )
    assert model.parse_rfc3339(ZERO_TIME) is None
    assert model.parse_rfc3339("garbage") is None
    assert model.parse_rfc3339("2026-01-02T03:04:05.12x4Z") is None


def test_health_keeps_the_last_five_results() -> None:
    health = Health()
    for i in range(8):
        health.record(HealthLog(at(i), at(i + 1), i, f"run {i}"))
    assert [entry.exit_code for entry in health.log] == [3, 4, 5, 6, 7]
    again = Health.from_json(json.loads(json.dumps(health.to_json())))
    assert again == health


def test_mark_started_sets_health_only_with_a_healthcheck() -> None:
    plain = make_container()
    plain.mark_started(10)
    assert plain.state.health is None and plain.has_been_started_before
    checked = make_container({"Healthcheck": {"Test": ["CMD", "true"]}})
    checked.state.health = Health("unhealthy", 4, [HealthLog(at(0), at(1), 1, "no")])
    checked.mark_started(11)
    assert checked.state.health is not None
    assert (checked.state.health.status, checked.state.health.failing_streak) == ("starting", 0)
    assert len(checked.state.health.log) == 1
    disabled = make_container({"Healthcheck": {"Test": ["NONE"]}})
    disabled.mark_started(12)
    assert disabled.state.health is None
    checked.mark_exited(2)
    assert checked.state.status == "exited" and checked.state.exit_code == 2


# --- ids, disk form, views ----------------------------------------------------------------


def test_new_ids_are_64_hex_with_a_non_numeric_short_form() -> None:
    ids = {model.new_container_id() for _ in range(300)}
    assert len(ids) == 300
    for cid in ids:
        assert len(cid) == 64 and set(cid) <= set("0123456789abcdef")
        assert not cid[:12].isdigit()


def _full_container() -> Container:
    container = make_container(
        {"Env": ["A=1"], "Labels": {"l": "v"}, "Tty": True},
        {"NetworkMode": "none", "Memory": 64 << 20, "CapAdd": ["NET_ADMIN"]},
    )
    container.mark_started(1234, at(0))
    container.mark_exited(0, at(3))
    container.restart_count = 2
    container.rw_layer = "cache-id"
    container.graph_driver_data = {"UpperDir": "/x/diff"}
    container.extra = {"Runtime": "linux"}
    container.network_settings = model.default_network_settings("none")
    container.mount_points = {
        "/data": {"Type": "volume", "Name": "vol", "Source": "/v", "Destination": "/data",
                  "RW": True, "Mode": "z"},
    }  # fmt: skip
    container.log_path = "/var/lib/berth/containers/x/x-json.log"
    return container


def test_disk_form_round_trips() -> None:
    container = _full_container()
    disk = json.loads(json.dumps(container.to_disk()))
    host_config = json.loads(json.dumps(container.host_config))
    assert disk["State"]["Running"] is False and disk["State"]["ExitCode"] == 0
    again = Container.from_disk(disk, host_config)
    assert again.to_disk() == container.to_disk()
    assert again.host_config == container.host_config
    assert again.exec_ids == []


@pytest.mark.parametrize(
    "record",
    [{"ID": "short"}, {"ID": "Z" * 64}, {}, {"ID": "a" * 64, "State": "nonsense"}],
)
def test_records_that_are_not_containers_are_refused(record: dict[str, Any]) -> None:
    if record.get("State") == "nonsense":  # a bad State is read as an empty one, not fatal
        assert Container.from_disk(record, {}).state.status == "created"
        return
    with pytest.raises((ValueError, KeyError)):
        Container.from_disk(record, {})


INSPECT_KEYS = {
    "Id", "Created", "Path", "Args", "State", "Image", "ResolvConfPath", "HostnamePath",
    "HostsPath", "LogPath", "Name", "RestartCount", "Driver", "Platform", "MountLabel",
    "ProcessLabel", "AppArmorProfile", "ExecIDs", "HostConfig", "GraphDriver", "Mounts",
    "Config", "NetworkSettings",
}  # fmt: skip
STATE_KEYS = {
    "Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid", "ExitCode",
    "Error", "StartedAt", "FinishedAt",
}  # fmt: skip


def test_inspect_has_dockers_shape() -> None:
    container = _full_container()
    data = container.inspect()
    assert set(data) == INSPECT_KEYS
    assert set(data["State"]) == STATE_KEYS
    assert data["State"]["Status"] == "exited"
    assert data["Path"] == "sh" and data["Args"] == []
    assert data["Name"] == "/test" and data["RestartCount"] == 2
    assert data["GraphDriver"] == {"Data": {"UpperDir": "/x/diff"}, "Name": "fake"}
    assert data["ExecIDs"] is None
    assert data["HostConfig"]["Memory"] == 64 << 20
    assert data["HostConfig"]["CapAdd"] == ["NET_ADMIN"]
    assert data["Config"]["Tty"] is True and data["Config"]["Hostname"] == container.id[:12]
    assert data["Mounts"] == [
        {"Type": "volume", "Source": "/v", "Destination": "/data", "Mode": "z", "RW": True,
         "Propagation": "", "Name": "vol", "Driver": "local"},
    ]  # fmt: skip
    data["Config"]["Env"].append("MUTATED=1")
    assert "MUTATED=1" not in container.config["Env"]  # inspect hands out copies
    container.exec_ids.append("e1")
    sized = container.inspect(size_rw=5, size_root_fs=10)
    assert sized["ExecIDs"] == ["e1"] and sized["SizeRw"] == 5 and sized["SizeRootFs"] == 10


def test_summary_is_a_ps_entry() -> None:
    container = _full_container()
    entry = container.summary(now=T0 + 63)
    assert entry["Id"] == container.id and entry["Names"] == ["/test"]
    assert entry["Image"] == "busybox" and entry["ImageID"] == container.image
    assert entry["Command"] == "sh"
    assert entry["State"] == "exited"
    assert entry["Status"] == "Exited (0) About a minute ago"
    assert entry["Labels"] == {"l": "v"}
    assert entry["HostConfig"] == {"NetworkMode": "none"}
    assert list(entry["NetworkSettings"]["Networks"]) == ["none"]
    assert entry["Created"] > 0
    assert container.summary(image="sha256:abc")["Image"] == "sha256:abc"
