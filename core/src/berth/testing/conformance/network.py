"""Conformance suite of network drivers (entry-point group ``berth.network.v1``).

The registration checks every plugin passes (:class:`DriverRegistrationSuite`), then the
:class:`NetworkDriver` contract against real kernel objects: networks created and deleted
(deleting twice is fine), endpoints with the addresses asked for, joined into a network
namespace made by the driver (``create_sandbox``) as ``eth0`` with the default route, two
endpoints of one network reaching each other, a published port answering on the host's
127.0.0.1, and nothing left behind (links, namespaces).

Each test uses its own network options (``network_options(name)``: override it to name the
driver's options) and a random /24 of 100.64.0.0/10, so parallel runs never collide. Tests
that need root, ``nsenter`` or a static busybox skip with the reason.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from berth.plugins import (
    AnySpec,
    DriverKind,
    EndpointInterface,
    NetworkDriver,
    NetworkDriverSpec,
    PluginContext,
    PortMapping,
    ProbeResult,
)
from berth.testing.conformance.registration import DriverRegistrationSuite
from berth.testing.loopback import free_port

BUSYBOX = Path("/bin/busybox")
SERVER = (
    "import socket,sys\n"
    "s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
    "s.bind(('0.0.0.0',int(sys.argv[1])));s.listen(4)\n"
    "print('ready',flush=True)\n"
    "c,_=s.accept();c.sendall(b'hello from the sandbox');c.close()\n"
)


def links() -> set[str]:
    return set(os.listdir("/sys/class/net"))


def _named(options: Mapping[str, Any]) -> set[str]:
    """Device names the options give (a bridge name), to check they are gone."""
    return {str(v) for k, v in options.items() if k.endswith(".name")}


def _bridge_ports(options: Mapping[str, Any]) -> list[str]:
    """Interfaces still attached to the network's bridge (Linux bridges only)."""
    found = []
    for name in _named(options):
        try:
            found.extend(os.listdir(f"/sys/class/net/{name}/brif"))
        except OSError:
            continue
    return found


def in_namespace(sandbox: str, *command: str, timeout: float = 10) -> str:
    done = subprocess.run(
        ["nsenter", f"--net={sandbox}", *command],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{command} in {sandbox}: {done.stderr}"
    return done.stdout


class NetworkDriverSuite(DriverRegistrationSuite):
    """Subclass it and set ``name`` (the entry-point name) and ``distribution``."""

    kind: ClassVar[DriverKind] = "network"
    spec_type: ClassVar[type[AnySpec]] = NetworkDriverSpec
    contract: ClassVar[type] = NetworkDriver

    def network_options(self, tag: str) -> Mapping[str, Any]:
        """Options of a test network; ``tag`` is unique to it (8 hex characters)."""
        return {"com.docker.network.bridge.name": f"berthc{tag}"}

    # --- fixtures ------------------------------------------------------------------------

    @pytest.fixture
    def driver(
        self, spec: NetworkDriverSpec, context: PluginContext, probe_result: ProbeResult
    ) -> NetworkDriver:
        if os.geteuid() != 0:
            pytest.skip("network drivers need root (CAP_NET_ADMIN)")
        if not probe_result.supported:
            pytest.skip(f"network driver {self.name!r} cannot run here: {probe_result.reason}")
        if shutil.which("nsenter") is None:
            pytest.skip("nsenter (util-linux) is needed to look inside namespaces")
        return spec.factory(context)

    @pytest.fixture
    def network(self, driver: NetworkDriver) -> Iterator[tuple[str, ipaddress.IPv4Network]]:
        """A created network: its ID and subnet; deleted after the test."""
        tag = secrets.token_hex(4)
        subnet = ipaddress.IPv4Network(
            f"100.{64 + secrets.randbelow(64)}.{secrets.randbelow(256)}.0/24"
        )
        network_id = tag * 8
        pools = [{"Subnet": str(subnet), "Gateway": str(subnet.network_address + 1)}]
        options = self.network_options(tag)
        driver.create_network(network_id, options, pools)
        try:
            yield network_id, subnet
            ports = _bridge_ports(options)
            assert not ports, f"endpoints left on the network: {ports}"
        finally:
            driver.delete_network(network_id)
        assert not _named(options) & links(), "the network's device is left behind"

    def _sandbox(self, driver: NetworkDriver, key: str) -> str:
        try:
            return driver.create_sandbox(key)
        except NotImplementedError:
            pytest.skip(f"network driver {self.name!r} makes no sandboxes")

    # --- tests ---------------------------------------------------------------------------

    def test_network_deleted_twice_is_fine(self, driver: NetworkDriver) -> None:
        tag = secrets.token_hex(4)
        options = self.network_options(tag)
        driver.create_network(tag * 8, options, [{"Subnet": "100.127.255.0/28", "Gateway": ""}])
        driver.delete_network(tag * 8)
        driver.delete_network(tag * 8)
        driver.delete_network("never-created")
        assert not _named(options) & links()

    def test_endpoint_joins_a_sandbox_as_eth0(
        self, driver: NetworkDriver, network: tuple[str, ipaddress.IPv4Network]
    ) -> None:
        network_id, subnet = network
        address = f"{subnet.network_address + 7}/{subnet.prefixlen}"
        sandbox = self._sandbox(driver, secrets.token_hex(8))
        endpoint = secrets.token_hex(32)
        try:
            made = driver.create_endpoint(
                network_id, endpoint, EndpointInterface(address=address), {}
            )
            assert made.address == address
            assert made.mac_address
            info = driver.join(network_id, endpoint, sandbox, {"ifname": "eth0"})
            assert info.gateway == str(subnet.network_address + 1)
            shown = in_namespace(sandbox, "ip", "-o", "-4", "addr", "show", "dev", "eth0")
            assert address in shown
            assert made.mac_address.lower() in in_namespace(
                sandbox, "ip", "-o", "link", "show", "eth0"
            )
            routes = in_namespace(sandbox, "ip", "-4", "route", "show", "default")
            assert f"via {info.gateway}" in routes
            driver.leave(network_id, endpoint)
            driver.delete_endpoint(network_id, endpoint)
            driver.delete_endpoint(network_id, endpoint)  # twice: fine
            assert "eth0" not in in_namespace(sandbox, "ip", "-o", "link")
        finally:
            driver.delete_endpoint(network_id, endpoint)
            driver.delete_sandbox(sandbox)
        assert not os.path.exists(sandbox)

    def test_two_endpoints_reach_each_other(
        self, driver: NetworkDriver, network: tuple[str, ipaddress.IPv4Network]
    ) -> None:
        if not BUSYBOX.is_file():
            pytest.skip(f"{BUSYBOX} is missing (Debian package busybox-static)")
        network_id, subnet = network
        made: list[tuple[str, str]] = []
        try:
            for n in (10, 11):
                sandbox = self._sandbox(driver, secrets.token_hex(8))
                endpoint = secrets.token_hex(32)
                made.append((sandbox, endpoint))
                address = f"{subnet.network_address + n}/{subnet.prefixlen}"
                driver.create_endpoint(network_id, endpoint, EndpointInterface(address=address), {})
                driver.join(network_id, endpoint, sandbox, {"ifname": "eth0"})
            other = str(subnet.network_address + 11)
            in_namespace(made[0][0], str(BUSYBOX), "ping", "-c", "1", "-W", "3", other)
        finally:
            for sandbox, endpoint in made:
                driver.delete_endpoint(network_id, endpoint)
                driver.delete_sandbox(sandbox)

    def test_published_port_answers_on_host_loopback(
        self, driver: NetworkDriver, network: tuple[str, ipaddress.IPv4Network]
    ) -> None:
        network_id, subnet = network
        sandbox = self._sandbox(driver, secrets.token_hex(8))
        endpoint = secrets.token_hex(32)
        address = f"{subnet.network_address + 20}/{subnet.prefixlen}"
        server = None
        try:
            driver.create_endpoint(network_id, endpoint, EndpointInterface(address=address), {})
            driver.join(network_id, endpoint, sandbox, {"ifname": "eth0"})
            host_port = free_port()
            mapping = PortMapping("tcp", 8080, host_port, "")
            driver.program_external_connectivity(
                network_id, endpoint, {"ports": [mapping], "address": address}
            )
            server = subprocess.Popen(
                ["nsenter", f"--net={sandbox}", sys.executable, "-c", SERVER, "8080"],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert server.stdout is not None
            assert server.stdout.readline().strip() == "ready"
            with socket.create_connection(("127.0.0.1", host_port), timeout=5) as conn:
                conn.settimeout(5)
                assert conn.recv(100) == b"hello from the sandbox"
            driver.revoke_external_connectivity(network_id, endpoint)
            driver.revoke_external_connectivity(network_id, endpoint)  # twice: fine
        finally:
            if server is not None:
                server.kill()
                server.wait()
            driver.delete_endpoint(network_id, endpoint)
            driver.delete_sandbox(sandbox)
