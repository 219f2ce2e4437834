"""HTTP/1.1 to registries over the standard library's ``http.client``: kept-alive connections
per host, TLS with per-registry CAs (``certs.d/<host>/ca.crt``), insecure registries (HTTPS
without verification, else plain HTTP), a stall timeout on every read, redirects followed."""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

from berth.plugins import RegistrySettings, RegistryUnavailable

BLOCK = 1 << 20
MAX_REDIRECTS = 5
#: Errors a retry may cure: the connection dropped, reset, timed out, or the peer went away.
NETWORK_ERRORS = (OSError, http.client.HTTPException)


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    raw: http.client.HTTPResponse
    url: str
    _release: Any = None

    def header(self, name: str) -> str:
        return self.headers.get(name, "") or ""

    def read(self, limit: int = 16 << 20) -> bytes:
        """The whole (small) body; the connection goes back to the pool."""
        try:
            data = self.raw.read(limit + 1)
        finally:
            self.close()
        if len(data) > limit:
            raise RegistryUnavailable(f"the registry's answer from {self.url} is too large")
        return data

    def close(self) -> None:
        """Done with the answer: a fully read one gives its connection back to the pool."""
        release, self._release = self._release, None
        if release is not None:
            release(True)

    def discard(self) -> None:
        """Done with an answer not read to its end: its connection is closed."""
        release, self._release = self._release, None
        if release is not None:
            release(False)


def _is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Transport:
    def __init__(self, settings: RegistrySettings, user_agent: str) -> None:
        self.settings = settings
        self.user_agent = user_agent
        self._lock = threading.Lock()
        self._idle: dict[tuple[str, str], list[http.client.HTTPConnection]] = {}
        self._contexts: dict[tuple[str, bool], ssl.SSLContext] = {}
        self._plain: dict[str, bool] = {}  # host → "speaks plain HTTP" (insecure ones)

    # --- who is insecure, which CA ------------------------------------------------------

    def insecure(self, host: str) -> bool:
        """Docker's rule: listed in insecure-registries (name or CIDR), or a loopback address."""
        name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
        if self.settings.loopback_insecure and _is_local(name):
            return True
        for entry in self.settings.insecure_registries:
            entry = entry.split("://", 1)[-1].rstrip("/")
            if entry in (host, name):
                return True
            try:
                if ipaddress.ip_address(name.strip("[]")) in ipaddress.ip_network(entry, False):
                    return True
            except ValueError:
                continue
        return False

    def _context(self, host: str, verify: bool) -> ssl.SSLContext:
        key = (host, verify)
        with self._lock:
            context = self._contexts.get(key)
        if context is not None:
            return context
        context = ssl.create_default_context()
        if verify:
            ca_dir = Path(self.settings.certs_dir) / host
            if ca_dir.is_dir():
                for ca in sorted(ca_dir.glob("*.crt")):
                    if ca.name.endswith(".cert"):
                        continue
                    context.load_verify_locations(cafile=str(ca))
                cert, key_file = ca_dir / "client.cert", ca_dir / "client.key"
                if cert.is_file() and key_file.is_file():
                    context.load_cert_chain(str(cert), str(key_file))
        else:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        with self._lock:
            self._contexts[key] = context
        return context

    def base_url(self, url: str) -> str:
        """``url`` (an ``https://`` base), rewritten to ``http://`` for an insecure registry
        that does not speak TLS (found once per host by trying)."""
        parts = urlsplit(url)
        host = parts.netloc
        if parts.scheme != "https" or not self.insecure(host):
            return url
        with self._lock:
            plain = self._plain.get(host)
        if plain is None:
            plain = not self._speaks_tls(host)
            with self._lock:
                self._plain[host] = plain
        return url.replace("https://", "http://", 1) if plain else url

    def _speaks_tls(self, host: str) -> bool:
        hostname, port = _host_port(host, 443)
        try:
            with socket.create_connection((hostname, port), timeout=5) as sock:
                context = self._context(host, verify=False)
                with context.wrap_socket(sock, server_hostname=hostname):
                    return True
        except (ssl.SSLError, ConnectionResetError):
            return False
        except OSError:
            return True  # unreachable: let the HTTPS request report it

    # --- connections -----------------------------------------------------------------

    def _connect(self, scheme: str, host: str) -> http.client.HTTPConnection:
        with self._lock:
            idle = self._idle.get((scheme, host))
            if idle:
                return idle.pop()
        timeout = self.settings.stall_timeout
        if scheme == "https":
            verify = not self.insecure(host)
            hostname, port = _host_port(host, 443)
            return http.client.HTTPSConnection(
                hostname,
                port,
                timeout=timeout,
                context=self._context(host, verify),
                blocksize=BLOCK,
            )
        hostname, port = _host_port(host, 80)
        return http.client.HTTPConnection(hostname, port, timeout=timeout, blocksize=BLOCK)

    def _give_back(self, scheme: str, host: str, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            idle = self._idle.setdefault((scheme, host), [])
            if len(idle) < 8:
                idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            pools, self._idle = self._idle, {}
        for idle in pools.values():
            for conn in idle:
                conn.close()

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        follow: bool = True,
    ) -> Response:
        """One request (redirects followed for GET/HEAD, Authorization dropped when the host
        changes). Network failures raise OSError/HTTPException for the caller to retry."""
        sent = {"User-Agent": self.user_agent, **(headers or {})}
        origin = urlsplit(url).netloc
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            target = parts.path or "/"
            if parts.query:
                target += "?" + parts.query
            conn = self._connect(parts.scheme, parts.netloc)
            try:
                conn.request(method, target, body=body, headers=sent)
                raw = conn.getresponse()
            except BaseException:
                conn.close()
                raise
            redirect = raw.status in (301, 302, 303, 307, 308) and follow
            if redirect and method in ("GET", "HEAD"):
                location = raw.getheader("Location", "")
                raw.read()
                self._release(parts.scheme, parts.netloc, conn, raw)
                url = urljoin(url, location)
                if urlsplit(url).netloc != origin:
                    sent = {k: v for k, v in sent.items() if k.lower() != "authorization"}
                continue

            def release(
                reuse: bool,
                scheme: str = parts.scheme,
                netloc: str = parts.netloc,
                conn: http.client.HTTPConnection = conn,
                raw: http.client.HTTPResponse = raw,
            ) -> None:
                if reuse:
                    self._release(scheme, netloc, conn, raw)
                else:
                    raw.close()
                    conn.close()

            return Response(raw.status, raw.headers, raw, url, release)
        raise RegistryUnavailable(f"too many redirects from {url}")

    def _release(
        self,
        scheme: str,
        host: str,
        conn: http.client.HTTPConnection,
        raw: http.client.HTTPResponse,
    ) -> None:
        if raw.isclosed() and not raw.will_close:
            self._give_back(scheme, host, conn)
        else:
            conn.close()


def _host_port(host: str, default: int) -> tuple[str, int]:
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        return name, int(rest[1:]) if rest.startswith(":") else default
    name, colon, port = host.partition(":")
    return name, int(port) if colon and port.isdigit() else default
