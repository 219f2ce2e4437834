"""docker-py (7.x) runs containers on berthd: `containers.run(..., remove=True)` returns the
output, a failing command raises ContainerError with its status, detached containers are
listed, logged, exec'd into, waited for and removed; the bad inputs raise docker-py's errors."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import needs_busybox
from tests.e2e.containers import container_daemon
from tests.integration.daemon import Daemon

docker_py = pytest.importorskip("docker", reason="docker-py is not installed")
pytestmark = needs_busybox


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with container_daemon(tmp_path_factory.mktemp("docker-py")) as started:
        yield started


@pytest.fixture(scope="module")
def client(daemon: Daemon) -> Iterator[Any]:
    made = docker_py.DockerClient(base_url=daemon.host, version="auto", timeout=60)
    yield made
    made.close()


def test_run_remove_returns_the_output(client: Any) -> None:
    output = client.containers.run("busybox", ["echo", "hi"], remove=True)
    assert output == b"hi\n"
    both = client.containers.run(
        "busybox", ["sh", "-c", "echo out; echo err >&2"], remove=True, stderr=True
    )
    assert sorted(both.splitlines()) == [b"err", b"out"]


def test_run_failure_raises_container_error(client: Any) -> None:
    with pytest.raises(docker_py.errors.ContainerError) as caught:
        client.containers.run("busybox", ["sh", "-c", "echo bad >&2; exit 3"], remove=True)
    assert caught.value.exit_status == 3
    assert b"bad" in caught.value.stderr


def test_run_missing_command_is_an_api_error(client: Any) -> None:
    with pytest.raises(docker_py.errors.APIError) as caught:
        client.containers.run("busybox", ["nope"], remove=True)
    assert 'exec: "nope": executable file not found in $PATH' in str(caught.value)


def test_detached_container(client: Any) -> None:
    container = client.containers.run(
        "busybox", ["sh", "-c", "echo started; sleep 60"], detach=True, name="py-detached"
    )
    try:
        container.reload()
        assert container.status == "running"
        assert [c.name for c in client.containers.list(filters={"name": "py-detached"})] == [
            "py-detached"
        ]
        result = container.exec_run(["sh", "-c", "echo from exec; exit 2"])
        assert (result.exit_code, result.output) == (2, b"from exec\n")
        for _ in range(50):  # the echo may still be on its way to the log
            if container.logs() == b"started\n":
                break
            time.sleep(0.1)
        assert container.logs() == b"started\n"
        container.kill()
        assert container.wait()["StatusCode"] == 137
        container.reload()
        assert container.status == "exited"
    finally:
        container.remove(force=True)
    assert client.containers.list(all=True, filters={"name": "py-detached"}) == []


def test_bad_inputs(client: Any) -> None:
    with pytest.raises(docker_py.errors.NotFound):
        client.containers.get("py-nope")
    with pytest.raises((docker_py.errors.ImageNotFound, docker_py.errors.APIError)):
        client.containers.run("nope:1", remove=True)
    kept = client.containers.create("busybox", ["sleep", "60"], name="py-taken")
    try:
        with pytest.raises(docker_py.errors.APIError) as caught:
            client.containers.create("busybox", name="py-taken")
        assert caught.value.status_code == 409
        kept.start()
        with pytest.raises(docker_py.errors.APIError) as running:
            kept.remove()
        assert running.value.status_code == 409
    finally:
        kept.remove(force=True)
