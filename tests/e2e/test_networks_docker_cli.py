"""Networking with the real docker CLI against berthd: user networks (create/ls/inspect/rm,
Docker's JSON shapes), containers on one network reaching each other over TCP, isolation
between networks, ``--internal``, published ports answering on the host's 127.0.0.1 and by
hairpin from containers, ``network connect``/``disconnect`` on a running container, and the
bad inputs — each one clear error, nothing half-made left behind.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import needs_busybox, needs_docker_cli
from tests.e2e.containers import container_daemon, docker
from tests.e2e.netkit import (
    WEB,
    bridge_ports,
    docker_ok,
    free_port,
    http_from_container,
    http_from_host,
    link_exists,
    nft_tables,
    table_of,
    wait_http_inside,
)
from tests.integration.daemon import Daemon

pytestmark = [
    needs_docker_cli,
    needs_busybox,
    pytest.mark.skipif(os.geteuid() != 0, reason="bridge networks need root"),
]

FRONT = "netfront"
BACK = "netback"
SEALED = "netsealed"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with container_daemon(tmp_path_factory.mktemp("net-cli")) as started:
        slot = started.network_slot
        try:
            docker_ok(started, "network", "create", FRONT)
            docker_ok(started, "network", "create", "--subnet", f"10.{slot}.100.0/24",
                      "--ip-range", f"10.{slot}.100.128/25", "--gateway", f"10.{slot}.100.254",
                      "--label", "tier=back", BACK)  # fmt: skip
            docker_ok(started, "network", "create", "--internal", SEALED)
            yield started
        finally:
            ids = docker(started, "ps", "-aq").stdout.split()
            if ids:
                docker(started, "rm", "-f", *ids)
            docker(started, "network", "rm", FRONT, BACK, SEALED)


@pytest.fixture(scope="module")
def web(daemon: Daemon) -> Iterator[dict[str, str]]:
    """A web server on FRONT, port 80 published on the host; its address and host port."""
    port = free_port()
    docker_ok(daemon, "run", "-d", "--name", "web", "--network", FRONT, "-p", f"{port}:80",
              "busybox", *WEB)  # fmt: skip
    wait_http_inside(daemon, "web")
    address = docker_ok(
        daemon, "inspect", "-f", "{{.NetworkSettings.Networks." + FRONT + ".IPAddress}}", "web"
    ).strip()
    yield {"address": address, "port": str(port)}
    docker(daemon, "rm", "-f", "web")


def inspect_network(daemon: Daemon, name: str) -> dict[str, object]:
    found = json.loads(docker_ok(daemon, "network", "inspect", name))
    assert len(found) == 1
    network: dict[str, object] = found[0]
    return network


def test_network_ls_and_inspect_shapes(daemon: Daemon) -> None:
    names = docker_ok(daemon, "network", "ls", "--format", "{{.Name}} {{.Driver}}").splitlines()
    for line in ("bridge bridge", "host host", "none null", f"{FRONT} bridge", f"{BACK} bridge"):
        assert line in names
    back = inspect_network(daemon, BACK)
    slot = daemon.network_slot
    assert back["IPAM"] == {
        "Driver": "default",
        "Options": {},
        "Config": [
            {
                "Subnet": f"10.{slot}.100.0/24",
                "IPRange": f"10.{slot}.100.128/25",
                "Gateway": f"10.{slot}.100.254",
            }
        ],
    }
    assert back["Labels"] == {"tier": "back"}
    assert back["Scope"] == "local" and back["Driver"] == "bridge"
    assert inspect_network(daemon, SEALED)["Internal"] is True
    quiet = docker_ok(daemon, "network", "ls", "-q", "--filter", "label=tier=back").split()
    assert quiet == [str(back["Id"])[:12]]


def test_ip_range_and_static_ip(daemon: Daemon) -> None:
    slot = daemon.network_slot
    first = docker_ok(daemon, "run", "--rm", "--network", BACK, "busybox", "ip", "-4", "-o",
                      "addr", "show", "eth0")  # fmt: skip
    assert f"inet 10.{slot}.100.128/24" in first or f"inet 10.{slot}.100.129/24" in first
    fixed = docker_ok(daemon, "run", "--rm", "--network", BACK, "--ip", f"10.{slot}.100.7",
                      "--mac-address", "02:42:de:ad:be:ef", "busybox", "ip", "-o", "addr",
                      "show", "eth0")  # fmt: skip
    assert f"inet 10.{slot}.100.7/24" in fixed
    routes = docker_ok(daemon, "run", "--rm", "--network", BACK, "busybox", "ip", "route")
    assert f"default via 10.{slot}.100.254 dev eth0" in routes
    mac = docker_ok(daemon, "run", "--rm", "--network", BACK, "--mac-address",
                    "02:42:de:ad:be:ef", "busybox", "cat",
                    "/sys/class/net/eth0/address")  # fmt: skip
    assert mac.strip() == "02:42:de:ad:be:ef"


def test_containers_on_one_network_reach_each_other(daemon: Daemon, web: dict[str, str]) -> None:
    assert "hello" in http_from_container(daemon, FRONT, web["address"])
    network = inspect_network(daemon, FRONT)
    containers = network["Containers"]
    assert isinstance(containers, dict)
    assert [c["Name"] for c in containers.values()] == ["web"]


def test_published_port_answers_on_host_loopback(daemon: Daemon, web: dict[str, str]) -> None:
    assert b"hello" in http_from_host(int(web["port"]))
    assert docker_ok(daemon, "port", "web").strip() == f"80/tcp -> 0.0.0.0:{web['port']}"
    assert docker_ok(daemon, "port", "web", "80").strip() == f"0.0.0.0:{web['port']}"


def test_hairpin_from_containers(daemon: Daemon, web: dict[str, str]) -> None:
    gateway = docker_ok(
        daemon, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", FRONT
    ).strip()
    assert "hello" in http_from_container(daemon, FRONT, gateway, int(web["port"]))
    assert "hello" in http_from_container(daemon, BACK, gateway, int(web["port"]))


def test_other_networks_cannot_reach_a_container(daemon: Daemon, web: dict[str, str]) -> None:
    assert http_from_container(daemon, BACK, web["address"]) == ""
    assert http_from_container(daemon, "bridge", web["address"]) == ""


def test_internal_network_has_no_way_out(daemon: Daemon, web: dict[str, str]) -> None:
    done = docker(daemon, "run", "--rm", "--network", SEALED, "busybox", "ip", "route")
    assert "default" not in done.stdout
    assert http_from_container(daemon, SEALED, web["address"]) == ""
    gateway = docker_ok(
        daemon, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", SEALED
    ).strip()
    assert http_from_container(daemon, SEALED, gateway, int(web["port"])) == ""


def test_default_bridge_gets_address_and_way_out(daemon: Daemon) -> None:
    slot = daemon.network_slot
    shown = docker_ok(daemon, "run", "--rm", "busybox", "ip", "-4", "-o", "addr", "show", "eth0")
    assert f"inet 10.{slot}.0." in shown
    routes = docker_ok(daemon, "run", "--rm", "busybox", "ip", "route")
    assert f"default via 10.{slot}.0.1 dev eth0" in routes


def test_connect_and_disconnect_a_running_container(daemon: Daemon) -> None:
    docker_ok(daemon, "run", "-d", "--name", "roamer", "--network", FRONT, "busybox",
              "sleep", "600")  # fmt: skip
    try:
        docker_ok(daemon, "network", "connect", "--alias", "wanderer", BACK, "roamer")
        addresses = docker_ok(daemon, "exec", "roamer", "ip", "-4", "-o", "addr")
        assert "eth0" in addresses and "eth1" in addresses
        info = json.loads(docker_ok(daemon, "inspect", "roamer"))[0]
        back = info["NetworkSettings"]["Networks"][BACK]
        assert back["Aliases"] == ["wanderer"] and back["IPAddress"]
        assert "roamer" in str(inspect_network(daemon, BACK)["Containers"])
        again = docker(daemon, "network", "connect", BACK, "roamer")
        assert again.returncode != 0 and "already exists" in again.stderr
        docker_ok(daemon, "network", "disconnect", BACK, "roamer")
        assert "eth1" not in docker_ok(daemon, "exec", "roamer", "ip", "-4", "-o", "addr")
        assert "roamer" not in str(inspect_network(daemon, BACK)["Containers"])
        not_on = docker(daemon, "network", "disconnect", BACK, "roamer")
        assert not_on.returncode != 0 and "is not connected" in not_on.stderr
    finally:
        docker(daemon, "rm", "-f", "roamer")


def test_removal_leaves_no_veth_or_rule(daemon: Daemon) -> None:
    name = "tmpnet"
    docker_ok(daemon, "network", "create", "-o", "com.docker.network.bridge.name=berth-tmp"
              f"{daemon.network_slot}", name)  # fmt: skip
    bridge = f"berth-tmp{daemon.network_slot}"
    docker_ok(daemon, "run", "-d", "--name", "shortlived", "--network", name, "-p", "80",
              "busybox", "sleep", "600")  # fmt: skip
    assert len(bridge_ports(bridge)) == 1
    assert table_of(bridge) in nft_tables()
    busy = docker(daemon, "network", "rm", name)
    assert busy.returncode == 1 and "has active endpoints" in busy.stderr
    docker_ok(daemon, "rm", "-f", "shortlived")
    assert bridge_ports(bridge) == []
    docker_ok(daemon, "network", "rm", name)
    assert not link_exists(bridge)
    assert table_of(bridge) not in nft_tables()


def test_bad_inputs(daemon: Daemon, web: dict[str, str]) -> None:
    slot = daemon.network_slot
    overlap = docker(daemon, "network", "create", "--subnet", f"10.{slot}.100.0/25", "dup")
    assert overlap.returncode == 1 and "overlaps" in overlap.stderr
    bad = docker(daemon, "network", "create", "--subnet", "10.300.0.0/16", "badcidr")
    assert bad.returncode == 1 and "invalid subnet" in bad.stderr
    same = docker(daemon, "network", "create", FRONT)
    assert same.returncode == 1 and "already exists" in same.stderr
    unknown = docker(daemon, "run", "--rm", "--network", "nosuchnet", "busybox", "true")
    assert unknown.returncode == 125 and "network nosuchnet not found" in unknown.stderr
    missing = docker(daemon, "network", "rm", "nosuchnet")
    assert missing.returncode == 1 and "not found" in missing.stderr
    builtin = docker(daemon, "network", "rm", "bridge")
    assert builtin.returncode == 1 and "pre-defined" in builtin.stderr
    names = docker_ok(daemon, "network", "ls", "--format", "{{.Name}}").split()
    assert "dup" not in names and "badcidr" not in names
    before = bridge_ports(f"berth-t{slot}")
    taken = docker(daemon, "run", "-d", "--name", "clash", "-p", f"{web['port']}:80",
                   "busybox", "sleep", "600")  # fmt: skip
    assert taken.returncode == 125 and "port is already allocated" in taken.stderr
    state = docker_ok(daemon, "inspect", "-f", "{{.State.Running}}", "clash").strip()
    assert state == "false"
    assert bridge_ports(f"berth-t{slot}") == before
    docker_ok(daemon, "rm", "clash")
    wrong = docker(daemon, "run", "--rm", "--network", BACK, "--ip", "192.168.1.5", "busybox",
                   "true")  # fmt: skip
    assert wrong.returncode == 125 and "no configured subnet" in wrong.stderr


def test_publish_all_and_port_ranges(daemon: Daemon) -> None:
    first = free_port()
    docker_ok(daemon, "run", "-d", "--name", "ranges", "--expose", "90", "--expose", "91/udp",
              "-P", "-p", f"127.0.0.1:{first}-{first + 1}:80-81", "busybox", "sleep",
              "600")  # fmt: skip
    try:
        shown = docker_ok(daemon, "port", "ranges").splitlines()
        assert f"80/tcp -> 127.0.0.1:{first}" in shown
        assert f"81/tcp -> 127.0.0.1:{first + 1}" in shown
        randoms = [line for line in shown if line.startswith(("90/tcp -> 0.0.0.0:", "91/udp"))]
        assert len(randoms) == 2, shown
        listed = docker_ok(daemon, "ps", "--filter", "name=ranges", "--format", "{{.Ports}}")
        assert f"127.0.0.1:{first}->80/tcp" in listed
    finally:
        docker(daemon, "rm", "-f", "ranges")


def test_mtu_and_icc_options(daemon: Daemon) -> None:
    docker_ok(daemon, "network", "create", "-o", "com.docker.network.driver.mtu=1400", "-o",
              "com.docker.network.bridge.enable_icc=false", "lonely")  # fmt: skip
    try:
        mtu = docker_ok(daemon, "run", "--rm", "--network", "lonely", "busybox", "cat",
                        "/sys/class/net/eth0/mtu")  # fmt: skip
        assert mtu.strip() == "1400"
        docker_ok(daemon, "run", "-d", "--name", "hermit", "--network", "lonely", "busybox",
                  *WEB)  # fmt: skip
        wait_http_inside(daemon, "hermit")
        template = "{{.NetworkSettings.Networks.lonely.IPAddress}}"
        address = docker_ok(daemon, "inspect", "-f", template, "hermit").strip()
        assert http_from_container(daemon, "lonely", address) == ""
        assert inspect_network(daemon, "lonely")["Options"] == {
            "com.docker.network.driver.mtu": "1400",
            "com.docker.network.bridge.enable_icc": "false",
        }
    finally:
        docker(daemon, "rm", "-f", "hermit")
        docker(daemon, "network", "rm", "lonely")
    bad = docker(daemon, "network", "create", "-o", "com.docker.network.driver.mtu=12", "tiny")
    assert bad.returncode == 1 and "invalid MTU" in bad.stderr


def test_restart_and_container_network_mode(daemon: Daemon) -> None:
    port = free_port()
    docker_ok(daemon, "run", "-d", "--name", "phoenix", "--network", FRONT, "-p", f"{port}:80",
              "busybox", *WEB)  # fmt: skip
    try:
        template = "{{.NetworkSettings.Networks." + FRONT + ".IPAddress}}"
        address = docker_ok(daemon, "inspect", "-f", template, "phoenix").strip()
        shared = docker_ok(daemon, "run", "--rm", "--network", "container:phoenix", "busybox",
                           "ip", "-4", "-o", "addr", "show", "eth0")  # fmt: skip
        assert f"inet {address}/" in shared
        docker_ok(daemon, "restart", "-t", "1", "phoenix")
        assert docker_ok(daemon, "inspect", "-f", template, "phoenix").strip()
        assert b"hello" in http_from_host(port)
        docker_ok(daemon, "stop", "-t", "1", "phoenix")
        stopped = json.loads(docker_ok(daemon, "inspect", "phoenix"))[0]["NetworkSettings"]
        assert stopped["Networks"][FRONT]["IPAddress"] == "" and stopped["Ports"] == {}
        assert "phoenix" not in str(inspect_network(daemon, FRONT)["Containers"])
    finally:
        docker(daemon, "rm", "-f", "phoenix")
