"""Issue #4's lifecycle list, the pieces other modules leave out, with the real docker CLI and
docker-py on a real berthd: json-file log rotation (``max-size``/``max-file``), ``wait``
conditions, an event for every transition, OOM (137, ``OOMKilled``, ``oom``), an rlimit above
the host's hard limit refused in one line, and ``docker attach`` again after a detach.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from tests.e2e.archives import BUSYBOX
from tests.e2e.containers import pty_session
from tests.integration.daemon import Daemon, request
from tests.integration.test_containers_api import _empty_and_stop, _new_daemon

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="containers need root"),
    pytest.mark.skipif(not BUSYBOX.is_file(), reason=f"{BUSYBOX} is missing (busybox-static)"),
    pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not on PATH"),
    pytest.mark.timeout(300),
]

NONE = ("--network", "none")


@pytest.fixture(scope="module")
def berthd() -> Iterator[Daemon]:
    daemon = _new_daemon()
    yield daemon
    _empty_and_stop(daemon)


def docker_env(daemon: Daemon) -> dict[str, str]:
    return {
        **os.environ,
        "DOCKER_HOST": daemon.host,
        "DOCKER_CONFIG": str(daemon.root / "docker-config"),
        "DOCKER_CLI_HINTS": "false",
    }


def cli(daemon: Daemon, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args],
        env=docker_env(daemon),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def cli_ok(daemon: Daemon, *args: str) -> str:
    done = cli(daemon, *args)
    assert done.returncode == 0, f"docker {' '.join(args)}: {done.stderr}"
    return done.stdout


@contextlib.contextmanager
def removed_after(daemon: Daemon, *names: str) -> Iterator[None]:
    try:
        yield
    finally:
        for name in names:
            cli(daemon, "rm", "-f", name)


def test_json_file_logs_rotate(berthd: Daemon) -> None:
    script = "i=0; while [ $i -lt 400 ]; do echo line $i; i=$((i+1)); done; echo end; sleep 60"
    with removed_after(berthd, "rotating"):
        cli_ok(berthd, "run", "-d", *NONE, "--name", "rotating", "--log-opt", "max-size=1k",
               "--log-opt", "max-file=2", "busybox", "sh", "-c", script)  # fmt: skip
        deadline = time.monotonic() + 20
        while "end" not in cli_ok(berthd, "logs", "--tail", "1", "rotating"):
            assert time.monotonic() < deadline, "the output did not reach the log"
            time.sleep(0.1)
        path = Path(cli_ok(berthd, "inspect", "-f", "{{.LogPath}}", "rotating").strip())
        files = sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name))
        assert files == [path.name, path.name + ".1"]  # max-file=2: the live file and one more
        assert all((path.parent / f).stat().st_size <= 1024 + 200 for f in files)
        lines = cli_ok(berthd, "logs", "rotating").splitlines()
        assert lines[-1] == "end" and 5 < len(lines) < 400
        numbers = [int(line.split()[1]) for line in lines[:-1]]
        assert numbers == list(range(numbers[0], 400))  # the newest, in order, none missing


def test_wait_conditions_with_docker_py(berthd: Daemon) -> None:
    client = docker.DockerClient(base_url=berthd.host, version="1.44", timeout=60)
    try:
        stopped = client.containers.create("busybox", ["sh", "-c", "exit 5"], network_mode="none")
        stopped.start()
        assert stopped.wait(condition="not-running", timeout=30)["StatusCode"] == 5
        assert stopped.wait(condition="not-running", timeout=30)["StatusCode"] == 5  # at once
        stopped.remove()
        # (each exits two seconds after its start: long after the wait was asked for)
        later = client.containers.run(
            "busybox", ["sh", "-c", "sleep 2; exit 6"], detach=True, network_mode="none"
        )
        assert later.wait(condition="next-exit", timeout=30)["StatusCode"] == 6
        later.remove()
        removed = client.containers.run(
            "busybox", ["sh", "-c", "sleep 2; exit 7"], detach=True, network_mode="none",
            auto_remove=True,
        )  # fmt: skip
        assert removed.wait(condition="removed", timeout=30)["StatusCode"] == 7
        assert removed.id not in {c.id for c in client.containers.list(all=True)}
    finally:
        client.close()


def _events(daemon: Daemon, container: str, since: float) -> list[str]:
    filters = urllib.parse.quote(json.dumps({"container": [container]}))
    path = f"/v1.44/events?since={since:.3f}&until={time.time():.3f}&filters={filters}"
    _status, _headers, body = request(daemon.sock, "GET", path)
    return [json.loads(line)["Action"] for line in body.splitlines() if line.strip()]


def test_every_transition_is_an_event(berthd: Daemon) -> None:
    since = time.time()
    ident = cli_ok(
        berthd, "run", "-d", *NONE, "--init", "--name", "evented", "busybox", "sleep", "60"
    )
    ident = ident.strip()
    cli_ok(berthd, "pause", "evented")
    cli_ok(berthd, "unpause", "evented")
    cli_ok(berthd, "exec", "evented", "true")
    cli_ok(berthd, "rename", "evented", "evented2")
    cli_ok(
        berthd, "kill", "-s", "USR2", "evented2"
    )  # (--init: tini passes it on; sleep dies of it)
    assert cli_ok(berthd, "wait", "evented2") == "140\n"
    cli_ok(berthd, "restart", "-t", "1", "evented2")
    cli_ok(berthd, "stop", "-t", "1", "evented2")
    cli_ok(berthd, "rm", "evented2")
    actions = _events(berthd, ident, since)
    expected = [
        "create", "start", "pause", "unpause", "exec_create: true ", "exec_start: true ",
        "exec_die", "rename", "kill", "die", "start", "restart", "kill", "die", "stop", "destroy",
    ]  # fmt: skip
    assert actions == expected


def test_oom_is_137_with_oomkilled_and_an_event(berthd: Daemon) -> None:
    since = time.time()
    hog = "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done"
    done = cli(berthd, "run", *NONE, "--name", "hog", "--memory", "8m", "--memory-swap", "8m",
               "busybox", "sh", "-c", hog)  # fmt: skip
    with removed_after(berthd, "hog"):
        assert done.returncode == 137, done.stderr
        state = cli_ok(berthd, "inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "hog")
        assert state == "true 137\n"
        ident = cli_ok(berthd, "inspect", "-f", "{{.Id}}", "hog").strip()
        assert "oom" in _events(berthd, ident, since)


def test_an_rlimit_above_the_hosts_hard_limit_is_one_line(berthd: Daemon) -> None:
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard >= 1 << 20:
        pytest.skip("the host's hard nofile limit is high enough for any test value")
    above = str(hard + 1000)
    done = cli(berthd, "run", "--rm", *NONE, "--ulimit", f"nofile={above}:{above}", "busybox",
               "true")  # fmt: skip
    assert done.returncode == 125
    first = done.stderr.splitlines()[0]
    assert first.startswith("docker: Error response from daemon: ") and str(hard) in first
    assert "Traceback" not in done.stderr


def test_docker_attach_again_after_a_detach(berthd: Daemon) -> None:
    env = docker_env(berthd)
    argv = ["docker", "run", "-it", *NONE, "--name", "reattach", "busybox", "sh"]
    with removed_after(berthd, "reattach"):
        with pty_session(argv, env) as term:
            term.expect(r"/ # ")
            term.type("\x10\x11")  # ctrl-p ctrl-q
            assert term.wait() == 0
        for word in ("again", "and again"):
            with pty_session(["docker", "attach", "reattach"], env) as term:
                term.type(f"echo {word}\r")
                term.expect(rf"\r\n{word}\r\n")
                term.type("\x10\x11")
                term.wait()  # (the docker CLI says "read escape sequence" and exits 1)
                assert "read escape sequence" in term.output
        assert cli_ok(berthd, "inspect", "-f", "{{.State.Running}}", "reattach") == "true\n"
        with pty_session(["docker", "attach", "reattach"], env) as term:
            term.type("exit 3\r")
            assert term.wait() == 3
