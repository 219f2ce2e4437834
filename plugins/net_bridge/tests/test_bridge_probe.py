"""The bridge probe's answers, each host prerequisite taken away in turn."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from berth.plugins import PluginContext
from berth.testing.fixtures import PluginContextFactory
from berth_net_bridge import probe as bridge

ALL_CAPS = "Name:\tberthd\nCapEff:\t000001ffffffffff\n"
NO_NET_ADMIN = f"Name:\tberthd\nCapEff:\t{0x1FFFFFFFFFF & ~(1 << 12):016x}\n"


@pytest.fixture
def ctx(plugin_context: PluginContextFactory) -> PluginContext:
    return plugin_context("network", "bridge")


@pytest.fixture(autouse=True)
def default_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(bridge.FIREWALL_ENV, raising=False)


@pytest.fixture
def status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake /proc/self/status (all capabilities unless a test writes otherwise)."""
    path = tmp_path / "status"
    path.write_text(ALL_CAPS)
    monkeypatch.setattr(bridge, "PROC_SELF_STATUS", path)
    return path


def test_host_with_everything_is_supported(status: Path, ctx: PluginContext) -> None:
    result = bridge.probe(ctx)
    assert result.supported, result.reason


def test_nftables_is_preferred(status: Path, ctx: PluginContext) -> None:
    assert bridge.probe(ctx).reason.startswith("packet filter: nftables")


def test_iptables_without_nft(
    status: Path, ctx: PluginContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bridge, "NFT_COMMAND", "berth-no-such-nft")
    result = bridge.probe(ctx)
    assert result.supported
    assert result.reason.startswith("packet filter: iptables")


def test_no_packet_filter(
    status: Path, ctx: PluginContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bridge, "NFT_COMMAND", "berth-no-such-nft")
    monkeypatch.setattr(bridge, "IPTABLES_COMMAND", "berth-no-such-iptables")
    result = bridge.probe(ctx)
    assert not result.supported
    assert "nftables" in result.reason and "iptables" in result.reason


def test_no_ipv4_networking(
    status: Path, ctx: PluginContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bridge, "PROC_NET_IPV4", tmp_path / "no-ipv4")
    result = bridge.probe(ctx)
    assert not result.supported
    assert result.reason.startswith("the kernel has no IPv4 networking")


def test_pyroute2_missing(
    status: Path, ctx: PluginContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bridge, "NETLINK_LIBRARY", "berth_no_such_netlink_library")
    result = bridge.probe(ctx)
    assert not result.supported
    assert result.reason.startswith("berth_no_such_netlink_library is not installed")
    assert "reinstall berth-net-bridge" in result.reason


def test_netlink_refused(status: Path, ctx: PluginContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bridge, "NETLINK_PROTOCOL", 32)  # past MAX_LINKS: the kernel refuses
    result = bridge.probe(ctx)
    assert not result.supported
    assert result.reason.startswith("cannot open a route netlink socket (")


def test_missing_cap_net_admin(status: Path, ctx: PluginContext) -> None:
    status.write_text(NO_NET_ADMIN)
    result = bridge.probe(ctx)
    assert not result.supported
    assert "CAP_NET_ADMIN" in result.reason and "root" in result.reason


@pytest.mark.parametrize("text", ["", "CapEff:\tnot-hex\n", "CapEff:\n"])
def test_unknown_capabilities_do_not_block(status: Path, ctx: PluginContext, text: str) -> None:
    status.write_text(text)
    assert bridge.probe(ctx).supported


def test_probe_never_imports_pyroute2() -> None:
    code = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from berth.plugins import PluginContext\n"
        "import berth_net_bridge.plugin as plugin\n"
        "ctx = PluginContext('network', 'bridge', Path('/nonexistent'), Path('/nonexistent'),"
        " Path('/nonexistent'))\n"
        "[spec] = plugin.berth_network_drivers()\n"
        "spec.probe(ctx)\n"
        "print(json.dumps([m for m in sys.modules if m.split('.')[0] == 'pyroute2']))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []
