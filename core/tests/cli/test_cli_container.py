"""The container commands that do not attach, against the fake daemon: `ps` (docker's columns
and formats), `stop`/`kill`/`restart`/`rm`/`pause`/`unpause`/`wait`/`rename`, `top`, `port`,
`logs`, `stats`, `container prune`, `inspect` (containers first, then images) — their queries,
output and exit statuses, bad inputs included."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest
from berth.cli import container_views as views
from berth.cli.main import cli
from click.testing import CliRunner, Result

CID = "4a5b6c7d8e9f" + "1" * 52
OTHER = "0123456789ab" + "2" * 52
IMAGE_ID = "sha256:" + "b" * 64


@pytest.fixture
def run(daemon: Any) -> Callable[..., Result]:
    def invoke(*args: str, stdin: str | None = None) -> Result:
        return CliRunner().invoke(cli, ["-H", daemon.url, *args], input=stdin)

    return invoke


@pytest.fixture
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def summaries(now: float) -> list[dict[str, Any]]:
    return [
        {
            "Id": CID,
            "Names": ["/web"],
            "Image": "busybox",
            "ImageID": IMAGE_ID,
            "Command": "sh -c 'while true; do sleep 1; done'",
            "Created": int(now) - 3,
            "Ports": [
                {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
                {"PrivatePort": 53, "Type": "udp"},
                {"PrivatePort": 54, "Type": "udp"},
            ],
            "Labels": {"b": "2", "a": "1"},
            "State": "running",
            "Status": "Up 3 seconds",
            "NetworkSettings": {"Networks": {"none": {}}},
            "Mounts": [],
        },
        {
            "Id": OTHER,
            "Names": ["/old"],
            "Image": "docker.io/library/busybox:1.36",
            "ImageID": "sha256:" + "c" * 64,
            "Command": "true",
            "Created": int(now) - 150,
            "Ports": [],
            "Labels": {},
            "State": "exited",
            "Status": "Exited (0) 2 minutes ago",
            "SizeRw": 12000,
            "SizeRootFs": 4_300_000,
        },
    ]


@pytest.fixture
def ps_daemon(daemon: Any, fakes: ModuleType) -> Any:
    daemon.routes[("GET", "/containers/json")] = lambda request: fakes.Reply(
        body=summaries(time.time())
    )
    return daemon


# --- ps ------------------------------------------------------------------------------------------


def test_ps_prints_dockers_columns(run: Any, ps_daemon: Any) -> None:
    result = run("ps", "-a")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES",
    ]  # fmt: skip
    assert lines[1].startswith("4a5b6c7d8e9f   busybox   ")
    assert '"sh -c \'while true; …"' in lines[1]
    assert "3 seconds ago" in lines[1] and "Up 3 seconds" in lines[1]
    assert "53-54/udp, 0.0.0.0:8080->80/tcp" in lines[1]
    assert lines[1].endswith("web")
    assert "busybox:1.36" in lines[2] and "Exited (0) 2 minutes ago" in lines[2]
    assert ps_daemon.requests[-1].query == {"all": ["1"]}


def test_ps_quiet_limit_size_and_filters(run: Any, ps_daemon: Any) -> None:
    result = run("ps", "-q", "-n", "2", "-s", "-f", "status=exited", "-f", "name=web")
    assert (result.exit_code, result.stdout) == (0, f"{CID[:12]}\n{OTHER[:12]}\n")
    query = ps_daemon.requests[-1].query
    assert query["limit"] == ["2"] and query["size"] == ["1"]
    assert json.loads(query["filters"][0]) == {"status": {"exited": True}, "name": {"web": True}}
    latest = run("ps", "-l")
    assert ps_daemon.requests[-1].query == {"limit": ["1"]} and latest.exit_code == 0


def test_ps_formats(run: Any, ps_daemon: Any) -> None:
    table = run("ps", "--format", "table {{.Names}}\t{{.State}}\t{{.Labels}}")
    assert table.stdout.splitlines() == [
        "NAMES     STATE     LABELS",
        "web       running   a=1,b=2",
        "old       exited    ",
    ]
    plain = run("ps", "--no-trunc", "--format", "{{.ID}} {{.Command}}")
    assert plain.stdout.splitlines()[0] == f"{CID} \"sh -c 'while true; do sleep 1; done'\""
    lines = run("ps", "--format", "json").stdout.splitlines()
    first = json.loads(lines[0])
    assert list(first) == sorted(first)  # Go's map order
    assert first["Names"] == "web" and first["Size"] == "0B" and first["Platform"] is None
    assert ps_daemon.requests[-1].query == {"size": ["1"]}  # json shows the size: asked for


def test_ps_size_column(run: Any, ps_daemon: Any) -> None:
    lines = run("ps", "-s").stdout.splitlines()
    assert lines[0].endswith("SIZE")
    assert lines[2].endswith("12kB (virtual 4.3MB)")


def test_ps_bad_inputs(run: Any, ps_daemon: Any) -> None:
    last = run("ps", "-n", "x")
    assert last.exit_code == 125
    assert last.stderr.startswith(
        'invalid argument "x" for "-n, --last" flag: strconv.ParseInt: parsing "x": invalid '
        "syntax\n\nUsage:  berth ps [OPTIONS]"
    )
    assert run("ps", "extra").exit_code == 1
    assert "'berth ps' accepts no arguments" in run("ps", "extra").stderr
    template = run("ps", "--format", "{{.ID")
    assert template.exit_code == 1 and template.stderr.startswith("failed to parse template")
    quiet = run("ps", "-q", "--format", "{{.Names}}")
    assert quiet.stderr.startswith("WARNING: Ignoring custom format")
    assert quiet.stdout.splitlines()[0] == CID[:12]


def test_container_ls_list_ps_are_ps(run: Any, ps_daemon: Any) -> None:
    spellings = (["ps"], ["container", "ls"], ["container", "list"], ["container", "ps"])
    outputs = {run(*args, "-q").stdout for args in spellings}
    assert len(outputs) == 1


def test_displayable_ports_groups_like_docker() -> None:
    ports = [
        {"PrivatePort": 80, "Type": "tcp"},
        {"PrivatePort": 81, "Type": "tcp"},
        {"PrivatePort": 83, "Type": "tcp"},
        {"IP": "::", "PrivatePort": 443, "PublicPort": 443, "Type": "tcp"},
        {"IP": "127.0.0.1", "PrivatePort": 5000, "PublicPort": 5001, "Type": "tcp"},
    ]
    assert views.displayable_ports(ports) == (
        "80-81/tcp, 83/tcp, [::]:443->443/tcp, 127.0.0.1:5001->5000/tcp"
    )


def test_go_quote() -> None:
    assert views.go_quote('a "b"\n\t\\ é\x01') == '"a \\"b\\"\\n\\t\\\\ é\\x01"'


# --- stop, kill, restart, rm, pause, unpause, wait, rename ---------------------------------------


@pytest.fixture
def life(daemon: Any, fakes: ModuleType) -> Any:
    missing = fakes.Reply(404, {"message": "No such container: gone"})
    for action in ("stop", "restart", "kill", "pause", "unpause", "rename"):
        daemon.routes[("POST", f"/containers/web/{action}")] = fakes.Reply(204, "")
        daemon.routes[("POST", f"/containers/gone/{action}")] = missing
    daemon.routes[("DELETE", "/containers/web")] = fakes.Reply(204, "")
    daemon.routes[("DELETE", "/containers/gone")] = missing
    daemon.routes[("DELETE", "/containers/busy")] = fakes.Reply(
        409,
        {
            "message": 'cannot remove container "/busy": container is running: stop the '
            "container before removing or force remove"
        },
    )
    daemon.routes[("POST", "/containers/web/wait")] = fakes.Stream(
        items=[{"StatusCode": 137, "Error": None}]
    )
    daemon.routes[("POST", "/containers/gone/wait")] = missing
    return daemon


@pytest.mark.parametrize("action", ["stop", "restart", "kill", "pause", "unpause"])
def test_lifecycle_commands_print_names_and_list_errors(run: Any, life: Any, action: str) -> None:
    result = run(action, "web", "gone")
    assert (result.exit_code, result.stdout) == (1, "web\n")
    assert result.stderr == "Error response from daemon: No such container: gone\n"


def test_stop_and_kill_queries(run: Any, life: Any) -> None:
    assert run("stop", "-t", "3", "-s", "SIGINT", "web").exit_code == 0
    assert life.requests[-1].query == {"signal": ["SIGINT"], "t": ["3"]}
    assert run("stop", "web").exit_code == 0
    assert life.requests[-1].query == {}
    assert run("kill", "-s", "HUP", "web").exit_code == 0
    assert life.requests[-1].query == {"signal": ["HUP"]}
    bad = run("stop", "-t", "soon", "web")
    assert bad.exit_code == 125 and 'invalid argument "soon" for "-t, --timeout"' in bad.stderr
    both = run("stop", "-t", "1", "--time", "2", "web")
    assert both.stderr == "conflicting options: cannot specify both --timeout and --time\n"
    none = run("stop")
    assert none.exit_code == 1
    assert none.stderr.startswith("berth: 'berth stop' requires at least 1 argument\n\nUsage:")


def test_rm(run: Any, life: Any) -> None:
    busy = run("rm", "busy")
    assert busy.exit_code == 1
    assert busy.stderr.startswith('Error response from daemon: cannot remove container "/busy"')
    forced = run("rm", "-f", "-v", "web", "gone")
    assert (forced.exit_code, forced.stdout) == (0, "web\n")  # -f: a missing one is no error
    assert forced.stderr == "Error response from daemon: No such container: gone\n"
    remove = [r for r in life.requests if r.method == "DELETE" and r.path == "/containers/web"]
    assert remove[-1].query == {"v": ["1"], "force": ["1"]}
    assert run("rm", "/").stderr == "container name cannot be empty\n"
    assert run("container", "remove", "web").stdout == "web\n"


def test_wait_prints_exit_codes(run: Any, life: Any) -> None:
    result = run("wait", "web", "gone")
    assert (result.exit_code, result.stdout) == (1, "137\n")
    assert result.stderr == "Error response from daemon: No such container: gone\n"


def test_rename(run: Any, life: Any) -> None:
    assert run("rename", "web", "site").exit_code == 0
    assert life.requests[-1].query == {"name": ["site"]}
    failed = run("rename", "gone", "x")
    assert failed.exit_code == 1
    assert failed.stderr == (
        "Error response from daemon: No such container: gone\n"
        "Error: failed to rename container named gone\n"
    )
    assert run("rename", " ", "x").stderr == "Error: Neither old nor new names may be empty\n"
    assert run("rename", "web").stderr.startswith("berth: 'berth rename' requires 2 arguments\n")


# --- top, port, logs -----------------------------------------------------------------------------


def test_top(run: Any, daemon: Any, fakes: ModuleType) -> None:
    daemon.routes[("GET", "/containers/web/top")] = fakes.Reply(
        body={
            "Titles": ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"],
            "Processes": [["root", "4242", "4240", "0", "10:00", "?", "00:00:00", "sleep 60"]],
        }
    )
    result = run("top", "web", "-ef")
    assert result.exit_code == 0
    assert result.stdout.splitlines() == [
        "UID                 PID                 PPID                C                   "
        "STIME               TTY                 TIME                CMD",
        "root                4242                4240                0                   "
        "10:00               ?                   00:00:00            sleep 60",
    ]
    assert daemon.requests[-1].query == {"ps_args": ["-ef"]}


def test_port(run: Any, daemon: Any, fakes: ModuleType) -> None:
    ports = {
        "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}, {"HostIp": "::", "HostPort": "8080"}],
        "53/udp": None,
    }
    daemon.routes[("GET", "/containers/web/json")] = fakes.Reply(
        body={"Id": CID, "NetworkSettings": {"Ports": ports}}
    )
    daemon.routes[("GET", "/containers/none/json")] = fakes.Reply(
        body={"Id": CID, "NetworkSettings": {"Ports": {}}}
    )
    assert run("port", "web").stdout == "80/tcp -> 0.0.0.0:8080\n80/tcp -> [::]:8080\n"
    assert run("port", "web", "80").stdout == "0.0.0.0:8080\n[::]:8080\n"
    missing = run("port", "web", "53/udp")
    assert missing.stderr == "Error: No public port '53/udp' published for web\n"
    assert run("port", "none").stdout == ""  # nothing published: nothing printed
    bad = run("port", "web", "http")
    assert bad.exit_code == 1 and bad.stderr.startswith("Error: invalid port (http)")


@pytest.fixture
def logs_daemon(daemon: Any, fakes: ModuleType) -> Any:
    daemon.routes[("GET", "/containers/web/json")] = fakes.Reply(
        body={"Id": CID, "Config": {"Tty": False}}
    )
    daemon.routes[("GET", "/containers/tty/json")] = fakes.Reply(
        body={"Id": OTHER, "Config": {"Tty": True}}
    )
    frames = fakes.frame(1, b"one\n") + fakes.frame(2, b"warn\n") + fakes.frame(1, b"two\n")
    daemon.routes[("GET", f"/containers/{CID}/logs")] = fakes.Stream(
        items=[frames[:5], frames[5:20], frames[20:]]
    )
    daemon.routes[("GET", f"/containers/{OTHER}/logs")] = fakes.Stream(items=[b"raw\r\n"])
    return daemon


def test_logs_demultiplexes_and_passes_options(run: Any, logs_daemon: Any) -> None:
    result = run("logs", "-f", "-t", "--tail", "5", "--since", "1700000000", "web")
    assert result.exit_code == 0
    assert (result.stdout, result.stderr) == ("one\ntwo\n", "warn\n")
    assert logs_daemon.requests[-1].query == {
        "stdout": ["1"],
        "stderr": ["1"],
        "since": ["1700000000"],
        "timestamps": ["1"],
        "follow": ["1"],
        "tail": ["5"],
    }
    assert run("logs", "tty").stdout_bytes == b"raw\r\n"


def test_logs_bad_inputs(run: Any, logs_daemon: Any, daemon: Any, fakes: ModuleType) -> None:
    bad = run("logs", "--since", "yesterday", "web")
    assert bad.exit_code == 1 and bad.stderr.startswith('invalid value for "since": ')
    daemon.routes[("GET", "/containers/gone/json")] = fakes.Reply(
        404, {"message": "No such container: gone"}
    )
    assert run("logs", "gone").stderr == "Error response from daemon: No such container: gone\n"
    assert "'berth logs' requires 1 argument\n" in run("logs").stderr


# --- stats ---------------------------------------------------------------------------------------

STATS = {
    "name": "/web",
    "id": CID,
    "cpu_stats": {
        "cpu_usage": {"total_usage": 300_000_000},
        "system_cpu_usage": 10_000_000_000,
        "online_cpus": 2,
    },
    "precpu_stats": {"cpu_usage": {"total_usage": 100_000_000}, "system_cpu_usage": 9_000_000_000},
    "memory_stats": {
        "usage": 3 * 1024 * 1024,
        "limit": 64 * 1024 * 1024,
        "stats": {"total_inactive_file": 1024 * 1024},
    },
    "networks": {"eth0": {"rx_bytes": 1500, "tx_bytes": 648}},
    "blkio_stats": {
        "io_service_bytes_recursive": [
            {"major": 8, "minor": 0, "op": "Read", "value": 4096},
            {"major": 8, "minor": 0, "op": "Write", "value": 8192},
        ]
    },
    "pids_stats": {"current": 3},
}


def test_stats_no_stream_table(run: Any, daemon: Any, fakes: ModuleType) -> None:
    daemon.routes[("GET", "/containers/web/stats")] = fakes.Stream(items=[STATS])
    result = run("stats", "--no-stream", "web")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT   MEM %     NET I/O        "
        "BLOCK I/O        PIDS",
        "4a5b6c7d8e9f   web       40.00%    2MiB / 64MiB        3.12%     1.5kB / 648B   "
        "4.1kB / 8.19kB   3",
    ]
    assert daemon.requests[-1].query == {"stream": ["0"]}


def test_stats_format_and_missing_container(run: Any, daemon: Any, fakes: ModuleType) -> None:
    daemon.routes[("GET", "/containers/web/stats")] = fakes.Stream(items=[STATS])
    daemon.routes[("GET", "/containers/gone/stats")] = fakes.Reply(
        404, {"message": "No such container: gone"}
    )
    result = run("stats", "--no-stream", "--format", "{{.Name}}: {{.MemPerc}} {{.PIDs}}", "web")
    assert result.stdout == "web: 3.12% 3\n"
    missing = run("stats", "--no-stream", "gone")
    assert (missing.exit_code, missing.stdout) == (1, "")
    assert missing.stderr == "Error response from daemon: No such container: gone\n"


def test_stats_of_all_running_containers(run: Any, ps_daemon: Any, fakes: ModuleType) -> None:
    ps_daemon.routes[("GET", f"/containers/{CID[:12]}/stats")] = fakes.Stream(items=[STATS])
    ps_daemon.routes[("GET", f"/containers/{OTHER[:12]}/stats")] = fakes.Stream(
        items=[{**STATS, "name": "/old", "id": OTHER}]
    )
    result = run("stats", "--no-stream", "--format", "{{.Container}} {{.Name}}")
    assert result.stdout == f"{CID[:12]} web\n{OTHER[:12]} old\n"


def test_stats_entry_uses_cgroup_v2_inactive_file() -> None:
    entry = views.stats_entry(
        "c", {"memory_stats": {"usage": 1000, "limit": 4000, "stats": {"inactive_file": 200}}}
    )
    assert (entry["Memory"], entry["MemoryPercentage"]) == (800.0, 20.0)
    invalid = views.stats_row(views.invalid_stats_entry("c"), trunc=True)
    assert invalid["CPUPerc"] == "--" and invalid["MemUsage"] == "-- / --"


# --- prune ---------------------------------------------------------------------------------------


def test_container_prune(run: Any, daemon: Any, fakes: ModuleType) -> None:
    daemon.routes[("POST", "/containers/prune")] = fakes.Reply(
        body={"ContainersDeleted": [CID, OTHER], "SpaceReclaimed": 12000}
    )
    cancelled = run("container", "prune", stdin="n\n")
    assert cancelled.exit_code == 0
    assert cancelled.stdout.startswith("WARNING! This will remove all stopped containers.")
    assert all(r.path != "/containers/prune" for r in daemon.requests)
    result = run("container", "prune", "-f", "--filter", "until=1h")
    assert result.stdout == f"Deleted Containers:\n{CID}\n{OTHER}\n\nTotal reclaimed space: 12kB\n"
    assert json.loads(daemon.requests[-1].query["filters"][0]) == {"until": {"1h": True}}


# --- inspect -------------------------------------------------------------------------------------


@pytest.fixture
def inspect_daemon(daemon: Any, fakes: ModuleType) -> Any:
    daemon.routes[("GET", "/containers/web/json")] = fakes.Reply(
        body={"Id": CID, "Name": "/web", "State": {"Status": "running"}}
    )
    daemon.routes[("GET", "/images/busybox/json")] = fakes.Reply(
        body={"Id": IMAGE_ID, "RepoTags": ["busybox:latest"]}
    )
    for kind in ("containers", "images"):
        for name in ("busybox", "web", "nope"):
            key = ("GET", f"/{kind}/{name}/json")
            if key not in daemon.routes:
                what = "container" if kind == "containers" else "image"
                daemon.routes[key] = fakes.Reply(404, {"message": f"No such {what}: {name}"})
    return daemon


def test_inspect_finds_containers_first_then_images(run: Any, inspect_daemon: Any) -> None:
    result = run("inspect", "-f", "{{.Id}}", "web", "busybox")
    assert (result.exit_code, result.stdout) == (0, f"{CID}\n{IMAGE_ID}\n")
    paths = [r.path for r in inspect_daemon.requests]
    assert paths.index("/containers/busybox/json") < paths.index("/images/busybox/json")


def test_inspect_types_and_errors(run: Any, inspect_daemon: Any) -> None:
    typed = run("inspect", "--type", "container", "web")
    assert json.loads(typed.stdout)[0]["Name"] == "/web"
    not_a_container = run("inspect", "--type", "container", "busybox")
    assert not_a_container.exit_code == 1
    assert not_a_container.stderr == "Error response from daemon: No such container: busybox\n"
    nothing = run("inspect", "nope")
    assert (nothing.exit_code, nothing.stdout) == (1, "[]\n")
    assert nothing.stderr == "Error: No such object: nope\n"
    bogus = run("inspect", "--type", "bogus", "web")
    assert bogus.exit_code == 1 and bogus.stderr.startswith('unknown type: "bogus": must be one')
    template = run("inspect", "-f", "{{.Id", "web")
    assert template.exit_code == 64
    size = run("inspect", "-s", "busybox")
    assert size.stderr == "WARNING: --size ignored for image\n"
    assert run("container", "inspect", "-f", "{{.Name}}", "web").stdout == "/web\n"
