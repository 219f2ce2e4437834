"""Registries that want credentials: htpasswd (Basic), a token server (Bearer), TLS with a
test CA. `berth login`/`logout` keep Docker's config.json; the docker CLI and docker-py log
in through berthd too; wrong or missing credentials are one clear line."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from berth.testing.registry import LocalRegistry, make_tls, start_registry
from berth.testing.tokenserver import TokenServer

from tests.e2e.conftest import berth, berth_ok, docker_env, needs_busybox, needs_docker_cli
from tests.e2e.registries import daemon_with, fails, import_busybox, inspect, needs_registry, stop
from tests.integration.daemon import Daemon

pytestmark = [needs_registry, needs_busybox]
USERS = {"alice": "wonderland"}


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    reg = start_registry(tmp_path_factory.mktemp("basic"), users=USERS)
    yield reg
    reg.cleanup()


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    with TokenServer(tmp_path_factory.mktemp("tokens"), USERS) as server:
        yield server


@pytest.fixture(scope="module")
def token_registry(
    tmp_path_factory: pytest.TempPathFactory, token_server: TokenServer
) -> Iterator[LocalRegistry]:
    reg = start_registry(tmp_path_factory.mktemp("tokenreg"), token=token_server.auth)
    yield reg
    reg.cleanup()


@pytest.fixture
def berthd() -> Iterator[Daemon]:
    """A daemon per test: each has its own client config (logins) under its root."""
    daemon = daemon_with({})
    yield daemon
    stop(daemon)


def login(
    daemon: Daemon, host: str, password: str = "wonderland"
) -> subprocess.CompletedProcess[bytes]:
    return berth(daemon, "login", "-u", "alice", "--password-stdin", host, stdin=password.encode())


def config_json(daemon: Daemon) -> dict[str, object]:
    data = json.loads((Path(daemon.env["BERTH_CONFIG"]) / "config.json").read_text())
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("kind", ["basic", "token"])
def test_login_push_pull_logout(
    kind: str,
    berthd: Daemon,
    basic_registry: LocalRegistry,
    token_registry: LocalRegistry,
    rootfs_tar: Path,
) -> None:
    registry = basic_registry if kind == "basic" else token_registry
    ref = f"{registry.host}/private/busybox:1"
    import_busybox(berthd, rootfs_tar, ref)

    line = fails(berthd, "push", ref)
    assert "unauthorized: authentication required" in line, line

    wrong = login(berthd, registry.host, "queen-of-hearts")
    assert wrong.returncode == 1
    (line,) = wrong.stderr.decode().strip().splitlines()
    assert line.startswith("Error response from daemon: ")
    assert "incorrect username or password" in line
    assert not (Path(berthd.env["BERTH_CONFIG"]) / "config.json").exists()

    done = login(berthd, registry.host)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode() == "Login Succeeded\n"
    auths = config_json(berthd)["auths"]
    assert auths == {registry.host: {"auth": base64.b64encode(b"alice:wonderland").decode()}}
    path = Path(berthd.env["BERTH_CONFIG"]) / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    assert "Pushed" in berth_ok(berthd, "push", ref)
    berth_ok(berthd, "rmi", ref)
    assert "Downloaded newer image" in berth_ok(berthd, "pull", ref)
    assert berth_ok(berthd, "run", "--rm", ref, "echo", "private") == "private\n"

    assert berth_ok(berthd, "logout", registry.host) == (
        f"Removing login credentials for {registry.host}\n"
    )
    assert config_json(berthd)["auths"] == {}
    berth_ok(berthd, "rmi", ref)
    line = fails(berthd, "pull", ref)
    assert "Error response from daemon:" in line and (
        "authentication required" in line or "pull access denied" in line
    ), line
    assert berth_ok(berthd, "logout", registry.host) == f"Not logged in to {registry.host}\n"


def test_a_docker_login_is_honoured(
    berthd: Daemon, basic_registry: LocalRegistry, rootfs_tar: Path
) -> None:
    """Credentials in Docker's config.json (DOCKER_CONFIG) serve berth too."""
    docker_config = Path(berthd.env["DOCKER_CONFIG"])
    docker_config.mkdir(parents=True, exist_ok=True)
    packed = base64.b64encode(b"alice:wonderland").decode()
    (docker_config / "config.json").write_text(
        json.dumps({"auths": {f"http://{basic_registry.host}": {"auth": packed}}})
    )
    ref = f"{basic_registry.host}/fromdocker/busybox:1"
    import_busybox(berthd, rootfs_tar, ref)
    assert "Pushed" in berth_ok(berthd, "push", ref)


def test_credential_helper(
    berthd: Daemon, basic_registry: LocalRegistry, rootfs_tar: Path, tmp_path: Path
) -> None:
    """credsStore names docker-credential-<helper>: berth login stores there, pulls ask it."""
    store = tmp_path / "secrets.json"
    helper = tmp_path / "bin" / "docker-credential-berthtest"
    helper.parent.mkdir()
    helper.write_text(
        f"""#!{os.path.realpath("/usr/bin/python3")}
import json, sys
path = {str(store)!r}
try:
    data = json.load(open(path))
except FileNotFoundError:
    data = {{}}
action = sys.argv[1]
text = sys.stdin.read()
if action == "store":
    item = json.loads(text)
    data[item["ServerURL"]] = [item["Username"], item["Secret"]]
    json.dump(data, open(path, "w"))
elif action == "get":
    if text.strip() not in data:
        print("credentials not found in native keychain")
        sys.exit(1)
    user, secret = data[text.strip()]
    print(json.dumps({{"ServerURL": text.strip(), "Username": user, "Secret": secret}}))
elif action == "erase":
    data.pop(text.strip(), None)
    json.dump(data, open(path, "w"))
"""
    )
    helper.chmod(0o755)
    config_dir = Path(berthd.env["BERTH_CONFIG"])
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "config.json").write_text(json.dumps({"credsStore": "berthtest"}))
    berthd.env["PATH"] = f"{helper.parent}:{os.environ.get('PATH', '')}"

    assert login(berthd, basic_registry.host).returncode == 0
    assert json.loads(store.read_text()) == {basic_registry.host: ["alice", "wonderland"]}
    assert config_json(berthd)["auths"] == {basic_registry.host: {}}
    ref = f"{basic_registry.host}/helper/busybox:1"
    import_busybox(berthd, rootfs_tar, ref)
    assert "Pushed" in berth_ok(berthd, "push", ref)
    berth_ok(berthd, "logout", basic_registry.host)
    assert json.loads(store.read_text()) == {}


@needs_docker_cli
def test_docker_cli_login_and_push(
    berthd: Daemon, token_registry: LocalRegistry, rootfs_tar: Path
) -> None:
    env = docker_env(berthd)
    wrong = subprocess.run(
        ["docker", "login", "-u", "alice", "--password-stdin", token_registry.host],
        input="nope",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrong.returncode == 1 and "incorrect username or password" in wrong.stderr
    done = subprocess.run(
        ["docker", "login", "-u", "alice", "--password-stdin", token_registry.host],
        input="wonderland",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "Login Succeeded" in done.stdout
    ref = f"{token_registry.host}/dockerlogin/busybox:1"
    import_busybox(berthd, rootfs_tar, ref)
    pushed = subprocess.run(
        ["docker", "push", ref], env=env, capture_output=True, text=True, timeout=120
    )
    assert pushed.returncode == 0, pushed.stderr
    assert "digest: sha256:" in pushed.stdout


def test_docker_py_login_and_pull(berthd: Daemon, basic_registry: LocalRegistry) -> None:
    import docker

    client = docker.APIClient(base_url=berthd.host)
    try:
        with pytest.raises(docker.errors.APIError, match="incorrect username or password"):
            client.login("alice", "nope", registry=basic_registry.host, reauth=True)
        answer = client.login("alice", "wonderland", registry=basic_registry.host, reauth=True)
        assert answer["Status"] == "Login Succeeded"
    finally:
        client.close()


def test_tls_registry_with_its_ca_in_certs_d(
    tmp_path_factory: pytest.TempPathFactory, rootfs_tar: Path
) -> None:
    work = tmp_path_factory.mktemp("tls")
    tls = make_tls(work / "pki")
    registry = start_registry(work / "registry", tls=tls)
    certs = work / "certs.d"
    (certs / registry.host).mkdir(parents=True)
    (certs / registry.host / "ca.crt").write_bytes(tls.ca_cert.read_bytes())
    daemon = daemon_with({"certs-dir": str(certs)})
    try:
        ref = f"{registry.host}/tls/busybox:1"
        image_id = import_busybox(daemon, rootfs_tar, ref)
        assert "Pushed" in berth_ok(daemon, "push", ref)
        berth_ok(daemon, "rmi", ref)
        berth_ok(daemon, "pull", ref)
        assert inspect(daemon, ref)["Id"] == image_id
    finally:
        stop(daemon)
        registry.cleanup()
