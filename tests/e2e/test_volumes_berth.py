"""`berth volume …` and `berth run -v` against a real berthd: the same output as the docker CLI
where both print it, volumes that keep a restarted daemon's running containers going, and the
bad inputs (one line, exit 1, nothing lost)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from berth.testing.mounts import filesystem_of, mounts_under

from tests.e2e.conftest import berth, berth_ok, needs_busybox
from tests.e2e.containers import container_daemon, docker
from tests.integration.daemon import Daemon

pytestmark = needs_busybox


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with container_daemon(tmp_path_factory.mktemp("volumes-berth")) as started:
        yield started


def volume_names(daemon: Daemon) -> list[str]:
    return sorted(berth_ok(daemon, "volume", "ls", "-q").split())


def test_create_ls_inspect_rm(daemon: Daemon) -> None:
    assert berth_ok(daemon, "volume", "create", "--label", "k=v", "b-one") == "b-one\n"
    assert berth_ok(daemon, "volume", "create", "b-two") == "b-two\n"
    table = berth_ok(daemon, "volume", "ls", "-f", "name=^b-")
    assert table.splitlines() == ["DRIVER    VOLUME NAME", "local     b-one", "local     b-two"]
    assert berth_ok(daemon, "volume", "ls", "-q", "--filter", "label=k=v") == "b-one\n"
    inspected = json.loads(berth_ok(daemon, "volume", "inspect", "b-one", "b-two"))
    assert [v["Name"] for v in inspected] == ["b-one", "b-two"]
    assert inspected[0]["Labels"] == {"k": "v"} and inspected[1]["Labels"] is None
    assert berth_ok(daemon, "volume", "inspect", "-f", "{{.Driver}}", "b-one") == "local\n"
    assert berth_ok(daemon, "volume", "rm", "b-one", "b-two") == "b-one\nb-two\n"
    assert "b-one" not in volume_names(daemon)


@pytest.mark.skipif(shutil.which("docker") is None, reason="the docker CLI is not on PATH")
def test_same_output_as_the_docker_cli(daemon: Daemon) -> None:
    berth_ok(daemon, "volume", "create", "--label", "x=1", "b-same")
    for args in (
        ["volume", "ls"],
        ["volume", "ls", "--format", "json"],
        ["volume", "ls", "--format", "{{.Name}}: {{.Labels}} {{.Mountpoint}}"],
        ["volume", "inspect", "b-same"],
    ):
        ours = berth(daemon, *args)
        theirs = docker(daemon, *args)
        assert ours.stdout.decode() == theirs.stdout, args
    berth_ok(daemon, "volume", "rm", "b-same")


def test_run_with_a_volume_and_rm_v(daemon: Daemon) -> None:
    berth_ok(daemon, "run", "--name", "b-user", "-v", "/anon", "-v", "b-named:/n", "busybox",
             "sh", "-c", "echo hi > /n/f")  # fmt: skip
    mounts = json.loads(berth_ok(daemon, "inspect", "-f", "{{json .Mounts}}", "b-user"))
    anonymous = next(m["Name"] for m in mounts if m["Destination"] == "/anon")
    in_use = berth(daemon, "volume", "rm", "b-named")
    assert in_use.returncode == 1
    assert in_use.stderr.decode().startswith(
        "Error response from daemon: remove b-named: volume is in use - ["
    )
    berth_ok(daemon, "rm", "-v", "b-user")
    names = volume_names(daemon)
    assert "b-named" in names and anonymous not in names
    out = berth_ok(daemon, "run", "--rm", "-v", "b-named:/n:ro", "busybox", "cat", "/n/f")
    assert out == "hi\n"
    berth_ok(daemon, "volume", "rm", "b-named")


def test_prune_asks_first_and_reports(daemon: Daemon) -> None:
    berth_ok(daemon, "volume", "create", "b-prune")
    declined = berth(daemon, "volume", "prune", "-a", stdin=b"n\n")
    assert declined.returncode == 0
    assert declined.stdout.decode().startswith("WARNING! This will remove all local volumes")
    assert "b-prune" in volume_names(daemon)
    out = berth_ok(daemon, "volume", "prune", "-a", "-f")
    assert out.startswith("Deleted Volumes:\nb-prune\n")
    assert out.endswith("Total reclaimed space: 0B\n")


def test_volume_with_options_outlives_a_daemon_restart(daemon: Daemon) -> None:
    berth_ok(daemon, "volume", "create", "--opt", "type=tmpfs", "--opt", "device=tmpfs",
             "--opt", "o=size=2m", "b-mem")  # fmt: skip
    berth_ok(daemon, "run", "-d", "--name", "b-mem-user", "-v", "b-mem:/m", "busybox",
             "sleep", "300")  # fmt: skip
    berth_ok(daemon, "exec", "b-mem-user", "sh", "-c", "echo in-memory > /m/f")
    mountpoint = Path(json.loads(berth_ok(daemon, "volume", "inspect", "b-mem"))[0]["Mountpoint"])
    assert filesystem_of(mountpoint) == "tmpfs"
    daemon.stop()
    daemon.start()
    assert berth_ok(daemon, "exec", "b-mem-user", "cat", "/m/f") == "in-memory\n"
    berth_ok(daemon, "rm", "-f", "b-mem-user")
    assert not mounts_under(mountpoint), "the last user gone, the tmpfs is unmounted"
    berth_ok(daemon, "volume", "rm", "b-mem")


def test_system_df_verbose_has_the_volume(daemon: Daemon) -> None:
    berth_ok(daemon, "run", "--rm", "-v", "b-df:/d", "busybox", "sh", "-c",
             "head -c 3000 /dev/zero > /d/f")  # fmt: skip
    out = berth_ok(daemon, "system", "df", "-v")
    section = out.split("Local Volumes space usage:")[1]
    assert any(line.split() == ["b-df", "0", "3kB"] for line in section.splitlines()), out
    berth_ok(daemon, "volume", "rm", "b-df")


@pytest.mark.parametrize(
    ("args", "first_line"),
    [
        (["volume", "create", "-d", "nope", "b-x"],
         'Error response from daemon: error looking up volume plugin nope: plugin "nope" not '
         "found"),
        (["volume", "rm", "b-missing"],
         "Error response from daemon: get b-missing: no such volume"),
        (["volume", "inspect", "b-missing"],
         "Error response from daemon: get b-missing: no such volume"),
        (["volume", "create", "--opt", "o=size=1m", "b-x"],
         'Error response from daemon: create b-x: missing required option: "device"'),
        (["volume", "ls", "-f", "dangling=maybe"],
         "Error response from daemon: invalid filter 'dangling=maybe'"),
    ],
)  # fmt: skip
def test_bad_inputs(daemon: Daemon, args: list[str], first_line: str) -> None:
    done = berth(daemon, *args)
    assert done.returncode == 1
    assert done.stderr.decode().splitlines()[0] == first_line
    assert "b-x" not in volume_names(daemon)
