"""Real registries for tests: Debian's ``docker-registry`` (the CNCF distribution server) on
127.0.0.1 with a free port and a temporary storage directory — plain HTTP, TLS with a test CA,
htpasswd Basic auth (bcrypt hashes made with the C library's ``crypt``), or tokens from
:mod:`berth.testing.tokenserver`.

``start_registry(directory, ...)`` returns a :class:`LocalRegistry`; ``stop()`` ends the
process and removes nothing but what it made under ``directory``.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import shutil
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from berth.testing.loopback import free_port

REGISTRY_BINARY = Path("/usr/bin/docker-registry")
OPENSSL = "openssl"


def registry_unavailable() -> str | None:
    """Why no test registry can run here, or ``None``."""
    if not REGISTRY_BINARY.is_file():
        return f"{REGISTRY_BINARY} is missing (install Debian's docker-registry)"
    return None


@dataclass(frozen=True)
class TlsFiles:
    """A test CA and a server certificate for 127.0.0.1/localhost signed by it."""

    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path


def make_tls(directory: Path) -> TlsFiles:
    """A CA and a server certificate (for ``127.0.0.1`` and ``localhost``) with openssl."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca_cert = directory / "ca.key", directory / "ca.crt"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.crt"
    ext = directory / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n")

    def run(*args: str) -> None:
        subprocess.run([OPENSSL, *args], check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(ca_key), "-out",
        str(ca_cert), "-days", "2", "-subj", "/CN=berth test CA")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr),
        "-subj", "/CN=127.0.0.1")  # fmt: skip
    run("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
        "-CAcreateserial", "-out", str(cert), "-days", "2", "-extfile", str(ext))  # fmt: skip
    return TlsFiles(ca_cert, ca_key, cert, key)


def htpasswd_line(user: str, password: str) -> str:
    """``user:$2b$…`` — a bcrypt hash, as the registry's htpasswd auth wants."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # deprecated in 3.11 but present; libxcrypt does bcrypt

    # the fewest rounds bcrypt allows: the registry checks the hash on every request
    hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
    if not hashed or not hashed.startswith("$2"):
        raise RuntimeError("this C library cannot make bcrypt hashes")
    return f"{user}:{hashed}\n"


@dataclass(frozen=True)
class TokenAuth:
    """The registry's ``auth.token`` settings: tokens signed by the key of ``cert``."""

    realm: str
    service: str
    issuer: str
    cert: Path


@dataclass
class LocalRegistry:
    directory: Path
    port: int
    scheme: str
    proc: subprocess.Popen[bytes] | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the registry part of references."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.directory / "registry.log").read_text()
        return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


def _config(
    directory: Path,
    port: int,
    tls: TlsFiles | None,
    htpasswd: Path | None,
    token: TokenAuth | None,
) -> str:
    # JSON is YAML: no YAML library needed
    config: dict[str, object] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {
            "filesystem": {"rootdirectory": str(directory / "storage")},
            "delete": {"enabled": True},
        },
        "http": {"addr": f"127.0.0.1:{port}", "secret": "berth-test"},
    }
    if tls is not None:
        config["http"] = {
            **config["http"],  # type: ignore[dict-item]
            "tls": {"certificate": str(tls.cert), "key": str(tls.key)},
        }
    if htpasswd is not None:
        config["auth"] = {"htpasswd": {"realm": "berth-test", "path": str(htpasswd)}}
    if token is not None:
        config["auth"] = {
            "token": {
                "realm": token.realm,
                "service": token.service,
                "issuer": token.issuer,
                "rootcertbundle": str(token.cert),
            }
        }
    return json.dumps(config)


def start_registry(
    directory: Path,
    *,
    tls: TlsFiles | None = None,
    users: dict[str, str] | None = None,
    token: TokenAuth | None = None,
    timeout: float = 20.0,
) -> LocalRegistry:
    """Start ``docker-registry`` under ``directory`` and wait until ``/v2/`` answers."""
    directory.mkdir(parents=True, exist_ok=True)
    htpasswd = None
    if users:
        htpasswd = directory / "htpasswd"
        htpasswd.write_text("".join(htpasswd_line(u, p) for u, p in users.items()))
    last_error = ""
    for _ in range(3):  # a free port may be taken between the check and the bind
        port = free_port()
        config_path = directory / "config.yml"
        config_path.write_text(_config(directory, port, tls, htpasswd, token))
        log = (directory / "registry.log").open("ab")
        proc = subprocess.Popen(
            [str(REGISTRY_BINARY), "serve", str(config_path)],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        registry = LocalRegistry(directory, port, "https" if tls else "http", proc)
        if _wait_ready(registry, tls, timeout):
            return registry
        registry.stop()
        last_error = registry.log()[-2000:]
    raise RuntimeError(f"docker-registry did not start:\n{last_error}")


def _wait_ready(registry: LocalRegistry, tls: TlsFiles | None, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if registry.proc is None or registry.proc.poll() is not None:
            return False
        try:
            if tls is not None:
                context = ssl.create_default_context(cafile=str(tls.ca_cert))
                conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                    "127.0.0.1", registry.port, timeout=2, context=context
                )
            else:
                conn = http.client.HTTPConnection("127.0.0.1", registry.port, timeout=2)
            conn.request("GET", "/v2/")
            status = conn.getresponse().status
            conn.close()
            if status in (200, 401):
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False
