"""Authorization for registry requests: Basic, and Bearer tokens fetched from the realm the
registry names (anonymous, with a user's password, or with an identity token), cached per
(realm, service, scope, user) until shortly before they expire."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Mapping
from urllib.parse import urlencode

from berth.plugins import RegistryAuthError, RegistryUnavailable

from berth_registry_hub.challenge import Challenge
from berth_registry_hub.transport import NETWORK_ERRORS, Transport

DEFAULT_LIFETIME = 60.0
MARGIN = 10.0


def _user(auth: Mapping[str, str] | None) -> str:
    return (auth or {}).get("username", "")


def _identity(auth: Mapping[str, str] | None) -> str:
    """Who asks, for the token cache: the user and a hash of their secret (a wrong password
    must not reuse the token a right one got)."""
    if not auth:
        return ""
    secret = f"{auth.get('password', '')}\0{auth.get('identitytoken', '')}"
    return f"{auth.get('username', '')}:{hashlib.sha256(secret.encode()).hexdigest()[:16]}"


def basic_header(auth: Mapping[str, str] | None) -> str | None:
    if not auth or not auth.get("username"):
        return None
    pair = f"{auth['username']}:{auth.get('password', '')}".encode()
    return "Basic " + base64.b64encode(pair).decode()


class TokenCache:
    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str, str, str], tuple[str, float]] = {}
        #: the last challenge seen per endpoint, to authorize the next request up front
        self.challenges: dict[str, Challenge] = {}

    def header(
        self, endpoint: str, scope: str, auth: Mapping[str, str] | None, fresh: bool = False
    ) -> str | None:
        """The Authorization header for a request to ``endpoint`` needing ``scope``, from the
        challenge that endpoint gave last (None before any challenge)."""
        if auth and auth.get("registrytoken"):
            return "Bearer " + auth["registrytoken"]
        challenge = self.challenges.get(endpoint)
        if challenge is None:
            return None
        if challenge.scheme == "basic":
            header = basic_header(auth)
            if header is None:
                host = endpoint.split("://", 1)[-1]
                raise RegistryAuthError(
                    f"{host}: unauthorized: authentication required (log in with: "
                    f"berth login {host})"
                )
            return header
        if challenge.scheme != "bearer":
            raise RegistryAuthError(
                f"{endpoint} asks for {challenge.scheme!r} authentication, which berth cannot do"
            )
        realm = challenge.params.get("realm", "")
        service = challenge.params.get("service", "")
        key = (realm, service, scope, _identity(auth))
        now = time.monotonic()
        with self._lock:
            cached = self._tokens.get(key)
        if cached is not None and cached[1] > now and not fresh:
            return "Bearer " + cached[0]
        token, lifetime = self._fetch(realm, service, scope, auth)
        with self._lock:
            self._tokens[key] = (token, now + max(lifetime - MARGIN, 1.0))
        return "Bearer " + token

    def _fetch(
        self, realm: str, service: str, scope: str, auth: Mapping[str, str] | None
    ) -> tuple[str, float]:
        if not realm.startswith(("http://", "https://")):
            raise RegistryAuthError(f"the registry named no usable token realm ({realm!r})")
        identity = (auth or {}).get("identitytoken", "")
        try:
            if identity:
                form = {
                    "grant_type": "refresh_token",
                    "refresh_token": identity,
                    "service": service,
                    "client_id": "berth",
                }
                if scope:
                    form["scope"] = scope
                response = self.transport.request(
                    "POST",
                    realm,
                    {"Content-Type": "application/x-www-form-urlencoded"},
                    urlencode(form).encode(),
                )
            else:
                query = {"service": service} if service else {}
                if scope:
                    query["scope"] = scope
                if _user(auth):
                    query["account"] = _user(auth)
                headers = {}
                basic = basic_header(auth)
                if basic:
                    headers["Authorization"] = basic
                url = realm + ("&" if "?" in realm else "?") + urlencode(query)
                response = self.transport.request("GET", url, headers)
            body = response.read(1 << 20)
        except NETWORK_ERRORS as exc:
            raise RegistryUnavailable(f"cannot get a token from {realm}: {exc}") from None
        if response.status in (401, 403):
            raise RegistryAuthError(
                f"authentication to {realm} failed: incorrect username or password"
                if _user(auth) or identity
                else f"access to {realm} refused without credentials: log in first"
            )
        if response.status != 200:
            raise RegistryUnavailable(f"the token server {realm} answered {response.status}")
        try:
            data = json.loads(body)
            token = str(data.get("token") or data.get("access_token") or "")
            lifetime = float(data.get("expires_in") or DEFAULT_LIFETIME)
        except (ValueError, AttributeError, TypeError):
            raise RegistryUnavailable(f"the token server {realm} sent no valid JSON") from None
        if not token:
            raise RegistryUnavailable(f"the token server {realm} sent no token")
        return token, lifetime
