"""Helpers of the networking end-to-end tests: a web server container (busybox httpd), TCP
requests from the host and from containers (busybox nc), and the host-side objects a daemon's
networks own (bridge ports, nftables tables)."""

from __future__ import annotations

import os
import socket
import subprocess
import time

from berth.testing import loopback

from tests.e2e.containers import docker
from tests.integration.daemon import Daemon

#: A container command serving "hello" over HTTP on port 80.
WEB = ["sh", "-c", "echo hello > /tmp/index.html; exec httpd -f -p 80 -h /tmp"]
READY_SECONDS = 15.0


def docker_ok(daemon: Daemon, *args: str, timeout: float = 60) -> str:
    done = docker(daemon, *args, timeout=timeout)
    assert done.returncode == 0, (
        f"docker {' '.join(args)} failed ({done.returncode}): {done.stderr}\n"
        f"daemon log tail:\n{daemon.log()[-3000:]}"
    )
    return done.stdout


def http_from_host(port: int, host: str = "127.0.0.1", deadline: float = READY_SECONDS) -> bytes:
    """GET / on host:port, retried until the server answers or ``deadline`` seconds pass."""
    end = time.monotonic() + deadline
    last: Exception | None = None
    while time.monotonic() < end:
        try:
            with socket.create_connection((host, port), timeout=3) as conn:
                conn.settimeout(5)
                conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
                data = b""
                while chunk := conn.recv(4096):
                    data += chunk
                if data:
                    return data
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise AssertionError(f"nothing answered on {host}:{port}: {last}")


def nc_script(address: str, port: int = 80) -> str:
    """A shell line that GETs / from address:port with busybox nc (wget -T crashes there)."""
    return f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {address} {port}"


def http_from_container(daemon: Daemon, network: str, address: str, port: int = 80) -> str:
    """Run a throw-away container on ``network`` that fetches address:port; its output
    ('' when it could not connect)."""
    done = docker(daemon, "run", "--rm", "--network", network, "busybox", "sh", "-c",
                  nc_script(address, port))  # fmt: skip
    return done.stdout


def wait_http_inside(daemon: Daemon, container: str) -> None:
    """Wait until the web server in ``container`` answers on its own loopback."""
    end = time.monotonic() + READY_SECONDS
    while time.monotonic() < end:
        done = docker(daemon, "exec", container, "sh", "-c", nc_script("127.0.0.1"))
        if "hello" in done.stdout:
            return
        time.sleep(0.1)
    raise AssertionError(f"the web server in {container} did not start")


def bridge_ports(bridge: str) -> list[str]:
    try:
        return sorted(os.listdir(f"/sys/class/net/{bridge}/brif"))
    except OSError:
        return []


def link_exists(name: str) -> bool:
    return os.path.exists(f"/sys/class/net/{name}")


def nft_tables() -> list[str]:
    out = subprocess.run(["nft", "list", "tables", "ip"], capture_output=True, text=True).stdout
    return [line.split()[-1] for line in out.splitlines() if line.startswith("table")]


def table_of(bridge: str) -> str:
    return "berth_" + "".join(c if c.isalnum() else "_" for c in bridge)


def free_port() -> int:
    """A port free on every address: published ports bind 0.0.0.0."""
    return loopback.free_port("0.0.0.0")
