"""resolv.conf and hosts of containers on user-defined networks (the embedded DNS)."""

from __future__ import annotations

from typing import Any

import pytest
from berth.engine.containers import resolv
from berth.engine.errors import BadParameter

HOST = "search corp.example\nnameserver 127.0.0.53\nnameserver 10.0.0.2\noptions edns0\n"


def settings(**networks: tuple[str, str]) -> dict[str, Any]:
    return {
        "Networks": {
            name: {"IPAddress": ip, "Gateway": gateway} for name, (ip, gateway) in networks.items()
        }
    }


def test_user_networks_name_only_the_embedded_dns_with_ndots_0() -> None:
    text = resolv.build_resolv_conf(HOST, dns=["9.9.9.9"], embedded_dns=["172.30.0.1"])
    assert text == ("search corp.example\nnameserver 172.30.0.1\noptions edns0 ndots:0\n")


def test_user_networks_keep_given_search_and_ndots() -> None:
    text = resolv.build_resolv_conf(
        HOST,
        dns_search=["a.example", "b.example"],
        dns_options=["ndots:2", "timeout:1"],
        embedded_dns=["172.30.0.1", "172.31.0.1", "172.30.0.1", "172.32.0.1", "172.33.0.1"],
    )
    assert text.splitlines() == [
        "search a.example b.example",
        "nameserver 172.30.0.1",
        "nameserver 172.31.0.1",
        "nameserver 172.32.0.1",
        "options ndots:2 timeout:1",
    ]


def test_bad_dns_is_refused_on_user_networks_too() -> None:
    with pytest.raises(BadParameter, match="not an ip address"):
        resolv.build_resolv_conf(HOST, dns=["dns.example"], embedded_dns=["172.30.0.1"])


def test_embedded_dns_addresses_skip_the_predefined_networks() -> None:
    ns = settings(
        bridge=("172.17.0.2", "172.17.0.1"),
        front=("172.30.0.5", "172.30.0.1"),
        back=("172.31.0.5", "172.31.0.1"),
    )
    ns["Networks"]["none"] = {"IPAddress": "", "Gateway": ""}
    assert resolv.embedded_dns_addresses(ns) == ["172.30.0.1", "172.31.0.1"]
    assert resolv.network_addresses(ns) == ["172.17.0.2", "172.30.0.5", "172.31.0.5"]
    assert resolv.embedded_dns_addresses({}) == []
    assert resolv.embedded_dns_addresses(None) == []


def test_hosts_has_a_line_per_address_after_the_extra_hosts() -> None:
    text = resolv.build_hosts(
        "web",
        "example.com",
        extra_hosts=["db:10.1.1.1", "gw:host-gateway"],
        host_gateway_ip="172.17.0.1",
        more_ips=["172.30.0.5", "172.31.0.5", "172.30.0.5"],
    )
    assert text.splitlines()[6:] == [
        "10.1.1.1\tdb",
        "172.17.0.1\tgw",
        "172.30.0.5\tweb.example.com web",
        "172.31.0.5\tweb.example.com web",
    ]


def test_etc_contents_of_a_container_on_a_user_network() -> None:
    contents = resolv.etc_contents(
        "abc123def456",
        {"Hostname": "", "Domainname": ""},
        {"NetworkMode": "front", "ExtraHosts": ["gw:host-gateway"]},
        settings(front=("172.30.0.5", "172.30.0.1")),
        "172.17.0.1",
    )
    assert contents.hostname == "abc123def456"
    assert contents.hosts.splitlines()[-2:] == ["172.17.0.1\tgw", "172.30.0.5\tabc123def456"]
    assert [line for line in contents.resolv_conf.splitlines() if "nameserver" in line] == [
        "nameserver 172.30.0.1"
    ]


def test_etc_contents_on_the_default_bridge_use_the_hosts_resolvers() -> None:
    contents = resolv.etc_contents(
        "abc123def456",
        {"Hostname": "box", "Domainname": ""},
        {"NetworkMode": "bridge", "Dns": ["10.9.9.9"]},
        settings(bridge=("172.17.0.2", "172.17.0.1")),
    )
    assert "nameserver 10.9.9.9" in contents.resolv_conf.splitlines()
    assert "ndots:0" not in contents.resolv_conf
    assert contents.hosts.splitlines()[-1] == "172.17.0.2\tbox"


def test_rewrite_in_place_keeps_the_inode(tmp_path: Any) -> None:
    path = tmp_path / "hosts"
    path.write_text("a long old content\n")
    inode = path.stat().st_ino
    resolv.rewrite_in_place(str(path), "new\n")
    assert path.read_text() == "new\n" and path.stat().st_ino == inode
