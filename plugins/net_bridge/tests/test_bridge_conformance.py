"""core's network conformance suite against the installed bridge driver, with each of its
packet-filter backends (nftables, the default here, and the iptables fallback)."""

import shutil
import subprocess
from collections.abc import Iterator

import pytest
from berth.testing.conformance import NetworkDriverSuite

#: Tables iptables (nf_tables flavour) makes on first use; removed again when left empty.
IPTABLES_TABLES = ("filter", "nat")


class TestBridge(NetworkDriverSuite):
    name = "bridge"
    distribution = "berth-net-bridge"


def _nft_tables() -> set[str]:
    if shutil.which("nft") is None:
        return set()
    out = subprocess.run(["nft", "list", "tables", "ip"], capture_output=True, text=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.startswith("table")}


@pytest.mark.skipif(shutil.which("iptables-restore") is None, reason="iptables is not installed")
class TestBridgeWithIptables(NetworkDriverSuite):
    name = "bridge"
    distribution = "berth-net-bridge"

    @pytest.fixture(autouse=True)
    def iptables_backend(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        monkeypatch.setenv("BERTH_BRIDGE_FIREWALL", "iptables")
        yield
        for table in IPTABLES_TABLES:
            if table in _nft_tables() and _empty(table):
                # made by iptables for these tests (or empty anyway): rules of others stay
                subprocess.run(["nft", "delete", "table", "ip", table], capture_output=True)


def _empty(table: str) -> bool:
    """Whether the table holds only base chains with no rule (what iptables makes)."""
    listing = subprocess.run(
        ["nft", "list", "table", "ip", table], capture_output=True, text=True
    ).stdout
    lines = [line.strip() for line in listing.splitlines()]
    heads = ("table ", "chain ", "type ", "}")
    return bool(listing) and not [line for line in lines if line and not line.startswith(heads)]
