"""Network records on disk: the definition survives an unreadable endpoints file."""

from __future__ import annotations

from pathlib import Path

from berth.engine.networks.model import EndpointRecord, Network
from berth.engine.networks.store import NetworkStore


class Log:
    def __getattr__(self, name: str) -> object:
        return lambda *args, **kwargs: None


def network() -> Network:
    made = Network("a" * 64, "front", "bridge", "2026-01-01T00:00:00Z",
                   [{"Subnet": "10.1.0.0/24", "Gateway": "10.1.0.1"}], {"x": "1"})  # fmt: skip
    made.endpoints["c" * 64] = EndpointRecord("e" * 64, "c" * 64, "web", "10.1.0.2/24", "m")
    return made


def test_round_trip(tmp_path: Path) -> None:
    store = NetworkStore(tmp_path, Log())
    store.save(network())
    [loaded] = NetworkStore(tmp_path, Log()).load()
    assert loaded.to_json() == network().to_json()


def test_unreadable_endpoints_keep_the_network(tmp_path: Path) -> None:
    store = NetworkStore(tmp_path, Log())
    store.save(network())
    (tmp_path / ("a" * 64 + ".endpoints")).write_bytes(b"")  # a crash mid-write, say
    [loaded] = store.load()
    assert loaded.name == "front" and loaded.endpoints == {}
    store.remove(loaded.id)
    assert list(tmp_path.iterdir()) == []
