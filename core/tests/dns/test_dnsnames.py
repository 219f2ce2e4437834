"""Which names the embedded DNS answers, for which asking container."""

from __future__ import annotations

import pytest
from berth.engine.networks.dnsnames import DnsEndpoint, NameTable, reverse_name_to_ip

WEB_ID = "a1b2c3d4e5f6" + "0" * 52
DB_ID = "ffeeddccbbaa" + "1" * 52
OTHER_ID = "0123456789ab" + "2" * 52

ENDPOINTS = [
    DnsEndpoint("n1", "front", WEB_ID, "web", ("www", "site"), "172.30.0.2", "fd00::2"),
    DnsEndpoint("n1", "front", DB_ID, "db", ("store",), "172.30.0.3"),
    DnsEndpoint("n2", "back", DB_ID, "db", ("pg",), "172.31.0.3"),
    DnsEndpoint("n2", "back", OTHER_ID, "worker", ("site",), "172.31.0.4"),
]


@pytest.fixture
def table() -> NameTable:
    return NameTable(ENDPOINTS)


def _web(table: NameTable) -> DnsEndpoint:
    asker = table.asker("172.30.0.2")
    assert asker is not None
    return asker


def test_asker_is_found_by_source_address(table: NameTable) -> None:
    assert _web(table).container_name == "web"
    assert table.asker("fd00:0::2") is not None
    assert table.asker("172.30.0.99") is None
    assert table.asker("not-an-ip") is None


@pytest.mark.parametrize(
    ("name", "addresses"),
    [
        ("db", ("172.30.0.3",)),
        ("DB.", ("172.30.0.3",)),
        ("store", ("172.30.0.3",)),
        ("web", ("172.30.0.2",)),
        ("www", ("172.30.0.2",)),
        (DB_ID[:12], ("172.30.0.3",)),
        (DB_ID, ("172.30.0.3",)),
        ("db.front", ("172.30.0.3",)),
    ],
)
def test_names_in_shared_networks_resolve(
    table: NameTable, name: str, addresses: tuple[str, ...]
) -> None:
    found = table.lookup(_web(table), name)
    assert found.known and found.addresses == addresses


@pytest.mark.parametrize("name", ["worker", "pg", DB_ID[:11], "db.back", "nothing", "web.back"])
def test_names_outside_shared_networks_are_not_ours(table: NameTable, name: str) -> None:
    assert not table.lookup(_web(table), name).known


def test_a_container_on_two_networks_sees_both(table: NameTable) -> None:
    db = table.asker("172.31.0.3")
    assert db is not None
    assert table.lookup(db, "worker").addresses == ("172.31.0.4",)
    assert table.lookup(db, "web").addresses == ("172.30.0.2",)
    assert table.lookup(db, "db.back").addresses == ("172.31.0.3",)
    assert set(table.lookup(db, "db").addresses) == {"172.30.0.3", "172.31.0.3"}


def test_a_shared_alias_gives_every_address_in_scope(table: NameTable) -> None:
    db = table.asker("172.31.0.3")
    assert db is not None
    assert set(table.lookup(db, "site").addresses) == {"172.30.0.2", "172.31.0.4"}
    assert table.lookup(_web(table), "site").addresses == ("172.30.0.2",)


def test_ipv6_lookups(table: NameTable) -> None:
    assert table.lookup(_web(table), "web", want_v6=True).addresses == ("fd00::2",)
    found = table.lookup(_web(table), "db", want_v6=True)
    assert found.known and found.addresses == ()


def test_reverse_lookups(table: NameTable) -> None:
    assert table.reverse(_web(table), "3.0.30.172.in-addr.arpa").targets == ("db.front",)
    assert not table.reverse(_web(table), "4.0.31.172.in-addr.arpa").known
    assert not table.reverse(_web(table), "example.com").known


@pytest.mark.parametrize(
    ("name", "ip"),
    [
        ("4.3.2.1.in-addr.arpa", "1.2.3.4"),
        ("4.3.2.1.in-addr.arpa.", "1.2.3.4"),
        ("3.2.1.in-addr.arpa", ""),
        ("x.3.2.1.in-addr.arpa", ""),
        ("2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa", "fd00::2"),
        ("2.0.ip6.arpa", ""),
    ],
)
def test_reverse_names(name: str, ip: str) -> None:
    assert reverse_name_to_ip(name) == ip
