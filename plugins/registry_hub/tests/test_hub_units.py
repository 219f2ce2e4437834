"""The hub client's pieces: challenges, names, error texts, insecure rules, token caching
(against a real registry behind the test token server), TLS verification with a CA from
certs.d, and the stall timeout."""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from berth.plugins import (
    RegistryAuthError,
    RegistrySettings,
    RegistryUnavailable,
    ResolvedReference,
)
from berth.testing.registry import make_tls, registry_unavailable, start_registry
from berth.testing.tokenserver import TokenServer
from berth_registry_hub import challenge, errors, names
from berth_registry_hub.client import HubClient
from berth_registry_hub.transport import Transport

needs_registry = pytest.mark.skipif(
    registry_unavailable() is not None, reason=str(registry_unavailable())
)


def test_bearer_challenge() -> None:
    found = challenge.parse(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
        'scope="repository:library/busybox:pull"'
    )
    assert found is not None and found.scheme == "bearer"
    assert found.params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:library/busybox:pull",
    }
    basic = challenge.parse('Basic realm="berth-test"')
    assert basic is not None and basic.scheme == "basic"
    assert challenge.parse("") is None


def test_docker_hub_conventions() -> None:
    assert names.resolve("busybox") == ResolvedReference("docker.io", "library/busybox", "latest")
    assert names.resolve("index.docker.io/me/x:1").registry == "docker.io"
    assert names.registry_endpoint("docker.io") == "https://registry-1.docker.io"
    assert names.registry_endpoint("localhost:5000") == "https://localhost:5000"
    client = HubClient(RegistrySettings(mirrors=("http://127.0.0.1:1",)))
    assert [e.url for e in client.endpoints("docker.io")] == [
        "http://127.0.0.1:1",
        "https://registry-1.docker.io",
    ]
    assert [e.url for e in client.endpoints("quay.io")] == ["https://quay.io"]


def test_error_texts_are_one_line() -> None:
    body = b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
    assert errors.describe(404, body) == "manifest unknown: manifest unknown"
    assert errors.describe(401, b"") == "authentication required"
    assert errors.describe(502, b"<html>\nbad gateway\n</html>") == "HTTP 502: <html>"


def test_insecure_registries() -> None:
    transport = Transport(
        RegistrySettings(insecure_registries=("myreg:5000", "10.1.0.0/16")), "test"
    )
    assert transport.insecure("127.0.0.1:5000")
    assert transport.insecure("localhost:5000")
    assert transport.insecure("myreg:5000")
    assert transport.insecure("10.1.2.3:443")
    assert not transport.insecure("10.2.0.1")
    assert not transport.insecure("quay.io")


@pytest.fixture
def tokens(tmp_path: Path) -> Iterator[TokenServer]:
    with TokenServer(tmp_path / "tokens", {"bob": "builder"}, lifetime=300) as server:
        yield server


@needs_registry
def test_tokens_are_cached_per_scope_and_refreshed(tokens: TokenServer, tmp_path: Path) -> None:
    registry = start_registry(tmp_path / "registry", token=tokens.auth)
    try:
        client = HubClient()
        auth = {"username": "bob", "password": "builder"}
        ref = ResolvedReference(registry.host, "cache/test")
        digest = "sha256:" + "0" * 64
        assert not client.blob_exists(ref, digest, auth)
        assert not client.blob_exists(ref, digest, auth)
        scoped = [r for r in tokens.requests if r[1] == "repository:cache/test:pull,push"]
        assert scoped == [("bob", "repository:cache/test:pull,push")]  # one token, reused
        cache = client.tokens._tokens
        for key, (token, _) in list(cache.items()):  # as if their lifetime had passed
            cache[key] = (token, 0.0)
        assert not client.blob_exists(ref, digest, auth)
        scoped = [r for r in tokens.requests if r[1] == "repository:cache/test:pull,push"]
        assert len(scoped) == 2
        with pytest.raises(RegistryAuthError, match="incorrect username or password"):
            client.blob_exists(ref, digest, {"username": "bob", "password": "nope"})
    finally:
        registry.cleanup()


@needs_registry
def test_tls_is_verified_with_the_ca_in_certs_d(tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "pki")
    registry = start_registry(tmp_path / "registry", tls=tls)
    try:
        ref = ResolvedReference(registry.host, "tls/test")
        certs = tmp_path / "certs.d"
        (certs / registry.host).mkdir(parents=True)
        (certs / registry.host / "ca.crt").write_bytes(tls.ca_cert.read_bytes())
        strict = RegistrySettings(certs_dir=certs, loopback_insecure=False, attempts=1)
        client = HubClient(strict)
        data = b"over tls"
        import hashlib

        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        client.put_blob(ref, digest, io.BytesIO(data), len(data), None)
        assert client.blob_exists(ref, digest, None)
        without_ca = HubClient(
            RegistrySettings(certs_dir=tmp_path / "none", loopback_insecure=False, attempts=1)
        )
        with pytest.raises(RegistryUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            without_ca.blob_exists(ref, digest, None)
    finally:
        registry.cleanup()


def test_a_stalled_registry_times_out() -> None:
    """A server that accepts and never answers: the request fails after the stall timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        port = server.getsockname()[1]
        client = HubClient(RegistrySettings(stall_timeout=0.5, attempts=2))
        ref = ResolvedReference(
            f"127.0.0.1:{port}", "stall/test", "1", endpoint=f"http://127.0.0.1:{port}"
        )
        with pytest.raises(RegistryUnavailable, match=r"no answer within 0\.5 s"):
            client.get_manifest(ref, (), None)
    finally:
        stop.set()
        thread.join(5)
        for conn in held:
            conn.close()
        server.close()
