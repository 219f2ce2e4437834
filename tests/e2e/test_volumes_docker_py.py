"""docker-py (7.x) uses volumes on berthd: `volumes.create/get/list/prune`, `Volume.remove`,
`containers.run(volumes=...)` and `mounts=[Mount(...)]`, and the errors it raises for bad
inputs (NotFound, APIError with 409 and 400)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import needs_busybox
from tests.e2e.containers import container_daemon
from tests.integration.daemon import Daemon

docker_py = pytest.importorskip("docker", reason="docker-py is not installed")
pytestmark = needs_busybox


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with container_daemon(tmp_path_factory.mktemp("volumes-docker-py")) as started:
        yield started


@pytest.fixture(scope="module")
def client(daemon: Daemon) -> Iterator[Any]:
    made = docker_py.DockerClient(base_url=daemon.host, version="auto", timeout=60)
    yield made
    for container in made.containers.list(all=True):
        container.remove(force=True)
    for volume in made.volumes.list():
        volume.remove()
    made.close()


def test_create_get_list_remove(client: Any) -> None:
    made = client.volumes.create("py-vol", labels={"owner": "py"}, driver="local")
    assert made.name == "py-vol"
    got = client.volumes.get("py-vol")
    assert got.attrs["Labels"] == {"owner": "py"}
    assert got.attrs["Driver"] == "local"
    assert got.attrs["Mountpoint"].endswith("/py-vol/_data")
    names = [v.name for v in client.volumes.list(filters={"label": "owner=py"})]
    assert names == ["py-vol"]
    got.remove()
    with pytest.raises(docker_py.errors.NotFound):
        client.volumes.get("py-vol")


def test_data_persists_across_containers(client: Any) -> None:
    client.containers.run(
        "busybox",
        ["sh", "-c", "echo kept > /v/f"],
        volumes={"py-persist": {"bind": "/v", "mode": "rw"}},
        remove=True,
    )
    out = client.containers.run(
        "busybox", ["cat", "/v/f"], volumes=["py-persist:/v:ro"], remove=True
    )
    assert out == b"kept\n"
    client.volumes.get("py-persist").remove()


def test_mounts_bind_and_tmpfs(client: Any, tmp_path: Path) -> None:
    (tmp_path / "in").write_text("from host")
    mounts = [
        docker_py.types.Mount("/h", str(tmp_path), type="bind", read_only=True),
        docker_py.types.Mount("/t", None, type="tmpfs", tmpfs_size=1024 * 1024),
    ]
    out = client.containers.run(
        "busybox",
        ["sh", "-c", "cat /h/in; echo; df -k /t | tail -1; touch /h/x 2>/dev/null || echo ro"],
        mounts=mounts,
        remove=True,
    )
    lines = out.decode().splitlines()
    assert lines[0] == "from host"
    assert lines[1].split()[:2] == ["tmpfs", "1024"]
    assert lines[2] == "ro"


def test_remove_in_use_is_a_409(client: Any) -> None:
    container = client.containers.create("busybox", ["true"], volumes=["py-busy:/b"])
    try:
        with pytest.raises(docker_py.errors.APIError) as caught:
            client.volumes.get("py-busy").remove()
        assert caught.value.status_code == 409
        assert "volume is in use" in str(caught.value)
    finally:
        container.remove(v=True)
    client.volumes.get("py-busy").remove()


def test_prune_reports_what_went(client: Any) -> None:
    client.volumes.create("py-prune")
    report = client.volumes.prune(filters={"all": "true"})
    assert "py-prune" in (report["VolumesDeleted"] or [])
    assert isinstance(report["SpaceReclaimed"], int)


def test_bad_inputs(client: Any) -> None:
    with pytest.raises(docker_py.errors.NotFound):
        client.volumes.create("py-x", driver="no-such-driver")
    with pytest.raises(docker_py.errors.APIError) as caught:
        client.volumes.create("py-y", driver_opts={"colour": "blue"})
    assert caught.value.status_code == 400
    with pytest.raises(docker_py.errors.APIError) as caught:
        client.containers.create("busybox", ["true"], volumes=["relative/dir:/x"])
    assert caught.value.status_code == 400
    assert "includes invalid characters for a local volume name" in str(caught.value)
    with pytest.raises(docker_py.errors.APIError) as caught:
        client.api.create_container(
            "busybox", ["true"], host_config={"Mounts": [{"Type": "nfs", "Target": "/x"}]}
        )
    assert caught.value.status_code == 400
    assert "mount type unknown" in str(caught.value)
    names = {v.name for v in client.volumes.list()}
    assert not names & {"py-x", "py-y"}
