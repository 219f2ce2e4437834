"""A token server for a test registry (the registry's ``auth.token`` mode): it checks Basic
credentials against a dict of users and answers with a JWT (RS256, signed with ``openssl``,
the certificate in its ``x5c`` header) granting the scope asked for. Anonymous requests get
a token with no access, as Docker Hub gives for private repositories.

    with TokenServer(directory, {"alice": "pw"}) as tokens:
        registry = start_registry(dir2, token=tokens.auth)
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from berth.testing.loopback import BackgroundHTTPServer
from berth.testing.registry import OPENSSL, TokenAuth

SERVICE = "berth-test-registry"
ISSUER = "berth-test-token-server"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenServer:
    directory: Path
    users: dict[str, str]
    lifetime: int = 300
    #: every token request: (account or "", scope)
    requests: list[tuple[str, str]] = field(default_factory=list)
    _server: BackgroundHTTPServer | None = None
    _key: Path | None = None
    _cert_der: bytes = b""

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.port

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    @property
    def auth(self) -> TokenAuth:
        return TokenAuth(self.realm, SERVICE, ISSUER, self.directory / "token.crt")

    def start(self) -> TokenServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        key, cert = self.directory / "token.key", self.directory / "token.crt"
        subprocess.run(
            [OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
             "-out", str(cert), "-days", "2", "-subj", "/CN=berth test token signer"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        der = subprocess.run(
            [OPENSSL, "x509", "-in", str(cert), "-outform", "DER"],
            check=True,
            capture_output=True,
            timeout=60,
        ).stdout
        self._key, self._cert_der = key, der
        self._server = BackgroundHTTPServer(self._answer, methods=("GET",))
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        query = parse_qs(urlsplit(handler.path).query)
        scope = " ".join(query.get("scope", []))
        account = ""
        header = handler.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                user, password = "", ""
            if self.users.get(user) != password or not user:
                self.requests.append((user, scope))
                self._send(handler, 401, {"details": "incorrect username or password"})
                return
            account = user
        self.requests.append((account, scope))
        access = []
        if account:
            for item in scope.split():
                kind, _, rest = item.partition(":")
                name, _, actions = rest.rpartition(":")
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        token = self._token(account, access)
        self._send(
            handler, 200, {"token": token, "access_token": token, "expires_in": self.lifetime}
        )

    def _token(self, account: str, access: list[dict[str, Any]]) -> str:
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(self._cert_der).decode()]}
        claims = {
            "iss": ISSUER,
            "sub": account,
            "aud": SERVICE,
            "exp": now + self.lifetime,
            "nbf": now - 30,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        assert self._key is not None
        signature = subprocess.run(
            [OPENSSL, "dgst", "-sha256", "-sign", str(self._key)],
            input=signing_input.encode(),
            check=True,
            capture_output=True,
            timeout=60,
        ).stdout
        return f"{signing_input}.{_b64(signature)}"

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
