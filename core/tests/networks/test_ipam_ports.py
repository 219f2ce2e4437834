"""IPAM (pools, overlaps, addresses) and published-port parsing, without the kernel."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest
from berth.engine.errors import BadParameter
from berth.engine.networks import ipam, ports
from berth.plugins import PortMapping

Net = ipaddress.IPv4Network
Addr = ipaddress.IPv4Address


def test_subnets_must_be_exact_ipv4_cidrs() -> None:
    assert ipam.parse_subnet("10.5.0.0/16") == Net("10.5.0.0/16")
    for bad in ("10.300.0.0/16", "nope", "fd00::/64", "10.0.0.0/31"):
        with pytest.raises(BadParameter):
            ipam.parse_subnet(bad)
    with pytest.raises(BadParameter, match=r"did you mean 10\.5\.0\.0/16"):
        ipam.parse_subnet("10.5.1.0/16")


def test_overlap_names_the_other_network() -> None:
    with pytest.raises(ipam.PoolOverlap, match=r"overlaps 10\.1\.0\.0/16 of network other"):
        ipam.check_overlap(Net("10.1.2.0/24"), {"other": Net("10.1.0.0/16")})
    ipam.check_overlap(Net("10.2.0.0/24"), {"other": Net("10.1.0.0/16")})


def test_pools_skip_taken_networks_and_host_routes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    routes = tmp_path / "route"
    routes.write_text(
        "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
        "eth0\t00000000\t0102000C\t0003\t0\t0\t0\t00000000\n"
        "eth0\t0000120A\t00000000\t0001\t0\t0\t0\t0000FFFF\n"  # 10.18.0.0/16
    )
    monkeypatch.setattr(ipam, "PROC_ROUTE", routes)
    pools = [{"base": "10.16.0.0/12", "size": 16}]
    assert ipam.choose_subnet(pools, [Net("10.16.0.0/16"), Net("10.17.0.0/24")]) == Net(
        "10.19.0.0/16"
    )
    with pytest.raises(ipam.NoPool):
        ipam.choose_subnet([{"base": "10.18.0.0/16", "size": 16}], [])


def test_default_pools_are_dockers() -> None:
    found = ipam.candidates([])
    assert next(found) == Net("172.16.0.0/16")
    assert Net("192.168.0.0/20") in list(found)


def test_addresses_skip_gateway_used_and_respect_the_range() -> None:
    net = Net("10.9.0.0/24")
    used = {Addr("10.9.0.1"), Addr("10.9.0.2")}
    assert ipam.allocate(net, None, used) == Addr("10.9.0.3")
    assert ipam.allocate(net, Net("10.9.0.128/25"), used) == Addr("10.9.0.129")
    assert ipam.allocate(net, None, used, Addr("10.9.0.77")) == Addr("10.9.0.77")
    with pytest.raises(ipam.AddressInUse):
        ipam.allocate(net, None, used, Addr("10.9.0.2"))
    with pytest.raises(BadParameter):
        ipam.allocate(net, None, used, Addr("10.9.1.5"))
    with pytest.raises(ipam.NoPool, match="full"):
        ipam.allocate(Net("10.9.0.0/30"), None, {Addr("10.9.0.1"), Addr("10.9.0.2")})


def test_port_bindings_and_publish_all() -> None:
    bindings = {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}], "53/udp": [{}]}
    exposed = {"80/tcp": {}, "443/tcp": {}}
    wanted = ports.wanted_mappings(bindings, exposed, True)
    assert wanted == [
        PortMapping("tcp", 80, 8080, "127.0.0.1"),
        PortMapping("udp", 53, 0, ""),
        PortMapping("tcp", 443, 0, ""),
    ]
    for bad in ({"80/icmp": []}, {"x/tcp": []}, {"80/tcp": [{"HostPort": "99999"}]}):
        with pytest.raises(BadParameter):
            ports.check_bindings(bad)


def test_reserved_ports_are_held_until_released() -> None:
    final, held = ports.reserve([PortMapping("tcp", 80, 0, "127.0.0.1")])
    try:
        port = final[0].host_port
        assert port > 0
        with pytest.raises(ports.PortInUse, match="port is already allocated"):
            ports.reserve([PortMapping("tcp", 81, port, "127.0.0.1")])
        assert ports.settings_ports(final, {"80/tcp": {}, "90/udp": {}}) == {
            "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}],
            "90/udp": None,
        }
    finally:
        held.close()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # free again
