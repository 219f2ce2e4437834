"""Containers through the Docker Engine API of a real berthd: docker-py and raw HTTP.

The daemon runs with the overlay storage driver and the default isolation runtime (native
linux); the image is busybox made from the host's static busybox (as tests/e2e make it).
Bad inputs get Docker's statuses and texts; ``kill -9`` of berthd leaves containers running,
their logs intact, and an exit during the outage recorded. Every test removes what it made;
the module's daemon is emptied and stopped at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest

from tests.e2e.archives import BUSYBOX, busybox_rootfs
from tests.integration.daemon import Daemon, make_daemon, request

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="containers need root"),
    pytest.mark.skipif(not BUSYBOX.is_file(), reason=f"{BUSYBOX} is missing (busybox-static)"),
    pytest.mark.timeout(300),
]

API = "/v1.44"


# --- daemons -----------------------------------------------------------------------------------


def _import_busybox(daemon: Daemon) -> str:
    tar = busybox_rootfs(daemon.root / "busybox.tar")
    changes = urllib.parse.quote('CMD ["sh"]')
    status, _, body = request(
        daemon.sock,
        "POST",
        f"{API}/images/create?fromSrc=-&repo=busybox&tag=latest&changes={changes}",
        tar.read_bytes(),
    )
    assert status == 200, body
    tar.unlink()
    return str(json.loads(body.splitlines()[-1])["status"])


def _start(daemon: Daemon) -> None:
    try:
        daemon.start()
    except RuntimeError as exc:
        daemon.cleanup()
        if "cannot be used" in str(exc):
            pytest.skip(f"the overlay driver cannot work here: {exc}")
        raise
    info = json.loads(request(daemon.sock, "GET", f"{API}/info")[2])
    if info["DefaultRuntime"] in ("", "none"):
        _empty_and_stop(daemon)
        pytest.skip(f"no isolation runtime works here: {info['Warnings']}")


def _empty_and_stop(daemon: Daemon) -> None:
    """Remove every container (killing the running ones), stop the daemon, remove its root."""
    try:
        if daemon.proc is not None and daemon.proc.poll() is None:
            listed = json.loads(request(daemon.sock, "GET", f"{API}/containers/json?all=1")[2])
            for item in listed:
                request(daemon.sock, "DELETE", f"{API}/containers/{item['Id']}?force=1&v=1")
        code = daemon.stop()
        assert code == 0, f"berthd did not stop cleanly ({code}):\n{daemon.log()[-3000:]}"
    finally:
        daemon.cleanup()


def _new_daemon() -> Daemon:
    daemon = make_daemon(config={"storage-driver": "overlay"})
    _start(daemon)
    _import_busybox(daemon)
    return daemon


@pytest.fixture(scope="module")
def berthd() -> Iterator[Daemon]:
    daemon = _new_daemon()
    yield daemon
    _empty_and_stop(daemon)


@pytest.fixture
def client(berthd: Daemon) -> Iterator[docker.DockerClient]:
    made = docker.DockerClient(base_url=berthd.host, version="1.44", timeout=60)
    before = {c.id for c in made.containers.list(all=True)}
    yield made
    for container in made.containers.list(all=True):
        if container.id not in before:
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
    made.close()


def _api(daemon: Daemon, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    payload = b"" if body is None else json.dumps(body).encode()
    status, _headers, data = request(daemon.sock, method, API + path, payload)
    if not data.strip():
        return status, None
    try:
        return status, json.loads(data)
    except ValueError:
        return status, data


def _create(daemon: Daemon, **config: Any) -> str:
    name = config.pop("name", "")
    status, body = _api(
        daemon,
        "POST",
        "/containers/create" + (f"?name={name}" if name else ""),
        {"Image": "busybox", **config},
    )
    assert status == 201, body
    return str(body["Id"])


# --- the main job ------------------------------------------------------------------------------


def test_run_rm_echo(client: docker.DockerClient) -> None:
    output = client.containers.run("busybox", ["echo", "hi"], remove=True)
    assert output == b"hi\n"
    assert client.containers.list(all=True, filters={"ancestor": "busybox"}) == []


def test_lifecycle_with_docker_py(client: docker.DockerClient) -> None:
    container = client.containers.run(
        "busybox",
        ["sh", "-c", "echo started; trap 'echo bye; exit 3' TERM; while :; do sleep 0.1; done"],
        detach=True,
        name="lifecycle",
        labels={"suite": "containers"},
    )
    try:
        deadline = time.monotonic() + 10
        while b"started" not in container.logs() and time.monotonic() < deadline:
            time.sleep(0.05)
        container.reload()
        assert container.status == "running"
        assert container.attrs["Config"]["Hostname"] == container.id[:12]
        assert container.attrs["HostConfig"]["Runtime"]
        listed = client.containers.list(filters={"label": "suite=containers"})
        assert [c.id for c in listed] == [container.id]
        code, out = container.exec_run(["sh", "-c", "echo $$ $(hostname); exit 4"])
        assert code == 4 and out.split()[1] == container.id[:12].encode()
        top = container.top()
        assert top["Processes"] and "PID" in top["Titles"]
        stats = container.stats(stream=False)
        assert stats["name"] == "/lifecycle" and stats["memory_stats"]
        container.pause()
        container.reload()
        assert container.status == "paused"
        container.unpause()
        container.stop(timeout=5)
        container.reload()
        assert container.status == "exited"
        assert container.attrs["State"]["ExitCode"] == 3
        assert container.logs() == b"started\nbye\n"
        assert container.wait(timeout=10)["StatusCode"] == 3
        container.rename("renamed")
        assert client.containers.get("renamed").id == container.id
    finally:
        container.remove(force=True)
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(container.id)


def test_isolation_seen_from_inside(client: docker.DockerClient) -> None:
    script = (
        "echo pid=$$; hostname; "
        "ls /proc | grep -c '^[0-9]' ; "
        "grep -c . /proc/self/mountinfo >/dev/null && echo mounts; "
        "cat /proc/self/status | grep CapEff"
    )
    out = client.containers.run("busybox", ["sh", "-c", script], remove=True, network_mode="none")
    lines = out.decode().split("\n")
    assert lines[0] == "pid=1"
    assert int(lines[2]) <= 3  # sh, ls, grep: host processes are not visible
    assert "CapEff:\t00000000a80425fb" in lines  # Docker's 14 default capabilities


# --- the wire: wait, attach, logs --------------------------------------------------------------


def _raw(daemon: Daemon, head: str, body: bytes = b"") -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(30)
    conn.connect(str(daemon.sock))
    conn.sendall(head.encode() + body)
    return conn


def _read_head(conn: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _read_all(conn: socket.socket, rest: bytes = b"") -> bytes:
    data = rest
    while chunk := conn.recv(65536):
        data += chunk
    return data


def _frames(data: bytes) -> list[tuple[int, bytes]]:
    out = []
    while len(data) >= 8:
        size = int.from_bytes(data[4:8], "big")
        out.append((data[0], data[8 : 8 + size]))
        data = data[8 + size :]
    return out


def test_wait_sends_headers_at_once_and_the_body_at_exit(berthd: Daemon) -> None:
    cid = _create(berthd, Cmd=["sh", "-c", "sleep 1; exit 9"])
    try:
        conn = _raw(
            berthd,
            f"POST {API}/containers/{cid}/wait?condition=next-exit HTTP/1.1\r\n"
            "Host: berth\r\nContent-Length: 0\r\n\r\n",
        )
        with conn:
            head, rest = _read_head(conn)  # before the start: the CLI blocks on this
            assert head.startswith(b"HTTP/1.1 200")
            assert _api(berthd, "POST", f"/containers/{cid}/start")[0] == 204
            conn.settimeout(30)
            body = rest
            while b"StatusCode" not in body or not body.rstrip().endswith(b"0"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                body += chunk
        assert b'{"StatusCode": 9, "Error": null}' in body
    finally:
        _api(berthd, "DELETE", f"/containers/{cid}?force=1")


def test_attach_before_start_with_stdin_and_its_end(berthd: Daemon) -> None:
    cid = _create(
        berthd,
        Cmd=["sh", "-c", "tr a-z A-Z; echo done >&2"],
        OpenStdin=True,
        StdinOnce=True,
        AttachStdin=True,
    )
    try:
        conn = _raw(
            berthd,
            f"POST {API}/containers/{cid}/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n"
            "Host: berth\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n",
        )
        with conn:
            head, rest = _read_head(conn)
            assert head.startswith(b"HTTP/1.1 101")
            assert b"application/vnd.docker.multiplexed-stream" in head
            conn.sendall(b"hello from stdin\n")
            conn.shutdown(socket.SHUT_WR)  # stdin ends before the container starts
            assert _api(berthd, "POST", f"/containers/{cid}/start")[0] == 204
            frames = _frames(_read_all(conn, rest))
        assert b"".join(p for s, p in frames if s == 1) == b"HELLO FROM STDIN\n"
        assert b"".join(p for s, p in frames if s == 2) == b"done\n"
    finally:
        _api(berthd, "DELETE", f"/containers/{cid}?force=1")


def test_logs_follow_tail_and_timestamps(client: docker.DockerClient) -> None:
    container = client.containers.run(
        "busybox", ["sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.2; done"], detach=True
    )
    followed = b"".join(container.logs(stream=True, follow=True))
    assert followed == b"line1\nline2\nline3\n"
    assert container.logs(tail=1) == b"line3\n"
    stamped = container.logs(timestamps=True).decode().splitlines()
    assert len(stamped) == 3 and all(line.split(" ")[0].endswith("Z") for line in stamped)
    container.remove()


# --- bad inputs --------------------------------------------------------------------------------


def test_unknown_image_is_404(berthd: Daemon, client: docker.DockerClient) -> None:
    status, body = _api(berthd, "POST", "/containers/create", {"Image": "nope", "Cmd": ["true"]})
    assert (status, body) == (404, {"message": "No such image: nope:latest"})
    with pytest.raises(docker.errors.ImageNotFound):
        client.containers.create("nope:1", ["true"])


@pytest.mark.parametrize(
    ("cmd", "code", "text"),
    [
        (["nope"], 127, 'exec: "nope": executable file not found in $PATH'),
        (["/etc/passwd"], 126, "permission denied"),
    ],
)
def test_bad_commands_give_127_and_126(
    berthd: Daemon, cmd: list[str], code: int, text: str
) -> None:
    cid = _create(berthd, Cmd=cmd)
    try:
        status, body = _api(berthd, "POST", f"/containers/{cid}/start")
        assert status == 400 and text in body["message"]
        assert "\n" not in body["message"]
        state = _api(berthd, "GET", f"/containers/{cid}/json")[1]["State"]
        assert state["ExitCode"] == code and state["Status"] == "created"
        assert text in state["Error"]
    finally:
        assert _api(berthd, "DELETE", f"/containers/{cid}")[0] == 204


def test_name_conflict_is_409(berthd: Daemon) -> None:
    cid = _create(berthd, Cmd=["true"], name="taken")
    try:
        status, body = _api(berthd, "POST", "/containers/create?name=taken", {"Image": "busybox"})
        assert status == 409
        assert body["message"] == (
            f'Conflict. The container name "/taken" is already in use by container "{cid}". '
            "You have to remove (or rename) that container to be able to reuse that name."
        )
        status, body = _api(
            berthd, "POST", "/containers/create?name=bad%20name", {"Image": "busybox"}
        )
        assert status == 400 and "Invalid container name (bad name)" in body["message"]
    finally:
        _api(berthd, "DELETE", f"/containers/{cid}")


def test_remove_running_without_force_is_409(berthd: Daemon) -> None:
    cid = _create(berthd, Cmd=["sleep", "100"], name="busy")
    try:
        assert _api(berthd, "POST", f"/containers/{cid}/start")[0] == 204
        status, body = _api(berthd, "DELETE", f"/containers/{cid}")
        assert status == 409
        assert body["message"].startswith('cannot remove container "/busy": container is running')
        assert _api(berthd, "POST", f"/containers/{cid}/start")[0] == 304
    finally:
        assert _api(berthd, "DELETE", f"/containers/{cid}?force=1")[0] == 204
    assert _api(berthd, "GET", f"/containers/{cid}/json")[0] == 404


def test_bad_signal_is_400_and_other_bad_requests(berthd: Daemon) -> None:
    cid = _create(berthd, Cmd=["sleep", "100"])
    try:
        assert _api(berthd, "POST", f"/containers/{cid}/start")[0] == 204
        status, body = _api(berthd, "POST", f"/containers/{cid}/kill?signal=NOPE")
        assert (status, body) == (400, {"message": "Invalid signal: NOPE"})
        status, body = _api(berthd, "POST", f"/containers/{cid}/wait?condition=sometime")
        assert status == 400 and "invalid condition" in body["message"]
        assert _api(berthd, "GET", f"/containers/{cid}/logs")[0] == 400  # no stream chosen
        assert _api(berthd, "POST", f"/containers/{cid}/kill?signal=KILL")[0] == 204
        status, body = _api(berthd, "POST", f"/containers/{cid}/kill")
        assert status == 409 and body["message"] == f"Container {cid} is not running"
    finally:
        _api(berthd, "DELETE", f"/containers/{cid}?force=1")
    status, body = _api(berthd, "GET", "/containers/nothing-here/json")
    assert (status, body) == (404, {"message": "No such container: nothing-here"})
    status, body = _api(berthd, "GET", '/containers/json?filters={"bogus":["x"]}')
    assert status == 400


def test_events_and_info_counts(berthd: Daemon) -> None:
    since = time.time()
    before = _api(berthd, "GET", "/info")[1]
    cid = _create(berthd, Cmd=["sh", "-c", "exit 2"], Labels={"k": "v"})
    assert _api(berthd, "GET", "/info")[1]["Containers"] == before["Containers"] + 1
    assert _api(berthd, "POST", f"/containers/{cid}/start")[0] == 204
    assert _api(berthd, "POST", f"/containers/{cid}/wait")[1]["StatusCode"] == 2
    assert _api(berthd, "DELETE", f"/containers/{cid}")[0] == 204
    until = time.time() + 0.5
    filters = urllib.parse.quote(json.dumps({"container": [cid]}))
    _status, _, body = request(
        berthd.sock, "GET", f"{API}/events?since={since:.3f}&until={until:.3f}&filters={filters}"
    )
    events = [json.loads(line) for line in body.splitlines() if line.strip()]
    assert [e["Action"] for e in events] == ["create", "start", "die", "destroy"]
    die = events[2]["Actor"]["Attributes"]
    assert die["exitCode"] == "2" and die["image"] == "busybox" and die["k"] == "v"


# --- live restore --------------------------------------------------------------------------------


def test_kill_9_of_berthd_keeps_containers_and_records_exits() -> None:
    daemon = _new_daemon()
    try:
        client = docker.DockerClient(base_url=daemon.host, version="1.44", timeout=60)
        stays = client.containers.run(
            "busybox",
            ["sh", "-c", "i=0; while :; do echo tick$i; i=$((i+1)); sleep 0.2; done"],
            detach=True,
        )
        leaves = client.containers.run(
            "busybox", ["sh", "-c", "echo hello; sleep 1; echo bye; exit 7"], detach=True
        )
        stays.reload()
        pid = stays.attrs["State"]["Pid"]
        client.close()
        assert daemon.stop(signal.SIGKILL) == -signal.SIGKILL
        time.sleep(2.5)  # meanwhile `leaves` exits, and `stays` goes on writing its log
        assert Path(f"/proc/{pid}").exists()
        daemon.start()
        client = docker.DockerClient(base_url=daemon.host, version="1.44", timeout=60)
        stays.reload()
        assert stays.status == "running" and stays.attrs["State"]["Pid"] == pid
        lines = _log_lines_at_least(stays, 10)  # (a loaded machine ticks slower)
        assert lines[:3] == ["tick0", "tick1", "tick2"] and len(lines) >= 10
        assert lines == [f"tick{i}" for i in range(len(lines))]  # nothing lost, nothing doubled
        # `leaves` exited while no daemon ran (or, on a loaded machine, exits now): either
        # way its exit is recorded, with its status and all its output
        assert leaves.wait(timeout=30)["StatusCode"] == 7
        leaves.reload()
        assert leaves.status == "exited" and leaves.attrs["State"]["ExitCode"] == 7
        assert leaves.logs() == b"hello\nbye\n"
        code, out = stays.exec_run(["echo", "still here"])
        assert (code, out) == (0, b"still here\n")
        stays.stop(timeout=1)
        stays.reload()
        assert stays.status == "exited"
        client.close()
    finally:
        _empty_and_stop(daemon)


def _log_lines_at_least(container: Any, count: int, timeout: float = 30.0) -> list[str]:
    """The container's log lines once there are ``count`` of them (or at the deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        lines: list[str] = container.logs().decode().split()
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.2)


def test_a_clean_daemon_stop_leaves_containers_running_and_mounted() -> None:
    daemon = _new_daemon()
    try:
        client = docker.DockerClient(base_url=daemon.host, version="1.44", timeout=60)
        running = client.containers.run("busybox", ["sleep", "1000"], detach=True)
        running.reload()
        merged = running.attrs["GraphDriver"]["Data"]["MergedDir"]
        pid = running.attrs["State"]["Pid"]
        client.close()
        assert daemon.stop() == 0  # SIGTERM: a clean stop
        assert Path(f"/proc/{pid}").exists()
        mounts = Path("/proc/self/mountinfo").read_text()
        assert f" {merged} " in mounts  # the driver left the running container's mount alone
        daemon.start()
        client = docker.DockerClient(base_url=daemon.host, version="1.44", timeout=60)
        running.reload()
        assert running.status == "running" and running.attrs["State"]["Pid"] == pid
        running.remove(force=True)
        assert f" {merged} " not in Path("/proc/self/mountinfo").read_text()
        client.close()
    finally:
        _empty_and_stop(daemon)


def test_every_usable_runtime_runs_a_container(berthd: Daemon, client: docker.DockerClient) -> None:
    runtimes = sorted(_api(berthd, "GET", "/info")[1]["Runtimes"])
    assert runtimes, "no isolation runtime is usable"
    for runtime in runtimes:
        out = client.containers.run(
            "busybox", ["sh", "-c", "echo $$"], remove=True, runtime=runtime, network_mode="none"
        )
        assert out == b"1\n", runtime
    status, body = _api(
        berthd,
        "POST",
        "/containers/create",
        {"Image": "busybox", "HostConfig": {"Runtime": "nope"}},
    )
    assert status == 400 and body["message"].startswith("unknown or invalid runtime name: nope")
