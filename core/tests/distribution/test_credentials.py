"""Credentials on both sides: the client's config.json (berth's and Docker's, helpers) and
the daemon's reading of X-Registry-Auth and /auth bodies."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from berth.client import credentials
from berth.engine.distribution import authconfig
from berth.engine.distribution.progress import bar
from berth.engine.errors import BadParameter


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    berth_dir, docker_dir = tmp_path / "berth", tmp_path / "docker"
    monkeypatch.setenv("BERTH_CONFIG", str(berth_dir))
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_dir))
    return berth_dir, docker_dir


def test_store_lookup_erase(homes: tuple[Path, Path]) -> None:
    berth_dir, _ = homes
    assert credentials.lookup("myreg:5000") is None
    path = credentials.store("myreg:5000", "me", "pw")
    assert path == berth_dir / "config.json"
    assert json.loads(path.read_text()) == {
        "auths": {"myreg:5000": {"auth": base64.b64encode(b"me:pw").decode()}}
    }
    assert credentials.lookup("myreg:5000") == {
        "serveraddress": "myreg:5000",
        "username": "me",
        "password": "pw",
    }
    assert credentials.erase("myreg:5000")
    assert not credentials.erase("myreg:5000")
    assert credentials.lookup("myreg:5000") is None


def test_docker_hub_key_and_docker_config(homes: tuple[Path, Path]) -> None:
    _, docker_dir = homes
    docker_dir.mkdir()
    packed = base64.b64encode(b"hubuser:hubpw").decode()
    (docker_dir / "config.json").write_text(
        json.dumps({"auths": {"https://index.docker.io/v1/": {"auth": packed}}})
    )
    assert credentials.server_key("docker.io") == credentials.HUB_SERVER
    found = credentials.lookup("docker.io")
    assert found is not None and found["username"] == "hubuser"


def test_header_round_trip() -> None:
    header = credentials.header_value({"username": "me", "password": "pw"})
    assert authconfig.from_header(header) == {"username": "me", "password": "pw"}
    assert authconfig.from_header("") == {}
    assert authconfig.from_header(credentials.header_value(None)) == {}
    unpadded = base64.urlsafe_b64encode(b'{"username":"a","password":"b"}').decode().rstrip("=")
    assert authconfig.from_header(unpadded)["username"] == "a"
    with pytest.raises(BadParameter, match="X-Registry-Auth"):
        authconfig.from_header("!!!not base64!!!")


def test_auth_bodies() -> None:
    assert authconfig.from_object({"Username": "u", "Password": "p"}) == {
        "username": "u",
        "password": "p",
    }
    packed = base64.b64encode(b"u:p").decode()
    assert authconfig.from_object({"auth": packed})["password"] == "p"
    assert authconfig.registry_of_server("https://index.docker.io/v1/") == "docker.io"
    assert authconfig.registry_of_server("localhost:5000") == "localhost:5000"
    assert authconfig.registry_of_server("http://127.0.0.1:5000/v2/") == "127.0.0.1:5000"
    assert authconfig.credentials({"serveraddress": "x"}) is None


def test_progress_bar() -> None:
    assert bar(0, 100).startswith("[" + " " * 50 + "]")
    assert bar(50, 100).startswith("[" + "=" * 24 + ">")
    assert bar(100, 100).startswith("[" + "=" * 50 + "]")


def test_info_registry_config() -> None:
    from berth.engine.distribution.info import registry_config

    config = {
        "registry-mirrors": ["http://m:5000"],
        "insecure-registries": ["myreg:5000", "10.0.0.0/8"],
    }
    found = registry_config(config)
    assert found["InsecureRegistryCIDRs"] == ["::1/128", "127.0.0.0/8", "10.0.0.0/8"]
    assert found["IndexConfigs"]["myreg:5000"]["Secure"] is False
    assert found["IndexConfigs"]["docker.io"]["Mirrors"] == ["http://m:5000"]
    assert found["Mirrors"] == ["http://m:5000"]
