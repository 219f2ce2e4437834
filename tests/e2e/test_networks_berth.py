"""Networking state across daemon restarts, with the berth CLI: running containers keep their
addresses, published ports and rules while berthd is down and after it comes back; a container
that died while berthd was down gives its address back; 50 run/rm cycles and a restart leave
no veth, namespace, rule or address behind; at stop, berthd takes down the bridges and tables
no running container uses.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.archives import busybox_rootfs
from tests.e2e.conftest import berth, berth_ok, needs_busybox, start_daemon, stop_daemon
from tests.e2e.netkit import (
    WEB,
    bridge_ports,
    free_port,
    http_from_host,
    link_exists,
    nc_script,
    nft_tables,
    table_of,
)
from tests.integration.daemon import Daemon

pytestmark = [
    needs_busybox,
    pytest.mark.skipif(os.geteuid() != 0, reason="bridge networks need root"),
]


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    started = start_daemon()
    try:
        berth_ok(started, "import", "-c", 'CMD ["sh"]', str(busybox_rootfs(tmp_path / "bb.tar")),
                 "busybox:latest")  # fmt: skip
        yield started
    finally:
        if started.proc is None:
            started.start()
        ids = berth(started, "ps", "-aq").stdout.decode().split()
        if ids:
            berth(started, "rm", "-f", *ids)
        stop_daemon(started)


def make_network(daemon: Daemon, name: str) -> str:
    """A user network with a bridge name of this daemon's own; its bridge."""
    bridge = f"berth-r{daemon.network_slot}"
    berth_ok(daemon, "network", "create", "-o", f"com.docker.network.bridge.name={bridge}", name)
    return bridge


def inspect(daemon: Daemon, *args: str) -> dict[str, object]:
    found: dict[str, object] = json.loads(berth_ok(daemon, "inspect", *args))[0]
    return found


def network_containers(daemon: Daemon, name: str) -> dict[str, object]:
    found = json.loads(berth_ok(daemon, "network", "inspect", name))[0]["Containers"]
    assert isinstance(found, dict)
    return found


def sandboxes(daemon: Daemon) -> list[str]:
    directory = daemon.exec_root / "network" / "bridge" / "netns"
    try:
        return sorted(os.listdir(directory))
    except OSError:
        return []


def test_restart_keeps_running_containers_connected(daemon: Daemon) -> None:
    bridge = make_network(daemon, "keep")
    port = free_port()
    berth_ok(daemon, "run", "-d", "--name", "web", "--network", "keep", "-p", f"{port}:80",
             "busybox", *WEB)  # fmt: skip
    assert b"hello" in http_from_host(port)
    before = inspect(daemon, "web")["NetworkSettings"]
    assert daemon.stop() == 0
    assert link_exists(bridge) and table_of(bridge) in nft_tables()
    assert b"hello" in http_from_host(port)  # the kernel serves it: no daemon needed
    daemon.start()
    after = inspect(daemon, "web")["NetworkSettings"]
    assert after == before
    assert b"hello" in http_from_host(port)
    address = after["Networks"]["keep"]["IPAddress"]  # type: ignore[index]
    other = berth_ok(daemon, "run", "--rm", "--network", "keep", "busybox", "sh", "-c",
                     f"ip -4 -o addr show eth0; {nc_script(address)}")  # fmt: skip
    assert f"inet {address}/" not in other and "hello" in other
    clash = berth(daemon, "run", "-d", "-p", f"{port}:80", "busybox", "true")
    assert clash.returncode == 125 and b"port is already allocated" in clash.stderr
    berth_ok(daemon, "rm", "-f", "web")
    berth(daemon, "rm", "-f", clash.stdout.decode().strip() or "none")
    assert bridge_ports(bridge) == [] and sandboxes(daemon) == []
    assert daemon.stop() == 0
    assert not link_exists(bridge) and table_of(bridge) not in nft_tables()
    daemon.start()


def test_container_dead_while_daemon_down_gives_its_address_back(daemon: Daemon) -> None:
    bridge = make_network(daemon, "crash")
    berth_ok(daemon, "run", "-d", "--name", "doomed", "--network", "crash", "busybox",
             "sleep", "600")  # fmt: skip
    pid = inspect(daemon, "doomed")["State"]["Pid"]  # type: ignore[index]
    assert len(bridge_ports(bridge)) == 1
    assert daemon.stop(signal.SIGKILL) != 0  # a crash of berthd
    os.kill(int(pid), signal.SIGKILL)  # the container dies while no daemon watches
    daemon.start()
    state = inspect(daemon, "doomed")["State"]
    assert state["Running"] is False  # type: ignore[index]
    assert network_containers(daemon, "crash") == {}
    assert bridge_ports(bridge) == [] and sandboxes(daemon) == []
    berth_ok(daemon, "start", "doomed")
    assert len(network_containers(daemon, "crash")) == 1
    berth_ok(daemon, "rm", "-f", "doomed")
    assert network_containers(daemon, "crash") == {} and bridge_ports(bridge) == []


def test_fifty_run_rm_cycles_and_a_restart_leak_nothing(daemon: Daemon) -> None:
    bridge = make_network(daemon, "churn")
    for _ in range(50):
        berth_ok(daemon, "run", "--rm", "--network", "churn", "-p", "80", "busybox", "true")
    assert bridge_ports(bridge) == [] and sandboxes(daemon) == []
    assert network_containers(daemon, "churn") == {}
    assert daemon.stop() == 0
    assert not link_exists(bridge) and table_of(bridge) not in nft_tables()
    daemon.start()
    first = berth_ok(daemon, "run", "--rm", "--network", "churn", "busybox", "ip", "-4", "-o",
                     "addr", "show", "eth0")  # fmt: skip
    assert f"10.{daemon.network_slot}." in first and ".2/24" in first  # the first address again
    berth_ok(daemon, "network", "rm", "churn")
    assert not link_exists(bridge) and table_of(bridge) not in nft_tables()


def test_network_commands_of_the_berth_cli(daemon: Daemon) -> None:
    made = berth_ok(daemon, "network", "create", "--label", "who=cli", "clinet").strip()
    assert len(made) == 64
    listed = berth_ok(daemon, "network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}")
    assert "clinet bridge local" in listed.splitlines()
    assert berth_ok(daemon, "network", "ls", "-q", "-f", "label=who=cli").split() == [made[:12]]
    berth_ok(daemon, "run", "-d", "--name", "clibox", "busybox", "sleep", "600")
    berth_ok(daemon, "network", "connect", "--ip", f"10.{daemon.network_slot}.1.9", "clinet",
             "clibox")  # fmt: skip
    shown = berth_ok(daemon, "exec", "clibox", "ip", "-4", "-o", "addr", "show", "eth1")
    assert f"10.{daemon.network_slot}.1.9/24" in shown
    berth_ok(daemon, "network", "disconnect", "clinet", "clibox")
    berth_ok(daemon, "rm", "-f", "clibox")
    gone = berth(daemon, "network", "rm", "nosuchnet")
    assert gone.returncode == 1 and b"network nosuchnet not found" in gone.stderr
    assert berth(daemon, "network", "rm", "-f", "nosuchnet").returncode == 0
    pruned = berth_ok(daemon, "network", "prune", "-f")
    assert "clinet" in pruned
    names = berth_ok(daemon, "network", "ls", "--format", "{{.Name}}").split()
    assert sorted(names) == ["bridge", "host", "none"]
