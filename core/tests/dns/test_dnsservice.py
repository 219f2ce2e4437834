"""The embedded DNS wired to a real NetworkService (records in memory, no driver calls): which
endpoints it knows, where it listens, and how it follows changes and renames."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import structlog
from berth.engine.networks import dnswire
from berth.engine.networks.dnsforward import Upstream, ask_udp
from berth.engine.networks.dnsservice import ContainerDns, dns_address, host_gateway_ip
from berth.engine.networks.model import EndpointRecord, Network
from berth.engine.networks.service import NetworkService
from berth.engine.networks.store import NetworkStore

LOG = structlog.get_logger("test")


def network(name: str, subnet: str, gateway: str) -> Network:
    return Network(f"{name}-id", name, "bridge", "now", [{"Subnet": subnet, "Gateway": gateway}])


def endpoint(container_id: str, name: str, address: str, *aliases: str) -> EndpointRecord:
    return EndpointRecord(f"ep-{container_id}", container_id, name, address, "", list(aliases))


def service(tmp_path: Path, *networks: Network) -> NetworkService:
    made = NetworkService(NetworkStore(tmp_path, LOG), lambda name: None, {}, LOG)  # type: ignore[arg-type,return-value]
    for item in networks:
        made.networks[item.id] = item
    return made


def test_only_user_networks_are_known_and_listened_on(tmp_path: Path) -> None:
    bridge = network("bridge", "10.99.0.0/24", "10.99.0.1")
    bridge.endpoints["a"] = endpoint("a", "on-bridge", "10.99.0.2/24")
    front = network("front", "10.98.0.0/24", "10.98.0.1")
    front.endpoints["b"] = endpoint("b", "web", "10.98.0.2/24", "www")
    empty = network("empty", "10.97.0.0/24", "10.97.0.1")
    dns = ContainerDns(service(tmp_path, bridge, front, empty), LOG)
    assert [(e.container_name, e.ipv4, e.aliases) for e in dns.endpoints()] == [
        ("web", "10.98.0.2", ("www",))
    ]
    assert dns.wanted_addresses() == {"10.98.0.1"}
    assert dns_address(bridge) == "" and dns_address(empty) == "10.97.0.1"
    assert host_gateway_ip(dns.networks) == "10.99.0.1"


def test_changes_and_renames_are_seen_at_once(tmp_path: Path) -> None:
    front = network("front", "10.98.0.0/24", "10.98.0.1")
    front.endpoints["b"] = endpoint("b", "web", "10.98.0.2/24")
    names = {"b": "web"}
    dns = ContainerDns(service(tmp_path, front), LOG, name_of=names.get)
    assert [e.container_name for e in dns.endpoints()] == ["web"]
    names["b"] = "renamed"
    assert [e.container_name for e in dns.endpoints()] == ["renamed"]
    front.endpoints["c"] = endpoint("c", "db", "10.98.0.3/24")
    names["c"] = "db"
    dns.changed(front.id)
    assert sorted(e.container_name for e in dns.endpoints()) == ["db", "renamed"]


def test_a_change_from_another_thread_binds_before_it_returns(tmp_path: Path) -> None:
    """The container's first query may come right after the network service's change notice:
    the listener's sockets exist by then, and the query is answered once the loop serves
    them."""
    front = network("front", "127.0.0.0/8", "127.0.0.1")
    networks = service(tmp_path, front)

    async def main() -> None:
        dns = ContainerDns(networks, LOG, port=0, upstreams=[])
        await dns.start()
        try:
            assert dns.server.addresses == {}
            front.endpoints["me"] = endpoint("me", "me", "127.0.0.1/8")
            front.endpoints["web"] = endpoint("web", "web", "127.0.0.9/8")
            notify = threading.Thread(target=networks.dns_listeners[0], args=(front.id,))
            notify.start()
            notify.join()
            port = dns.server.addresses["127.0.0.1"]
            answer = await ask_udp(dnswire.query("web"), Upstream("127.0.0.1", port), 5.0)
            assert [r.address() for r in dnswire.parse_message(answer).answers] == ["127.0.0.9"]
            front.endpoints.clear()
            dns.changed(front.id)
            for _ in range(500):  # the sync runs on the next loop turns; wait for it
                if not dns.server.addresses:
                    break
                await asyncio.sleep(0.01)
            assert dns.server.addresses == {}
        finally:
            await dns.stop()
        assert networks.dns_listeners == []

    asyncio.run(main())
