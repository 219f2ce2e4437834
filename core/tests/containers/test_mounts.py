"""Parsing of `-v`, `--mount` and `--volumes-from` into mount points, with Docker's texts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from berth.engine.containers.mounts import parse_bind, parse_mount, parse_volumes_from
from berth.engine.errors import BadParameter


def test_named_volume_bind() -> None:
    point = parse_bind("data:/srv/data:ro", "")
    assert point["Type"] == "volume" and point["Name"] == "data"
    assert (point["Destination"], point["RW"], point["Mode"]) == ("/srv/data", False, "ro")
    assert point["CopyUp"] is True


def test_anonymous_volume_bind() -> None:
    point = parse_bind("/cache", "mydriver")
    assert (point["Type"], point["Name"], point["Driver"]) == ("volume", "", "mydriver")


def test_host_directory_bind() -> None:
    point = parse_bind("/host/dir/:/in:rw,rshared", "")
    assert point["Type"] == "bind"
    assert (point["Source"], point["Destination"]) == ("/host/dir", "/in")
    assert (point["RW"], point["Propagation"]) == (True, "rshared")


def test_bind_defaults_to_rprivate_and_z_is_accepted() -> None:
    point = parse_bind("/a:/b:z", "")
    assert (point["Propagation"], point["Mode"], point["RW"]) == ("rprivate", "z", True)


def test_nocopy() -> None:
    assert parse_bind("v:/x:nocopy", "")["CopyUp"] is False


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("a:b:c:d", "invalid volume specification: 'a:b:c:d'"),
        ("a::b", "invalid volume specification: 'a::b'"),
        ("v:relative", "invalid mount path: 'relative' mount path must be absolute"),
        ("v:/x:bogus", "invalid mode: bogus"),
        ("v:/x:ro,rw", "invalid mode: ro,rw"),
        ("v:/x:rshared", "invalid mode: rshared"),
        ("/h:/x:nocopy", "invalid mode: nocopy"),
        ("v:/", "destination can't be '/'"),
    ],
)
def test_bad_binds(spec: str, message: str) -> None:
    with pytest.raises(BadParameter, match=message.replace("(", r"\(")):
        parse_bind(spec, "")


def test_mount_volume_with_driver_options() -> None:
    point = parse_mount(
        {
            "Type": "volume",
            "Source": "v",
            "Target": "/t",
            "ReadOnly": True,
            "VolumeOptions": {
                "NoCopy": True,
                "Labels": {"a": "b"},
                "DriverConfig": {"Name": "local", "Options": {"type": "tmpfs"}},
            },
        },
        "",
    )
    assert (point["Name"], point["Driver"], point["RW"], point["CopyUp"]) == (
        "v",
        "local",
        False,
        False,
    )
    assert point["VolumeOptions"] == {"type": "tmpfs"}
    assert point["VolumeLabels"] == {"a": "b"}


def test_mount_tmpfs_options() -> None:
    point = parse_mount(
        {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 2 << 20, "Mode": 0o1770}},
        "",
    )
    assert point["Type"] == "tmpfs"
    assert point["TmpfsData"] == ["size=2048k", "mode=1770"]


def test_mount_bind(tmp_path: Path) -> None:
    point = parse_mount(
        {
            "Type": "bind",
            "Source": str(tmp_path),
            "Target": "/b",
            "BindOptions": {"Propagation": "rslave"},
        },
        "",
    )
    assert (point["Source"], point["Propagation"], point["RW"]) == (str(tmp_path), "rslave", True)


@pytest.mark.parametrize(
    ("mount", "message"),
    [
        ({"Type": "nfs", "Target": "/x"}, 'type "nfs": mount type unknown'),
        ({"Type": "volume"}, "field Target must not be empty"),
        ({"Type": "bind", "Target": "/x"}, "field Source must not be empty"),
        ({"Type": "bind", "Source": "rel", "Target": "/x"}, "'rel' mount path must be absolute"),
        ({"Type": "bind", "Source": "/no/such", "Target": "/x"},
         "bind source path does not exist: /no/such"),
        ({"Type": "tmpfs", "Source": "x", "Target": "/x"}, "field Source must not be specified"),
        ({"Type": "bind", "Source": "/", "Target": "/x", "VolumeOptions": {"NoCopy": True}},
         "field VolumeOptions must not be specified"),
        ({"Type": "volume", "Target": "/x", "BindOptions": {"Propagation": "shared"}},
         "field BindOptions must not be specified"),
        ({"Type": "bind", "Source": "/", "Target": "/x", "BindOptions": {"Propagation": "odd"}},
         "invalid propagation mode: odd"),
        ({"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": -1}},
         "invalid tmpfs size"),
        ("not an object", "each entry of Mounts must be an object"),
    ],
)  # fmt: skip
def test_bad_mounts(mount: Any, message: str) -> None:
    with pytest.raises(BadParameter) as caught:
        parse_mount(mount, "")
    assert message in str(caught.value)


def test_volumes_from() -> None:
    assert parse_volumes_from("web") == ("web", None)
    assert parse_volumes_from("web:ro") == ("web", False)
    assert parse_volumes_from("web:rw") == ("web", True)
    with pytest.raises(BadParameter, match="invalid mode: xx"):
        parse_volumes_from("web:xx")
    with pytest.raises(BadParameter):
        parse_volumes_from(":ro")
