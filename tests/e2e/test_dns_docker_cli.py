"""Container DNS with the real docker CLI against berthd: containers on a user-defined network
find each other by name, ``--network-alias`` and ID prefix through the embedded DNS; other
names go to the container's ``--dns`` server (a fake upstream on a loopback address of this
test's own, never the internet); names on networks a container is not on, and unknown names,
are NXDOMAIN. resolv.conf and hosts follow Docker's layout, and follow connect, disconnect,
rename and stop. Lookups use busybox's ``nslookup`` inside the containers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.archives import busybox_rootfs
from tests.e2e.conftest import berth_ok, needs_busybox, needs_docker_cli, stop_daemon
from tests.e2e.containers import container_daemon, docker
from tests.integration.daemon import Daemon, make_daemon, request
from tests.integration.dnsupstream import FakeUpstream

pytestmark = [
    needs_docker_cli,
    needs_busybox,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="bridge networks need root"),
]

FRONT = "dnsfront"
BACK = "dnsback"
UPSTREAM_NAME = "upstream.test"
UPSTREAM_ADDRESS = "10.53.0.7"


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with container_daemon(tmp_path_factory.mktemp("dns-cli")) as started:
        try:
            for name in (FRONT, BACK):
                docker_ok(started, "network", "create", name)
            yield started
        finally:
            docker(started, "rm", "-f", *(c for c in docker_ok(started, "ps", "-aq").split()))
            docker(started, "network", "rm", FRONT, BACK)


@pytest.fixture(scope="module")
def upstream(daemon: Daemon) -> Iterator[FakeUpstream]:
    """A fake resolver on port 53 of 127.53.<slot>.1: the daemon's network slot is this
    test process's own, so no parallel test binds the same address."""
    with FakeUpstream(
        f"127.53.{daemon.network_slot}.1", 53, {UPSTREAM_NAME: UPSTREAM_ADDRESS}
    ) as up:
        yield up


def docker_ok(daemon: Daemon, *args: str) -> str:
    done = docker(daemon, *args)
    assert done.returncode == 0, (
        f"docker {' '.join(args)} failed ({done.returncode}): {done.stderr}\n"
        f"daemon log tail:\n{daemon.log()[-3000:]}"
    )
    return done.stdout


def lookup(daemon: Daemon, container: str, name: str) -> tuple[int, str]:
    """``nslookup name`` inside a running container: (exit status, output)."""
    done = docker(daemon, "exec", container, "nslookup", name)
    return done.returncode, done.stdout + done.stderr


def resolves_to(daemon: Daemon, container: str, name: str) -> list[str]:
    status, output = lookup(daemon, container, name)
    assert status == 0, output
    after_name = output.split("Name:", 1)[1]
    return [line.split()[-1] for line in after_name.splitlines() if line.startswith("Address")]


def nxdomain(daemon: Daemon, container: str, name: str) -> bool:
    status, output = lookup(daemon, container, name)
    return status != 0 and "NXDOMAIN" in output


def ip_on(daemon: Daemon, container: str, network: str) -> str:
    return docker_ok(
        daemon,
        "inspect",
        "-f",
        f'{{{{(index .NetworkSettings.Networks "{network}").IPAddress}}}}',
        container,
    ).strip()


def run_detached(daemon: Daemon, name: str, *options: str) -> str:
    return docker_ok(daemon, "run", "-d", "--name", name, *options, "busybox", "sleep", "600")


def test_containers_find_each_other_by_name_alias_and_id(
    daemon: Daemon, upstream: FakeUpstream
) -> None:
    dns = ("--dns", upstream.host)
    web_id = run_detached(daemon, "dns-web", "--network", FRONT, "--network-alias", "www", *dns)
    run_detached(daemon, "dns-client", "--network", FRONT, *dns)
    web_ip = ip_on(daemon, "dns-web", FRONT)
    client_ip = ip_on(daemon, "dns-client", FRONT)
    for name in ("dns-web", "www", web_id.strip()[:12], f"dns-web.{FRONT}"):
        assert resolves_to(daemon, "dns-client", name) == [web_ip], name
    assert resolves_to(daemon, "dns-web", "dns-client") == [client_ip]
    status, reverse = lookup(daemon, "dns-client", web_ip)
    assert status == 0 and f"dns-web.{FRONT}" in reverse, reverse
    ping = docker(daemon, "exec", "dns-client", "ping", "-c", "1", "-W", "5", "www")
    assert ping.returncode == 0, ping.stdout + ping.stderr
    assert nxdomain(daemon, "dns-client", "no-such-container")
    assert resolves_to(daemon, "dns-client", UPSTREAM_NAME) == [UPSTREAM_ADDRESS]
    assert ("no-such-container", "udp") in upstream.seen
    assert not any(name == "www" for name, _ in upstream.seen)


def test_names_on_other_networks_do_not_resolve(daemon: Daemon, upstream: FakeUpstream) -> None:
    run_detached(daemon, "dns-other", "--network", BACK, "--dns", upstream.host)
    run_detached(daemon, "dns-target", "--network", FRONT, "--dns", upstream.host)
    assert nxdomain(daemon, "dns-other", "dns-target")
    assert nxdomain(daemon, "dns-target", "dns-other")


def test_resolv_conf_and_hosts_on_a_user_network(daemon: Daemon) -> None:
    out = docker_ok(
        daemon,
        "run",
        "--rm",
        "--network",
        FRONT,
        "--hostname",
        "box",
        "--domainname",
        "example.com",
        "--dns",
        "10.9.9.9",
        "--dns-search",
        "corp.example",
        "--add-host",
        "gw:host-gateway",
        "--add-host",
        "db.example:10.1.2.3",
        "busybox",
        "sh",
        "-c",
        "cat /etc/resolv.conf; echo ---; cat /etc/hosts; echo ---; hostname",
    )
    resolv_conf, hosts, hostname = out.split("---\n")
    gateway = docker_ok(
        daemon, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", FRONT
    ).strip()
    bridge_gateway = docker_ok(
        daemon, "network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", "bridge"
    ).strip()
    assert resolv_conf.splitlines() == [
        "search corp.example",
        f"nameserver {gateway}",
        "options ndots:0",
    ]
    lines = hosts.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert f"{bridge_gateway}\tgw" in lines
    assert "10.1.2.3\tdb.example" in lines
    assert lines[-1].endswith("\tbox.example.com box")
    assert hostname.strip() == "box"


def test_resolv_conf_on_the_default_bridge_has_the_given_servers(daemon: Daemon) -> None:
    out = docker_ok(
        daemon,
        "run",
        "--rm",
        "--dns",
        "10.9.9.9",
        "--dns-search",
        "corp.example",
        "--dns-option",
        "timeout:2",
        "busybox",
        "cat",
        "/etc/resolv.conf",
    )
    assert out.splitlines() == [
        "search corp.example",
        "nameserver 10.9.9.9",
        "options timeout:2",
    ]


def test_connect_disconnect_rename_and_stop_update_names(
    daemon: Daemon, upstream: FakeUpstream
) -> None:
    dns = ("--dns", upstream.host)
    run_detached(daemon, "dns-mover", "--network", FRONT, *dns)
    run_detached(daemon, "dns-backend", "--network", BACK, *dns)
    assert nxdomain(daemon, "dns-mover", "dns-backend")

    docker_ok(daemon, "network", "connect", "--alias", "api", BACK, "dns-mover")
    backend_ip = ip_on(daemon, "dns-backend", BACK)
    assert resolves_to(daemon, "dns-mover", "dns-backend") == [backend_ip]
    assert resolves_to(daemon, "dns-backend", "api") == [ip_on(daemon, "dns-mover", BACK)]
    hosts = docker_ok(daemon, "exec", "dns-mover", "cat", "/etc/hosts")
    assert ip_on(daemon, "dns-mover", BACK) in hosts

    docker_ok(daemon, "rename", "dns-backend", "dns-backend2")
    assert resolves_to(daemon, "dns-mover", "dns-backend2") == [backend_ip]
    assert nxdomain(daemon, "dns-mover", "dns-backend")

    docker_ok(daemon, "network", "disconnect", BACK, "dns-mover")
    assert nxdomain(daemon, "dns-mover", "dns-backend2")
    resolv_conf = docker_ok(daemon, "exec", "dns-mover", "cat", "/etc/resolv.conf")
    assert resolv_conf.count("nameserver") == 1

    docker_ok(daemon, "network", "connect", BACK, "dns-mover")
    assert resolves_to(daemon, "dns-mover", "dns-backend2") == [backend_ip]
    docker_ok(daemon, "stop", "-t", "0", "dns-backend2")
    assert nxdomain(daemon, "dns-mover", "dns-backend2")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--dns", "not-an-ip"], "IP address is not correctly formatted: not-an-ip"),
        (["--add-host", "nocolon"], 'bad format for add-host: "nocolon"'),
        (["--add-host", "h:1.2.3.999"], "invalid IP address in add-host"),
    ],
)
def test_bad_dns_options_are_one_clear_line(
    daemon: Daemon, options: list[str], message: str
) -> None:
    done = docker(daemon, "run", "--rm", *options, "busybox", "true")
    assert done.returncode == 125, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("host_config", "message"),
    [
        ({"Dns": ["not-an-ip"]}, "not-an-ip is not an ip address"),
        ({"ExtraHosts": ["nocolon"]}, 'bad format for add-host: \\"nocolon\\"'),
        ({"ExtraHosts": ["h:1.2.3.999"]}, "invalid IP address in add-host"),
    ],
)
def test_bad_dns_options_through_the_api_are_400(
    daemon: Daemon, host_config: dict[str, object], message: str
) -> None:
    body = {"Image": "busybox", "Cmd": ["true"], "HostConfig": host_config}
    status, _, payload = request(
        daemon.sock, "POST", "/v1.44/containers/create", json.dumps(body).encode()
    )
    assert status == 400, payload
    assert message in payload.decode()


def test_internal_networks_resolve_names_too(daemon: Daemon, upstream: FakeUpstream) -> None:
    docker_ok(daemon, "network", "create", "--internal", "dnsinternal")
    try:
        dns = ("--dns", upstream.host)
        run_detached(daemon, "dns-inner-a", "--network", "dnsinternal", *dns)
        run_detached(daemon, "dns-inner-b", "--network", "dnsinternal", *dns)
        address = ip_on(daemon, "dns-inner-a", "dnsinternal")
        assert resolves_to(daemon, "dns-inner-b", "dns-inner-a") == [address]
    finally:
        docker(daemon, "rm", "-f", "dns-inner-a", "dns-inner-b")
        docker(daemon, "network", "rm", "dnsinternal")


def test_names_resolve_again_after_a_daemon_restart(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with container_daemon(tmp_path_factory.mktemp("dns-restart")) as own:
        try:
            docker_ok(own, "network", "create", FRONT)
            run_detached(own, "dns-kept", "--network", FRONT)
            run_detached(own, "dns-asker", "--network", FRONT)
            address = ip_on(own, "dns-kept", FRONT)
            assert resolves_to(own, "dns-asker", "dns-kept") == [address]
            assert own.stop() == 0
            own.start()
            assert resolves_to(own, "dns-asker", "dns-kept") == [address]
        finally:
            docker(own, "rm", "-f", "dns-kept", "dns-asker")
            docker(own, "network", "rm", FRONT)


def test_a_container_sharing_a_network_namespace_shares_its_files(
    daemon: Daemon, upstream: FakeUpstream
) -> None:
    run_detached(
        daemon, "dns-host", "--network", FRONT, "--hostname", "shared", "--dns", upstream.host
    )
    run_detached(daemon, "dns-peer", "--network", FRONT, "--dns", upstream.host)
    out = docker_ok(
        daemon,
        "run",
        "--rm",
        "--network",
        "container:dns-host",
        "busybox",
        "sh",
        "-c",
        "cat /etc/hosts /etc/resolv.conf; hostname; nslookup dns-peer",
    )
    own = docker_ok(daemon, "exec", "dns-host", "cat", "/etc/hosts", "/etc/resolv.conf")
    assert out.startswith(own)
    assert "shared\n" in out
    assert ip_on(daemon, "dns-peer", FRONT) in out.split("Name:", 1)[1]


def test_the_berth_cli_runs_containers_that_resolve_names(
    daemon: Daemon, upstream: FakeUpstream
) -> None:
    dns = ("--dns", upstream.host)
    run_detached(daemon, "dns-b-target", "--network", FRONT, *dns)
    berth_ok(
        daemon,
        "run",
        "-d",
        "--name",
        "dns-b-alias",
        "--network",
        FRONT,
        "--network-alias",
        "aliased",
        *dns,
        "busybox",
        "sleep",
        "600",
    )
    out = berth_ok(
        daemon,
        "run",
        "--rm",
        "--network",
        FRONT,
        *dns,
        "busybox",
        "sh",
        "-c",
        "nslookup dns-b-target && nslookup aliased",
    )
    assert ip_on(daemon, "dns-b-target", FRONT) in out
    assert ip_on(daemon, "dns-b-alias", FRONT) in out


def test_the_daemons_dns_defaults(tmp_path: Path) -> None:
    """daemon.json ``dns``/``dns-search``/``dns-opts``: the default bridge's resolv.conf gets
    them; on a user network the embedded DNS forwards to the ``dns`` servers."""
    own = make_daemon()
    up = FakeUpstream(f"127.53.{own.network_slot}.1", 53, {UPSTREAM_NAME: UPSTREAM_ADDRESS})
    try:
        own.config_file.write_text(
            json.dumps(
                {"dns": [up.host], "dns-search": ["corp.example"], "dns-opts": ["timeout:3"]}
            )
        )
        own.start()
        berth_ok(own, "import", str(busybox_rootfs(tmp_path / "rootfs.tar")), "busybox:latest")
        assert docker_ok(own, "run", "--rm", "busybox", "cat", "/etc/resolv.conf").splitlines() == [
            "search corp.example",
            f"nameserver {up.host}",
            "options timeout:3",
        ]
        docker_ok(own, "network", "create", FRONT)
        out = docker_ok(
            own, "run", "--rm", "--network", FRONT, "busybox", "nslookup", UPSTREAM_NAME
        )
        assert UPSTREAM_ADDRESS in out
    finally:
        docker(own, "network", "rm", FRONT)
        up.close()
        stop_daemon(own)
