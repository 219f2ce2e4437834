"""The volume endpoints over raw HTTP on a real berthd: Docker's statuses and shapes (201, 204,
404, 409, 400), filters in the query, and bad bodies refused without a trace."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from tests.integration.daemon import Daemon, request


def call(daemon: Daemon, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    payload = (
        b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    )
    status, _, data = request(daemon.sock, method, "/v1.44" + path, payload)
    return status, json.loads(data) if data.strip() else None


def test_create_inspect_list_remove(berthd: Daemon) -> None:
    status, made = call(berthd, "POST", "/volumes/create",
                        {"Name": "api-one", "Labels": {"k": "v"}, "DriverOpts": {}})  # fmt: skip
    assert status == 201
    assert set(made) == {"CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options",
                         "Scope"}  # fmt: skip
    assert (made["Name"], made["Driver"], made["Labels"], made["Options"]) == (
        "api-one", "local", {"k": "v"}, None,
    )  # fmt: skip
    assert call(berthd, "GET", "/volumes/api-one") == (200, made)
    filters = quote(json.dumps({"label": {"k=v": True}}))
    status, listing = call(berthd, "GET", f"/volumes?filters={filters}")
    assert status == 200 and [v["Name"] for v in listing["Volumes"]] == ["api-one"]
    assert listing["Warnings"] is None
    assert call(berthd, "DELETE", "/volumes/api-one") == (204, None)
    status, error = call(berthd, "GET", "/volumes/api-one")
    assert (status, error) == (404, {"message": "get api-one: no such volume"})
    assert call(berthd, "DELETE", "/volumes/api-one?force=1") == (204, None)


def test_create_without_a_name_makes_an_anonymous_volume(berthd: Daemon) -> None:
    status, made = call(berthd, "POST", "/volumes/create", {})
    assert status == 201 and len(made["Name"]) == 64
    assert made["Labels"] == {"com.docker.volume.anonymous": ""}
    status, report = call(berthd, "POST", "/volumes/prune")
    assert status == 200 and made["Name"] in report["VolumesDeleted"]


def test_system_df_has_volumes(berthd: Daemon) -> None:
    call(berthd, "POST", "/volumes/create", {"Name": "api-df"})
    status, usage = call(berthd, "GET", "/system/df?type=volume")
    assert status == 200
    entry = next(v for v in usage["Volumes"] if v["Name"] == "api-df")
    assert entry["UsageData"] == {"Size": 0, "RefCount": 0}
    call(berthd, "DELETE", "/volumes/api-df")


def test_bad_requests(berthd: Daemon) -> None:
    for body, status, text in (
        (b"not json", 400, ""),
        (b"[1]", 400, "the body must be a JSON object"),
        ({"Name": 5}, 400, "Name and Driver are strings"),
        ({"Name": "api-bad", "DriverOpts": ["x"]}, 400, "invalid DriverOpts"),
        ({"Name": "api-bad", "Driver": "nope"}, 404, 'plugin "nope" not found'),
        ({"Name": "api-bad", "DriverOpts": {"o": "ro"}}, 400, "missing required option"),
    ):
        got, error = call(berthd, "POST", "/volumes/create", body)
        assert got == status, (body, error)
        assert text in error["message"]
        assert "Traceback" not in error["message"]
    status, error = call(berthd, "GET", "/volumes?filters=" + quote('{"bogus":{"x":true}}'))
    assert (status, error) == (400, {"message": "invalid filter 'bogus'"})
    status, error = call(berthd, "POST", "/volumes/prune?filters=" + quote('{"name":{"x":true}}'))
    assert (status, error) == (400, {"message": "invalid filter 'name'"})
    status, listing = call(berthd, "GET", "/volumes")
    assert "api-bad" not in [v["Name"] for v in listing["Volumes"]]
