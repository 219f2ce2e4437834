"""docker-py against a real berthd."""

from __future__ import annotations

import docker
import pytest

from tests.integration.daemon import Daemon


@pytest.fixture
def client(berthd: Daemon):  # type: ignore[no-untyped-def]
    c = docker.DockerClient(base_url=berthd.host, version="auto", timeout=10)
    yield c
    c.close()


def test_ping_version_info(client) -> None:  # type: ignore[no-untyped-def]
    assert client.ping() is True
    version = client.version()
    assert version["ApiVersion"] == "1.44"
    assert version["MinAPIVersion"] == "1.24"
    assert version["Platform"]["Name"] == "Berth Engine"
    info = client.info()
    assert info["OSType"] == "linux"
    assert info["NCPU"] >= 1 and info["MemTotal"] > 0
    assert info["CgroupVersion"] in ("1", "2")
    assert "Driver" in info and "BerthPlugins" in info


def test_pinned_old_api_version_works(berthd: Daemon) -> None:
    c = docker.DockerClient(base_url=berthd.host, version="1.24", timeout=10)
    try:
        assert c.version()["ApiVersion"] == "1.44"
    finally:
        c.close()


def test_too_new_api_version_is_400(berthd: Daemon) -> None:
    c = docker.APIClient(base_url=berthd.host, version="1.99", timeout=10)
    try:
        with pytest.raises(docker.errors.APIError) as caught:
            c.info()
        assert caught.value.status_code == 400
        assert "client version 1.99 is too new" in str(caught.value)
    finally:
        c.close()


def test_tcp_listener_serves_docker_py(fresh_daemon: Daemon) -> None:
    import socket as socket_module

    with socket_module.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fresh_daemon.args = ["-H", f"tcp://127.0.0.1:{port}"]
    fresh_daemon.start()
    c = docker.DockerClient(base_url=f"tcp://127.0.0.1:{port}", version="auto", timeout=10)
    try:
        assert c.ping() is True
        assert c.version()["ApiVersion"] == "1.44"
    finally:
        c.close()
