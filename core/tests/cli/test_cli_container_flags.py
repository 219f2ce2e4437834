"""`run`/`create` flags: the body of `POST /containers/create` and the errors of bad flags.

Where the real docker CLI is installed, both CLIs run the same command line against the same
fake daemon, and the request bodies, error messages and exit statuses must be the same
(`docker` read as `berth`). The other tests pin the shapes without docker.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from berth.cli import flagvalues
from berth.cli.dockererrors import FlagError
from berth.cli.main import cli
from click.testing import CliRunner, Result

needs_docker_cli = pytest.mark.skipif(
    shutil.which("docker") is None, reason="the docker CLI is not on PATH (for comparisons)"
)


@pytest.fixture
def capture(daemon: Any, fakes: ModuleType) -> Any:
    """Every create is answered with an error: the request is all we want."""
    daemon.routes[("POST", "/containers/create")] = fakes.Reply(500, {"message": "captured"})
    return daemon


@pytest.fixture
def berth_cli(daemon: Any) -> Callable[..., Result]:
    def invoke(*args: str) -> Result:
        env = {"FROM_ENV": "yes"}
        return CliRunner(env=env).invoke(cli, ["-H", daemon.url, *args])

    return invoke


def create_bodies(daemon: Any, since: int) -> list[dict[str, Any]]:
    return [
        {"query": r.query, "body": json.loads(r.body)}
        for r in daemon.requests[since:]
        if r.path == "/containers/create"
    ]


def sorted_env(request: dict[str, Any]) -> dict[str, Any]:
    """docker sends -e variables in a random order (a Go map in between): compare as sets."""
    body = dict(request["body"])
    if body.get("Env"):
        body["Env"] = sorted(body["Env"])
    return {"query": request["query"], "body": body}


COMPARED = [
    ("run", "--rm", "busybox", "echo", "hi"),
    ("create", "--name", "web", "-it", "busybox", "sh"),
    ("run", "-i", "-a", "stdin", "-a", "STDOUT", "busybox"),
    (
        "run", "-d", "-e", "A=1", "-e", "FROM_ENV", "-e", "UNSET", "-l", "x=y", "-u", "1000:1000",
        "-w", "/tmp", "--entrypoint", "/bin/sh", "-h", "myhost", "--network", "none",
        "--read-only", "--privileged", "--cap-add", "net_admin", "--cap-drop", "ALL",
        "--security-opt", "no-new-privileges", "--security-opt", "seccomp=unconfined", "-m", "64m",
        "--memory-swap", "128m", "--cpus", "1.5", "--cpu-shares", "512", "--cpuset-cpus", "0",
        "--pids-limit", "10", "--device", "/dev/null:/dev/xnull:rw", "--ulimit", "nofile=100:200",
        "--init", "--restart", "on-failure:3", "--stop-signal", "SIGINT", "--stop-timeout", "5",
        "--shm-size", "1g", "--runtime", "runc", "-p", "8080:80", "-p", "127.0.0.1:53:53/udp",
        "--expose", "9000-9001", "-v", "/tmp:/data:ro", "-v", "anon", "--mount",
        "type=tmpfs,target=/t,tmpfs-size=1m", "--tmpfs", "/run:size=1m", "--dns", "1.1.1.1",
        "--add-host", "h:1.2.3.4", "--sysctl", "net.ipv4.ip_forward=1", "--health-cmd", "true",
        "--health-interval", "5s", "--log-opt", "max-size=1m", "--annotation", "a=b", "busybox",
        "-c", "echo hi",
    ),
    (
        "run", "-P", "--dns-search", "example.com", "--dns-option", "ndots:1", "--group-add",
        "10", "--cgroupns", "private", "--ipc", "host", "--uts", "host", "--userns", "host",
        "--oom-kill-disable", "--oom-score-adj", "5", "--memory-swappiness", "10",
        "--memory-reservation", "10m", "--cpu-period", "1000", "--cpu-quota", "500",
        "--blkio-weight", "100", "--blkio-weight-device", "/dev/sda:100", "--device-read-bps",
        "/dev/sda:1mb", "--device-write-iops", "/dev/sda:100", "--cgroup-parent", "/x",
        "--volumes-from", "other", "--storage-opt", "size=1G", "--link", "a:b", "--domainname",
        "d", "--log-driver", "none", "--health-timeout", "1s", "--health-retries", "2",
        "--device", "/dev/fuse", "--security-opt", "systempaths=unconfined", "busybox",
    ),
    ("run", "--network", "mynet", "--network-alias", "y", "--ip", "10.0.0.2", "busybox"),
    ("run", "--entrypoint=", "--memory-swap", "-1", "-e=X=1", "--rm=true", "busybox"),
]  # fmt: skip

BAD = [
    ("run", "-m", "abc", "busybox"),
    ("run", "--cpus", "0.0000000001", "busybox"),
    ("run", "--ulimit", "nofile=10:5", "busybox"),
    ("run", "-e", "=", "busybox"),
    ("run", "--restart", "always", "--rm", "busybox"),
    ("run", "--pull", "bogus", "busybox"),
    ("run", "--pid", "foo", "busybox"),
    ("run", "-p", "abc", "busybox"),
    ("run", "--device", "relative", "busybox"),
    ("run", "--security-opt", "foo", "busybox"),
    ("run", "--env-file", "/nonexistent/env", "busybox"),
    ("run", "--foo", "busybox"),
    ("run", "-x", "busybox"),
    ("run", "--name"),
    ("run",),
    ("run", "--rm=maybe", "busybox"),
    ("run", "--stop-timeout", "abc", "busybox"),
    ("run", "--mount", "type=bind", "busybox"),
    ("run", "--network-alias", "x", "busybox"),
    ("create", "--health-interval", "soon", "busybox"),
    ("stop",),
    ("rename", "a"),
    ("ps", "-n", "x"),
]  # fmt: skip


def _docker(daemon: Any, tmp_path: Path, args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DOCKER_HOST": daemon.url,
        "DOCKER_CONFIG": str(tmp_path / "docker-config"),
        "DOCKER_CLI_HINTS": "false",
        "FROM_ENV": "yes",
    }
    return subprocess.run(
        ["docker", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )


@needs_docker_cli
@pytest.mark.parametrize("args", COMPARED, ids=lambda a: " ".join(a)[:60])
def test_create_body_is_dockers(
    capture: Any, berth_cli: Any, tmp_path: Path, args: tuple[str, ...]
) -> None:
    start = len(capture.requests)
    docker = _docker(capture, tmp_path, args)
    middle = len(capture.requests)
    mine = berth_cli(*args)
    theirs = [sorted_env(r) for r in create_bodies(capture, start)[:1]]
    ours = [sorted_env(r) for r in create_bodies(capture, middle)]
    assert theirs and ours == theirs
    assert mine.exit_code == docker.returncode
    assert mine.stderr == docker.stderr.replace("docker", "berth")


@needs_docker_cli
@pytest.mark.parametrize("args", BAD, ids=lambda a: " ".join(a)[:60])
def test_bad_inputs_fail_as_dockers_do(
    capture: Any, berth_cli: Any, tmp_path: Path, args: tuple[str, ...]
) -> None:
    docker = _docker(capture, tmp_path, args)
    mine = berth_cli(*args)
    assert (mine.exit_code, mine.stderr) == (
        docker.returncode,
        docker.stderr.replace("docker", "berth"),
    )
    assert mine.exit_code != 0


# --- without docker ------------------------------------------------------------------------------


def test_default_body(capture: Any, berth_cli: Any) -> None:
    assert berth_cli("run", "--rm", "busybox", "echo", "hi").exit_code == 125
    (request,) = create_bodies(capture, 0)
    body = request["body"]
    assert body["Cmd"] == ["echo", "hi"] and body["Env"] is None and body["Labels"] == {}
    host = body["HostConfig"]
    assert host["AutoRemove"] is True and host["NetworkMode"] == "default"
    assert host["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert host["MemorySwappiness"] == -1 and host["PidsLimit"] == 0
    assert list(body["NetworkingConfig"]["EndpointsConfig"]) == ["default"]


def test_limits_and_security_flags(capture: Any, berth_cli: Any) -> None:
    args = ("run", "--memory", "64m", "--memory-swap", "-1", "--cpus", "0.5", "--pids-limit",
            "100", "--cap-add", "sys_admin", "--cap-add", "SYS_ADMIN", "--cap-drop", "all",
            "--ulimit", "nofile=10", "--ulimit", "nofile=20:30", "--network", "host",
            "--security-opt", "seccomp=unconfined", "busybox")  # fmt: skip
    berth_cli(*args)
    host = create_bodies(capture, 0)[0]["body"]["HostConfig"]
    assert (host["Memory"], host["MemorySwap"], host["NanoCpus"]) == (64 << 20, -1, 500_000_000)
    assert host["PidsLimit"] == 100
    assert (host["CapAdd"], host["CapDrop"]) == (["CAP_SYS_ADMIN"], ["ALL"])
    assert host["Ulimits"] == [{"Name": "nofile", "Hard": 30, "Soft": 20}]
    assert host["NetworkMode"] == "host"
    assert host["SecurityOpt"] == ["seccomp=unconfined"]


def test_env_file_and_label_file(capture: Any, berth_cli: Any, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("\ufeff# comment\nA=1\n  B=two words\nFROM_ENV\nNOT_SET\n\n")
    labels = tmp_path / "labels"
    labels.write_text("team=core\n")
    berth_cli("run", "--env-file", str(env_file), "-e", "C=3", "--label-file", str(labels),
              "busybox")  # fmt: skip
    body = create_bodies(capture, 0)[0]["body"]
    assert body["Env"] == ["A=1", "B=two words", "FROM_ENV=yes", "C=3"]
    assert body["Labels"] == {"team": "core"}
    bad = tmp_path / "bad"
    bad.write_text("A B=1\n")
    result = berth_cli("run", "--env-file", str(bad), "busybox")
    assert result.exit_code == 125
    assert f"invalid env file ({bad}): variable 'A B' contains whitespaces" in result.stderr


def test_value_readers() -> None:
    assert flagvalues.ram_in_bytes("1.5g") == 1536 << 20
    assert flagvalues.ram_in_bytes("100 KB") == 100 << 10
    assert flagvalues.ram_in_bytes("512") == 512
    for bad, message in (("12x", "invalid suffix: 'x'"), ("-1m", "invalid size: '-1m'"),
                         ("mb", "invalid size: 'mb'")):  # fmt: skip
        with pytest.raises(FlagError, match=message):
            flagvalues.ram_in_bytes(bad)
    assert flagvalues.parse_cpus("1.5") == 1_500_000_000
    assert flagvalues.parse_cpus("3/2") == 1_500_000_000
    with pytest.raises(FlagError, match="failed to parse two as a rational number"):
        flagvalues.parse_cpus("two")
    assert flagvalues.parse_duration("1m30s") == 90_000_000_000
    with pytest.raises(FlagError, match='time: invalid duration "5"'):
        flagvalues.parse_duration("5")
    with pytest.raises(FlagError, match="value out of range"):
        flagvalues.parse_int("9" * 20)
    assert flagvalues.parse_ulimit("nproc=-1") == {"Name": "nproc", "Hard": -1, "Soft": -1}
    assert flagvalues.validate_ip("::ffff:1.2.3.4") == "1.2.3.4"
    assert flagvalues.validate_dns_search("example.com.") == "example.com"
    assert flagvalues.parse_mount("type=bind,src=/a,dst=/b,ro") == {
        "Type": "bind", "Source": "/a", "Target": "/b", "ReadOnly": True,
    }  # fmt: skip
