"""docker-py (7.x) and the embedded DNS: a network made with ``networks.create``, containers
run on it with ``network=`` and joined with ``connect(aliases=...)`` find each other by name
and alias; busybox ``nslookup`` inside the containers asks."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import needs_busybox
from tests.e2e.containers import container_daemon

docker_py = pytest.importorskip("docker", reason="docker-py is not installed")
pytestmark = [
    needs_busybox,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="bridge networks need root"),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with container_daemon(tmp_path_factory.mktemp("dns-py")) as daemon:
        made = docker_py.DockerClient(base_url=daemon.host, version="auto", timeout=60)
        try:
            yield made
        finally:
            for container in made.containers.list(all=True):
                container.remove(force=True)
            for network in made.networks.list(names=["dnspy"]):
                network.remove()
            made.close()


def _addresses(output: bytes) -> list[str]:
    after_name = output.decode().split("Name:", 1)[1]
    return [line.split()[-1] for line in after_name.splitlines() if line.startswith("Address")]


def test_names_and_aliases_with_docker_py(client: Any) -> None:
    network = client.networks.create("dnspy", driver="bridge")
    server = client.containers.run("busybox", ["sleep", "600"], name="dnspy-server", detach=True)
    network.connect(server, aliases=["backend"])
    asker = client.containers.run(
        "busybox", ["sleep", "600"], name="dnspy-asker", network="dnspy", detach=True
    )
    server.reload()
    address = server.attrs["NetworkSettings"]["Networks"]["dnspy"]["IPAddress"]
    for name in ("dnspy-server", "backend"):
        code, output = asker.exec_run(["nslookup", name])
        assert code == 0, output
        assert _addresses(output) == [address]
    code, output = server.exec_run(["nslookup", "dnspy-asker"])
    assert code == 0, output
