"""The real docker CLI (28.x) runs containers on berthd: `docker run --rm busybox echo hi`,
`docker run -it busybox sh` in a real terminal (typed input, resize, exit status), `docker
exec -it`, `docker logs -f`, `docker stop`, `docker ps -a`, `docker inspect`, `docker stats
--no-stream`, `docker wait` — and the bad inputs, each one clear line with docker's status.
Where both CLIs print the same thing (ps, inspect formats), their outputs are compared.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import berth, berth_ok, needs_busybox, needs_docker_cli
from tests.e2e.containers import container_daemon, docker, docker_env, pty_session
from tests.integration.daemon import Daemon

pytestmark = [needs_docker_cli, needs_busybox]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with container_daemon(tmp_path_factory.mktemp("docker-cli")) as started:
        yield started


def docker_ok(daemon: Daemon, *args: str) -> str:
    done = docker(daemon, *args)
    assert done.returncode == 0, (
        f"docker {' '.join(args)} failed ({done.returncode}): {done.stderr}\n"
        f"daemon log tail:\n{daemon.log()[-3000:]}"
    )
    return done.stdout


def names(daemon: Daemon) -> list[str]:
    return docker_ok(daemon, "ps", "-a", "--format", "{{.Names}}").split()


def test_docker_run_rm_echo(daemon: Daemon) -> None:
    done = docker(daemon, "run", "--rm", "--name", "dk-echo", "busybox", "echo", "hi")
    assert (done.returncode, done.stdout, done.stderr) == (0, "hi\n", "")
    assert "dk-echo" not in names(daemon)


@pytest.mark.parametrize(
    ("command", "status", "message"),
    [
        (["sh", "-c", "echo out; echo err >&2; exit 3"], 3, ""),
        (["nope"], 127, 'exec: "nope": executable file not found in $PATH'),
        (["/etc/passwd"], 126, "permission denied"),
    ],
)
def test_docker_run_exit_statuses(
    daemon: Daemon, command: list[str], status: int, message: str
) -> None:
    done = docker(daemon, "run", "--rm", "busybox", *command)
    assert done.returncode == status, done.stderr
    if message:
        assert done.stderr.startswith("docker: Error response from daemon: ")
        assert message in done.stderr
    else:
        assert (done.stdout, done.stderr) == ("out\n", "err\n")


def test_docker_run_i_pipes_stdin(daemon: Daemon) -> None:
    done = docker(daemon, "run", "-i", "--rm", "busybox", "tr", "a-z", "A-Z", stdin=b"shout\n")
    assert (done.returncode, done.stdout) == (0, "SHOUT\n")


def test_docker_run_it_in_a_terminal(daemon: Daemon) -> None:
    argv = ["docker", "run", "-it", "--rm", "busybox", "sh"]
    with pty_session(argv, docker_env(daemon), rows=24, columns=80) as term:
        term.expect(r"/ # ")
        term.type("stty size\r")
        term.expect(r"\r\n24 80\r\n")
        term.type("echo $((6*7))\r")
        term.expect(r"\r\n42\r\n")
        term.resize(30, 100)
        time.sleep(0.5)
        term.type("stty size\r")
        term.expect(r"\r\n30 100\r\n")
        term.type("exit 5\r")
        assert term.wait() == 5


def test_docker_exec_it(daemon: Daemon) -> None:
    docker_ok(daemon, "run", "-d", "--name", "dk-exec", "busybox", "sleep", "60")
    try:
        argv = ["docker", "exec", "-it", "dk-exec", "sh"]
        with pty_session(argv, docker_env(daemon), rows=30, columns=90) as term:
            term.expect(r"/ # ")
            term.type("stty size; echo $((2+3))\r")
            term.expect(r"\r\n30 90\r\n5\r\n")
            term.type("exit 6\r")
            assert term.wait() == 6
        plain = docker(daemon, "exec", "dk-exec", "sh", "-c", "echo in; exit 2")
        assert (plain.returncode, plain.stdout) == (2, "in\n")
    finally:
        docker(daemon, "rm", "-f", "dk-exec")


def test_docker_lifecycle(daemon: Daemon) -> None:
    script = "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done"
    ident = docker_ok(daemon, "run", "-d", "--name", "dk-life", "busybox", "sh", "-c", script)
    ident = ident.strip()
    try:
        time.sleep(0.5)
        follow = docker(daemon, "logs", "--tail", "1", "dk-life")
        assert follow.returncode == 0 and follow.stdout.startswith("tick ")
        table = docker_ok(daemon, "ps", "-a", "--filter", "name=dk-life")
        header, row = table.splitlines()
        assert header.split() == [
            "CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES",
        ]  # fmt: skip
        assert row.startswith(ident[:12]) and " Up " in row and row.endswith("dk-life")
        template = "{{.ID}} {{.Image}} {{.Command}} {{.State}} {{.Names}} {{.Labels}}"
        assert docker_ok(daemon, "ps", "-a", "--format", template) == berth_ok(
            daemon, "ps", "-a", "--format", template
        )
        (details,) = json.loads(docker_ok(daemon, "inspect", "dk-life"))
        assert details["Id"] == ident and details["Name"] == "/dk-life"
        assert details["State"]["Running"] is True and details["Config"]["Cmd"][0] == "sh"
        assert docker_ok(daemon, "inspect", "-f", "{{.State.Status}} {{.Name}}", "dk-life") == (
            berth_ok(daemon, "inspect", "-f", "{{.State.Status}} {{.Name}}", "dk-life")
        )
        stats = docker_ok(daemon, "stats", "--no-stream", "dk-life").splitlines()
        assert stats[0].split()[:3] == ["CONTAINER", "ID", "NAME"]
        assert stats[1].startswith(ident[:12]) and " dk-life " in stats[1]
        pids = stats[1].split()[-1]
        assert pids.isdigit() and int(pids) >= 1
        assert docker_ok(daemon, "stop", "-t", "1", "dk-life") == "dk-life\n"
        assert docker_ok(daemon, "wait", "dk-life") == "137\n"
        exited = docker_ok(daemon, "ps", "-a", "--filter", "name=dk-life", "--format",
                           "{{.Status}}")  # fmt: skip
        assert exited.startswith("Exited (137) ")
    finally:
        docker(daemon, "rm", "-f", "dk-life")


def test_docker_logs_follow(daemon: Daemon) -> None:
    docker_ok(daemon, "run", "-d", "--name", "dk-follow", "busybox", "sh", "-c",
              "for i in 1 2 3; do echo line $i; sleep 0.3; done; echo oops >&2")  # fmt: skip
    try:
        done = docker(daemon, "logs", "-f", "dk-follow")
        assert done.returncode == 0
        assert (done.stdout, done.stderr) == ("line 1\nline 2\nline 3\n", "oops\n")
    finally:
        docker(daemon, "rm", "-f", "dk-follow")


def test_docker_wait_and_start_attach(daemon: Daemon) -> None:
    docker_ok(daemon, "create", "--name", "dk-wait", "busybox", "sh", "-c", "echo done; exit 4")
    try:
        started = docker(daemon, "start", "-a", "dk-wait")
        assert (started.returncode, started.stdout) == (4, "done\n")
        assert docker_ok(daemon, "wait", "dk-wait") == "4\n"
    finally:
        docker(daemon, "rm", "-f", "dk-wait")


# --- bad inputs ----------------------------------------------------------------------------------


def test_docker_unknown_image(daemon: Daemon) -> None:
    done = docker(daemon, "run", "--rm", "nope:1")
    assert done.returncode == 125
    assert done.stderr.startswith("Unable to find image 'nope:1' locally\n")


def test_docker_conflicting_names(daemon: Daemon) -> None:
    docker_ok(daemon, "create", "--name", "dk-taken", "busybox")
    try:
        done = docker(daemon, "run", "--name", "dk-taken", "busybox", "true")
        assert done.returncode == 125
        assert 'Conflict. The container name "/dk-taken" is already in use' in done.stderr
    finally:
        docker(daemon, "rm", "dk-taken")


def test_docker_rm_running_needs_force(daemon: Daemon) -> None:
    docker_ok(daemon, "run", "-d", "--name", "dk-busy", "busybox", "sleep", "60")
    try:
        done = docker(daemon, "rm", "dk-busy")
        assert done.returncode == 1
        assert "stop the container before removing or force remove" in done.stderr
        assert len(done.stderr.splitlines()) == 1
    finally:
        assert docker(daemon, "rm", "-f", "dk-busy").returncode == 0
    assert "dk-busy" not in names(daemon)


def test_docker_bad_flag_and_missing_container(daemon: Daemon) -> None:
    flag = docker(daemon, "run", "--memory", "lots", "busybox")
    assert flag.returncode == 125
    assert flag.stderr.splitlines()[0] == (
        'invalid argument "lots" for "-m, --memory" flag: invalid size: \'lots\''
    )
    for args in (["stop", "dk-nope"], ["logs", "dk-nope"], ["exec", "dk-nope", "true"]):
        done = docker(daemon, *args)
        assert done.returncode == 1
        assert done.stderr == "Error response from daemon: No such container: dk-nope\n"
        mine = berth(daemon, *args)
        assert (mine.returncode, mine.stderr.decode()) == (done.returncode, done.stderr)
