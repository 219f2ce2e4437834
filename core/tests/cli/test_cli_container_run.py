"""`run`, `create`, `start`, `attach` and `exec` against the fake daemon: the order of calls
(create -> attach -> wait -> start), the hijacked streams both ways, stdin's half-close, exit
statuses (the container's, 125, 126, 127), pulling a missing image, cidfiles, detaching."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from berth.cli.main import cli
from click.testing import CliRunner, Result

CID = "4a5b6c7d8e9f" + "0" * 52
EXEC_ID = "e" * 64


@pytest.fixture
def run(daemon: Any) -> Callable[..., Result]:
    def invoke(*args: str, stdin: bytes = b"") -> Result:
        return CliRunner().invoke(cli, ["-H", daemon.url, *args], input=stdin)

    return invoke


class Container:
    """The fake daemon's one container: its output, exit code, and what it received."""

    def __init__(self, daemon: Any, fakes: ModuleType) -> None:
        self.daemon = daemon
        self.fakes = fakes
        self.started = threading.Event()
        self.exited = threading.Event()
        self.stdin = b""
        self.output: list[tuple[int, bytes]] = [(1, b"hi\n"), (2, b"oops\n")]
        self.exit_code = 0
        self.tty = False
        self.start_error: tuple[int, str] | None = None
        self.create_error: tuple[int, str] | None = None
        self.echo_stdin = False
        self.wait_error = ""
        self.exit_delay = 0.0  # seconds between the end of the output and the exit
        routes = daemon.routes
        routes[("POST", "/containers/create")] = self.create
        routes[("POST", f"/containers/{CID}/attach")] = self.attach
        routes[("POST", f"/containers/{CID}/wait")] = self.wait
        routes[("POST", f"/containers/{CID}/start")] = self.start
        routes[("POST", f"/containers/{CID}/resize")] = fakes.Reply(200, "")
        routes[("POST", f"/containers/{CID}/kill")] = fakes.Reply(204, "")

    def create(self, request: Any) -> Any:
        if self.create_error is not None:
            status, message = self.create_error
            return self.fakes.Reply(status, {"message": message})
        return self.fakes.Reply(201, {"Id": CID, "Warnings": ["be careful"]})

    def start(self, request: Any) -> Any:
        if self.start_error is not None:
            status, message = self.start_error
            self.exited.set()
            return self.fakes.Reply(status, {"message": message})
        self.started.set()
        return self.fakes.Reply(204, "")

    def attach(self, request: Any) -> Any:
        def handler(conn: Any) -> None:
            if not self.started.wait(5):
                return  # start never came (it failed): the client cancels
            if self.echo_stdin:
                self.stdin = conn.read_all()
                conn.sendall(self._frame(1, self.stdin))
            for stream, data in self.output:
                conn.sendall(self._frame(stream, data))
            if not self.echo_stdin:
                self.stdin = conn.read_all()
            if self.exit_delay:
                threading.Timer(self.exit_delay, self.exited.set).start()
            else:
                self.exited.set()

        kind = "raw-stream" if self.tty else "multiplexed-stream"
        return self.fakes.Hijack(handler, f"application/vnd.docker.{kind}")

    def _frame(self, stream: int, data: bytes) -> bytes:
        return data if self.tty else self.fakes.frame(stream, data)

    def wait(self, request: Any) -> Any:
        error = {"Message": self.wait_error} if self.wait_error else None

        def until_exit(_index: int) -> None:
            self.exited.wait(5)

        return self.fakes.Stream(
            items=[{"StatusCode": self.exit_code, "Error": error}], before_each=until_exit
        )

    def request(self, path: str, index: int = 0) -> Any:
        """The `index`th recorded request to `path` (-1: the last)."""
        return [r for r in self.daemon.requests if r.path == path][index]

    def calls(self) -> list[str]:
        return [
            f"{r.method} {r.path}"
            for r in self.daemon.requests
            if r.path not in ("/_ping", f"/containers/{CID}/resize")
        ]


@pytest.fixture
def container(daemon: Any, fakes: ModuleType) -> Iterator[Container]:
    made = Container(daemon, fakes)
    yield made
    made.started.set()
    made.exited.set()


# --- run -----------------------------------------------------------------------------------------


def test_run_calls_create_attach_wait_start_in_that_order(run: Any, container: Container) -> None:
    result = run("run", "--rm", "busybox", "echo", "hi")
    assert result.exit_code == 0, result.output
    assert result.stdout == "hi\n"
    assert result.stderr == "WARNING: be careful\noops\n"
    assert container.calls() == [
        "POST /containers/create",
        f"POST /containers/{CID}/attach",
        f"POST /containers/{CID}/wait",
        f"POST /containers/{CID}/start",
    ]
    create = container.request("/containers/create")
    attach = container.request(f"/containers/{CID}/attach")
    wait = container.request(f"/containers/{CID}/wait")
    body = json.loads(create.body)
    assert body["Cmd"] == ["echo", "hi"] and body["Image"] == "busybox"
    assert body["HostConfig"]["AutoRemove"] is True
    assert body["AttachStdout"] and body["AttachStderr"] and not body["AttachStdin"]
    assert attach.query == {"stream": ["1"], "stdout": ["1"], "stderr": ["1"]}
    assert attach.headers["upgrade"] == "tcp" and attach.headers["connection"] == "Upgrade"
    assert wait.query == {"condition": ["removed"]}


def test_run_exit_status_is_the_containers(run: Any, container: Container) -> None:
    container.exit_code = 3
    result = run("run", "busybox", "sh", "-c", "exit 3")
    assert result.exit_code == 3
    assert container.request(f"/containers/{CID}/wait").query == {"condition": ["next-exit"]}


def test_run_without_stdin_half_closes_at_once(run: Any, container: Container) -> None:
    result = run("run", "busybox", "true", stdin=b"not sent")
    assert result.exit_code == 0
    assert container.stdin == b""


def test_run_interactive_sends_stdin_then_its_end(run: Any, container: Container) -> None:
    container.echo_stdin = True
    container.output = []
    result = run("run", "-i", "busybox", "cat", stdin=b"line one\nline two\n")
    assert result.exit_code == 0, result.output
    assert container.stdin == b"line one\nline two\n"
    assert result.stdout == "line one\nline two\n"
    body = json.loads(container.request("/containers/create").body)
    assert body["OpenStdin"] and body["AttachStdin"] and body["StdinOnce"]
    assert container.request(f"/containers/{CID}/attach").query["stdin"] == ["1"]


def test_run_with_a_tty_copies_raw_output(run: Any, container: Container) -> None:
    container.tty = True
    container.output = [(1, b"raw \x1b[1mbold\x1b[0m\r\n")]
    result = run("run", "-t", "busybox", "sh")
    assert result.exit_code == 0
    assert result.stdout_bytes == b"raw \x1b[1mbold\x1b[0m\r\n"


@pytest.mark.parametrize(
    ("message", "status"),
    [
        (
            'failed to create task: exec: "nope": executable file not found in $PATH',
            127,
        ),
        ("exec: /etc/passwd: permission denied", 126),
        ("exec: /tmp: is a directory", 126),
        ("cgroup: cannot write memory.limit_in_bytes", 125),
    ],
)
def test_run_start_failures_exit_like_docker(
    run: Any, container: Container, message: str, status: int
) -> None:
    container.start_error = (400, message)
    result = run("run", "--rm", "busybox", "nope")
    assert result.exit_code == status
    assert result.stderr.endswith(
        f"berth: Error response from daemon: {message}\n\n"
        "Run 'berth run --help' for more information\n"
    )


def test_run_detached_prints_the_id_and_does_not_attach(run: Any, container: Container) -> None:
    result = run("run", "-d", "busybox", "sleep", "9")
    assert (result.exit_code, result.stdout) == (0, CID + "\n")
    assert container.calls() == ["POST /containers/create", f"POST /containers/{CID}/start"]
    body = json.loads(container.request("/containers/create").body)
    assert not (body["AttachStdout"] or body["AttachStderr"] or body["StdinOnce"])


def test_run_daemon_error_in_create_is_125(run: Any, container: Container) -> None:
    container.create_error = (
        409,
        'Conflict. The container name "/web" is already in use by container "abc". You have '
        "to remove (or rename) that container to be able to reuse that name.",
    )
    result = run("run", "--name", "web", "busybox")
    assert result.exit_code == 125
    assert result.stderr.startswith("berth: Error response from daemon: Conflict.")
    assert container.request("/containers/create").query == {"name": ["web"]}


def test_run_missing_image_tries_to_pull_then_fails_cleanly(
    run: Any, container: Container, fakes: ModuleType
) -> None:
    container.create_error = (404, "No such image: nope:latest")
    container.daemon.routes[("POST", "/images/create")] = fakes.Reply(
        501, {"message": "pulling images is not available yet in this berthd"}
    )
    result = run("run", "nope")
    assert result.exit_code == 125
    assert result.stderr == (
        "Unable to find image 'nope:latest' locally\n"
        "berth: Error response from daemon: pulling images is not available yet in this berthd"
        "\n\nRun 'berth run --help' for more information\n"
    )
    pull = container.daemon.requests[-1]
    assert pull.query == {"fromImage": ["docker.io/library/nope"], "tag": ["latest"]}


def test_run_pull_never_does_not_pull(run: Any, container: Container) -> None:
    container.create_error = (404, "No such image: nope:latest")
    result = run("run", "--pull", "never", "nope")
    assert result.exit_code == 125
    assert "Unable to find image" not in result.stderr
    assert all(r.path != "/images/create" for r in container.daemon.requests)


def test_run_refuses_a_tty_without_a_terminal(run: Any, container: Container) -> None:
    result = run("run", "-it", "busybox", "sh")
    assert (result.exit_code, result.stderr) == (1, "the input device is not a TTY\n")
    assert container.calls() == []


def test_run_detach_and_attach_conflict(run: Any, container: Container) -> None:
    result = run("run", "-d", "-a", "stdout", "busybox")
    assert result.exit_code == 1
    assert result.stderr == "conflicting options: cannot specify both --attach and --detach\n"


def test_run_wait_error_is_125(run: Any, container: Container) -> None:
    container.wait_error = "container state unknown"
    result = run("run", "busybox", "true")
    assert result.exit_code == 125
    assert "Error waiting for container: container state unknown" in result.stderr


def test_run_error_frame_from_the_daemon_fails_the_command(run: Any, container: Container) -> None:
    container.output = [(1, b"partial\n"), (3, b"the monitor went away")]
    container.exit_delay = 0.5  # the stream's error comes first (else docker ignores it too)
    result = run("run", "busybox", "true")
    assert result.exit_code == 1
    assert result.stdout == "partial\n"
    assert "error from daemon in stream: the monitor went away" in result.stderr


def test_run_cannot_reach_the_daemon_is_125(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["-H", f"unix://{tmp_path}/none.sock", "run", "busybox"])
    assert result.exit_code == 125
    assert result.stderr.startswith("berth: Cannot connect to the berth daemon at unix://")


def test_cidfile_is_written_and_refused_when_present(
    run: Any, container: Container, tmp_path: Path
) -> None:
    cidfile = tmp_path / "cid"
    assert run("create", "--cidfile", str(cidfile), "busybox").exit_code == 0
    assert cidfile.read_text() == CID
    again = run("create", "--cidfile", str(cidfile), "busybox")
    assert again.exit_code == 1
    assert "container ID file found" in again.stderr


def test_cidfile_is_removed_when_create_fails(
    run: Any, container: Container, tmp_path: Path
) -> None:
    container.create_error = (500, "no space left")
    cidfile = tmp_path / "cid"
    result = run("create", "--cidfile", str(cidfile), "busybox")
    assert result.exit_code == 1 and not cidfile.exists()


def test_create_prints_the_id_and_warnings(run: Any, container: Container) -> None:
    result = run("create", "--name", "x", "busybox", "sh", "-c", "exit 1")
    assert (result.exit_code, result.stdout) == (0, CID + "\n")
    assert result.stderr == "WARNING: be careful\n"
    body = json.loads(container.request("/containers/create", -1).body)
    assert body["Cmd"] == ["sh", "-c", "exit 1"]


def test_create_daemon_errors_are_plain(run: Any, container: Container) -> None:
    container.create_error = (400, "invalid restart policy 'sometimes'")
    result = run("create", "--restart", "sometimes", "busybox")
    assert result.exit_code == 1
    assert result.stderr == "Error response from daemon: invalid restart policy 'sometimes'\n"


def test_container_run_is_the_same_command(run: Any, container: Container) -> None:
    result = run("container", "run", "--rm", "busybox", "echo", "hi")
    assert (result.exit_code, result.stdout) == (0, "hi\n")


# --- start, attach -------------------------------------------------------------------------------


@pytest.fixture
def stopped(daemon: Any, fakes: ModuleType, container: Container) -> Container:
    inspect = {
        "Id": CID,
        "Config": {"Tty": False, "OpenStdin": True},
        "HostConfig": {"AutoRemove": False},
        "State": {"Running": True, "Paused": False, "Restarting": False},
    }
    daemon.routes[("GET", f"/containers/{CID}/json")] = fakes.Reply(body=inspect)
    daemon.routes[("GET", "/containers/web/json")] = fakes.Reply(body=inspect)
    daemon.routes[("POST", "/containers/web/start")] = fakes.Reply(204, "")
    daemon.routes[("POST", "/containers/web/wait")] = container.wait
    daemon.routes[("POST", "/containers/web/attach")] = container.attach
    daemon.routes[("POST", "/containers/gone/start")] = fakes.Reply(
        404, {"message": "No such container: gone"}
    )
    return container


def test_start_prints_each_name_and_fails_for_missing_ones(run: Any, stopped: Container) -> None:
    result = run("start", "web", "gone")
    assert result.exit_code == 1
    assert result.stdout == "web\n"
    assert result.stderr == (
        "Error response from daemon: No such container: gone\n"
        "Error: failed to start containers: gone\n"
    )


def test_start_attached_streams_and_exits_with_the_status(run: Any, stopped: Container) -> None:
    stopped.exit_code = 7
    result = run("start", "-a", "-i", "web", stdin=b"input")
    assert result.exit_code == 7
    assert result.stdout == "hi\n" and stopped.stdin == b"input"
    paths = [r.path for r in stopped.daemon.requests]
    assert paths.index(f"/containers/{CID}/attach") < paths.index(f"/containers/{CID}/start")


def test_start_refuses_attaching_to_several(run: Any, stopped: Container) -> None:
    result = run("start", "-a", "web", "other")
    assert result.exit_code == 1
    assert result.stderr == "you cannot start and attach multiple containers at once\n"


def test_attach_streams_until_the_end(run: Any, stopped: Container) -> None:
    stopped.started.set()
    stopped.exit_code = 2
    result = run("attach", "--no-stdin", "web")
    assert result.exit_code == 2
    assert (result.stdout, result.stderr) == ("hi\n", "oops\n")
    wait = next(r for r in stopped.daemon.requests if r.path.endswith("/wait"))
    assert wait.query == {}


def test_attach_to_a_stopped_container_is_refused(
    run: Any, stopped: Container, daemon: Any, fakes: ModuleType
) -> None:
    daemon.routes[("GET", "/containers/web/json")] = fakes.Reply(
        body={"Id": CID, "Config": {}, "State": {"Running": False}}
    )
    result = run("attach", "web")
    assert result.exit_code == 1
    assert result.stderr == "You cannot attach to a stopped container, start it first\n"


# --- exec ----------------------------------------------------------------------------------------


@pytest.fixture
def exec_daemon(daemon: Any, fakes: ModuleType) -> Any:
    daemon.routes[("GET", "/containers/web/json")] = fakes.Reply(
        body={"Id": CID, "Config": {}, "State": {"Running": True}}
    )
    daemon.routes[("POST", "/containers/web/exec")] = fakes.Reply(201, {"Id": EXEC_ID})
    received: dict[str, bytes] = {}

    def handler(conn: Any) -> None:
        received["stdin"] = conn.read_all()
        conn.sendall(fakes.frame(1, b"out:" + received["stdin"]))
        conn.sendall(fakes.frame(2, b"err\n"))

    daemon.routes[("POST", f"/exec/{EXEC_ID}/start")] = lambda request: (
        fakes.Reply(200, "") if json.loads(request.body).get("Detach") else fakes.Hijack(handler)
    )
    daemon.routes[("GET", f"/exec/{EXEC_ID}/json")] = fakes.Reply(
        body={"ID": EXEC_ID, "Running": False, "ExitCode": 4}
    )
    daemon.received = received
    return daemon


def test_exec_streams_and_exits_with_the_commands_status(run: Any, exec_daemon: Any) -> None:
    result = run("exec", "-i", "-e", "A=1", "-u", "nobody", "-w", "/tmp", "web", "cat",
                 stdin=b"ping")  # fmt: skip
    assert result.exit_code == 4
    assert (result.stdout, result.stderr) == ("out:ping", "err\n")
    create = next(r for r in exec_daemon.requests if r.path == "/containers/web/exec")
    body = json.loads(create.body)
    assert body == {
        "User": "nobody",
        "Privileged": False,
        "Tty": False,
        "ConsoleSize": None,
        "AttachStdin": True,
        "AttachStderr": True,
        "AttachStdout": True,
        "Detach": False,
        "DetachKeys": "",
        "Env": ["A=1"],
        "WorkingDir": "/tmp",
        "Cmd": ["cat"],
    }


def test_exec_detached_starts_and_returns(run: Any, exec_daemon: Any) -> None:
    result = run("exec", "-d", "web", "sleep", "9")
    assert (result.exit_code, result.stdout) == (0, "")
    start = next(r for r in exec_daemon.requests if r.path.endswith("/start"))
    assert json.loads(start.body) == {"Detach": True, "Tty": False}


def test_exec_needs_a_command(run: Any, exec_daemon: Any) -> None:
    result = run("exec", "web")
    assert result.exit_code == 1
    assert result.stderr.startswith("berth: 'berth exec' requires at least 2 arguments")


def test_exec_in_a_missing_container(run: Any, daemon: Any, fakes: ModuleType) -> None:
    daemon.routes[("GET", "/containers/gone/json")] = fakes.Reply(
        404, {"message": "No such container: gone"}
    )
    result = run("exec", "gone", "true")
    assert (result.exit_code, result.stderr) == (
        1,
        "Error response from daemon: No such container: gone\n",
    )
