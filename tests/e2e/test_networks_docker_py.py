"""docker-py (7.x) drives berthd's networks: `networks.create` with an IPAM pool, `containers.run`
on a network with published ports (fixed and random), `network.connect`/`disconnect` on a
running container, `networks.list`/`get`/`prune`, and docker-py's errors for the bad inputs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import needs_busybox
from tests.e2e.containers import container_daemon
from tests.e2e.netkit import WEB, free_port, http_from_host
from tests.integration.daemon import Daemon

docker_py = pytest.importorskip("docker", reason="docker-py is not installed")
pytestmark = [
    needs_busybox,
    pytest.mark.skipif(os.geteuid() != 0, reason="bridge networks need root"),
]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with container_daemon(tmp_path_factory.mktemp("net-py")) as started:
        yield started


@pytest.fixture(scope="module")
def client(daemon: Daemon) -> Iterator[Any]:
    made = docker_py.DockerClient(base_url=daemon.host, version="auto", timeout=60)
    yield made
    for container in made.containers.list(all=True):
        container.remove(force=True)
    made.networks.prune()
    made.close()


def test_network_with_pool_and_published_ports(daemon: Daemon, client: Any) -> None:
    slot = daemon.network_slot
    pool = docker_py.types.IPAMPool(subnet=f"10.{slot}.150.0/24", gateway=f"10.{slot}.150.1")
    network = client.networks.create(
        "pynet", driver="bridge", ipam=docker_py.types.IPAMConfig(pool_configs=[pool])
    )
    assert network.attrs["IPAM"]["Config"][0]["Subnet"] == f"10.{slot}.150.0/24"
    fixed = free_port()
    web = client.containers.run(
        "busybox", WEB, detach=True, name="pyweb", network="pynet",
        ports={"80/tcp": fixed, "8080/tcp": None},
    )  # fmt: skip
    web.reload()
    settings = web.attrs["NetworkSettings"]
    assert settings["Networks"]["pynet"]["IPAddress"].startswith(f"10.{slot}.150.")
    assert settings["Networks"]["pynet"]["Gateway"] == f"10.{slot}.150.1"
    assert settings["Ports"]["80/tcp"] == [{"HostIp": "0.0.0.0", "HostPort": str(fixed)}]
    random_port = int(settings["Ports"]["8080/tcp"][0]["HostPort"])
    assert random_port > 0 and random_port != fixed
    assert b"hello" in http_from_host(fixed)
    network.reload()
    assert list(network.attrs["Containers"]) == [web.id]
    assert [n.name for n in client.networks.list(names=["pynet"])] == ["pynet"]


def test_connect_and_disconnect(client: Any) -> None:
    network = client.networks.create("pyother")
    box = client.containers.run("busybox", ["sleep", "600"], detach=True, name="pybox")
    network.connect(box, aliases=["boxy"])
    box.reload()
    assert set(box.attrs["NetworkSettings"]["Networks"]) == {"bridge", "pyother"}
    _, output = box.exec_run(["ip", "-4", "-o", "addr"])
    assert b"eth1" in output
    network.disconnect(box)
    box.reload()
    assert set(box.attrs["NetworkSettings"]["Networks"]) == {"bridge"}
    box.remove(force=True)
    network.remove()


def test_errors(client: Any) -> None:
    with pytest.raises(docker_py.errors.NotFound):
        client.networks.get("pynosuch")
    client.networks.create("pybusy")
    box = client.containers.run("busybox", ["sleep", "600"], detach=True, network="pybusy")
    with pytest.raises(docker_py.errors.APIError) as caught:
        client.networks.get("pybusy").remove()
    assert caught.value.status_code == 409
    box.remove(force=True)
    client.networks.get("pybusy").remove()
    with pytest.raises(docker_py.errors.APIError) as bad:
        client.networks.create(
            "pybad", ipam=docker_py.types.IPAMConfig(
                pool_configs=[docker_py.types.IPAMPool(subnet="10.1.2.3/33")]
            ),
        )  # fmt: skip
    assert bad.value.status_code == 400
