"""docker-py (7.x) moves files in and out of containers on berthd: put_archive, get_archive
(with its stat), export, diff, commit; and the archive API's own options and errors
(HEAD stat header, noOverwriteDirNonDir, copyUIDGID) straight over HTTP."""

from __future__ import annotations

import base64
import io
import json
import tarfile
import time
import uuid
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
    with container_daemon(tmp_path_factory.mktemp("fileops-py")) as started:
        yield started


@pytest.fixture(scope="module")
def client(daemon: Daemon) -> Iterator[Any]:
    made = docker_py.DockerClient(base_url=daemon.host, version="auto", timeout=60)
    yield made
    made.close()


def tar_of(files: dict[str, bytes], dirs: tuple[str, ...] = ()) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name in dirs:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.uid = info.gid = 1234
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def untar(chunks: Iterator[bytes]) -> dict[str, bytes | None]:
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        found: dict[str, bytes | None] = {}
        for member in tar.getmembers():
            handle = tar.extractfile(member) if member.isfile() else None
            found[member.name] = handle.read() if handle is not None else None
        return found


@pytest.fixture
def container(client: Any) -> Iterator[Any]:
    made = client.containers.run(
        "busybox",
        ["sh", "-c", "mkdir /data && echo hi > /data/f; sleep 600"],
        detach=True,
        network_mode="none",
        name="py-fo-" + uuid.uuid4().hex[:8],
    )
    try:
        # the command writes /data/f once started: wait for it, not for a guessed time
        deadline = time.monotonic() + 30
        while made.exec_run(["test", "-f", "/data/f"]).exit_code != 0:
            assert time.monotonic() < deadline, "the container never wrote /data/f"
            time.sleep(0.05)
        yield made
    finally:
        made.remove(force=True)


def test_put_and_get_archive(container: Any) -> None:
    assert container.put_archive("/data", tar_of({"new.txt": b"new\n"}, ("sub",)))
    stream, stat = container.get_archive("/data")
    files = untar(stream)
    assert files["data/new.txt"] == b"new\n"
    assert files["data/f"] == b"hi\n"
    assert "data/sub" in files
    assert stat["name"] == "data"
    assert stat["mode"] & (1 << 31)  # Go's os.ModeDir
    assert container.exec_run("stat -c %u:%g /data/new.txt").output == b"1234:1234\n"


def test_get_archive_of_a_file_and_a_symlink(container: Any) -> None:
    container.exec_run("ln -s /data/f /data/link")
    stream, stat = container.get_archive("/data/f")
    assert untar(stream) == {"f": b"hi\n"}
    assert (stat["name"], stat["size"], stat["linkTarget"]) == ("f", 3, "")
    stream, stat = container.get_archive("/data/link")
    assert "link" in untar(stream)
    assert stat["linkTarget"] == "/data/f"
    assert stat["mode"] & (1 << 27)  # Go's os.ModeSymlink


def test_missing_paths(container: Any) -> None:
    with pytest.raises(docker_py.errors.NotFound) as caught:
        container.get_archive("/nonexistent")
    assert "Could not find the file /nonexistent in container" in str(caught.value)
    with pytest.raises(docker_py.errors.NotFound):
        container.put_archive("/no/such/dir", tar_of({"x": b"x"}))
    with pytest.raises(docker_py.errors.APIError) as caught:
        container.put_archive("/data/f", tar_of({"x": b"x"}))
    assert caught.value.status_code == 400
    assert "extraction point is not a directory" in str(caught.value)


def test_a_bad_tar_is_refused(container: Any) -> None:
    with pytest.raises(docker_py.errors.APIError) as caught:
        container.put_archive("/data", b"this is not a tar archive" * 40)
    assert caught.value.status_code == 400
    assert container.exec_run("cat /data/f").output == b"hi\n"


def test_head_stat_and_no_overwrite_dir_non_dir(client: Any, container: Any) -> None:
    api = client.api
    url = api._url("/containers/{0}/archive", container.id)
    answer = api.head(url, params={"path": "/data/f"})
    assert answer.status_code == 200
    stat = json.loads(base64.b64decode(answer.headers["X-Docker-Container-Path-Stat"]))
    assert (stat["name"], stat["size"]) == ("f", 3)
    assert api.head(url, params={"path": "/nope"}).status_code == 404
    # A directory replacing a file and a file replacing a directory: refused when asked.
    container.exec_run("mkdir /data/d")
    for archive in (tar_of({}, ("f",)), tar_of({"d": b"file"})):
        answer = api._put(
            url, params={"path": "/data", "noOverwriteDirNonDir": "true"}, data=archive
        )
        assert answer.status_code == 400, answer.text
        assert "cannot overwrite" in answer.json()["message"]
    assert container.exec_run("cat /data/f").output == b"hi\n"
    assert container.exec_run("test -d /data/d").exit_code == 0


def test_copy_uid_gid_takes_the_container_user(client: Any) -> None:
    made = client.containers.create("busybox", ["true"], user="nobody", network_mode="none")
    try:
        api = client.api
        url = api._url("/containers/{0}/archive", made.id)
        answer = api._put(
            url, params={"path": "/tmp", "copyUIDGID": "true"}, data=tar_of({"o.txt": b"o"})
        )
        assert answer.status_code == 200, answer.text
        files = api._get(url, params={"path": "/tmp/o.txt"}, stream=True)
        with tarfile.open(fileobj=io.BytesIO(files.content)) as tar:
            member = tar.getmember("o.txt")
        assert (member.uid, member.gid) == (65534, 65534)
    finally:
        made.remove(force=True)


def test_export_diff_commit(client: Any, container: Any) -> None:
    container.exec_run("sh -c 'echo more > /data/more; rm /bin/yes'")
    kinds = {c["Path"]: c["Kind"] for c in container.diff()}
    assert kinds["/data"] == 1 and kinds["/data/more"] == 1 and kinds["/bin/yes"] == 2
    names = set(untar(container.export()))
    assert {"data/f", "data/more", "bin/busybox"} <= names
    assert "bin/yes" not in names
    image = container.commit(
        repository="py-committed",
        tag="v1",
        message="from py",
        author="py",
        changes=["CMD cat /data/more", "LABEL made=by-py"],
    )
    assert image.labels == {"made": "by-py"}
    assert image.attrs["Comment"] == "from py"
    assert client.containers.run("py-committed:v1", remove=True, network_mode="none") == b"more\n"
    container.reload()
    assert container.status == "running"
    client.images.remove("py-committed:v1")


def test_bad_requests_are_one_line_400s(client: Any, container: Any) -> None:
    api = client.api
    archive = api._url("/containers/{0}/archive", container.id)
    for answer in (
        api._get(archive),
        api._put(archive, data=tar_of({"x": b"x"})),
        api._post(api._url("/commit")),
        api._post(api._url("/commit"), params={"container": container.id, "tag": "x"}),
        api._post(
            api._url("/commit"),
            params={"container": container.id},
            data="[1]",
            headers={"Content-Type": "application/json"},
        ),
        api._post(api._url("/commit"), params={"container": container.id, "repo": "Bad Name"}),
    ):
        assert answer.status_code == 400, answer.text
        message = answer.json()["message"]
        assert message and "\n" not in message and "Traceback" not in message
    answer = api._get(api._url("/containers/{0}/export", "nosuchcontainer"))
    assert answer.status_code == 404
    assert answer.json()["message"] == "No such container: nosuchcontainer"
    assert container.exec_run("cat /data/f").output == b"hi\n"


def test_get_archive_of_a_running_root_leaves_pseudo_file_systems_out(container: Any) -> None:
    stream, stat = container.get_archive("/")
    names = set(untar(stream))
    assert stat["name"] == "/"
    assert {"./bin/busybox", "./data/f", "./proc", "./sys"} <= names
    assert not any(n.startswith(("./proc/", "./sys/")) for n in names)
