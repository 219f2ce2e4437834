"""Credentials sent by API clients: the ``X-Registry-Auth`` header (base64url JSON of an
AuthConfig) and the ``/auth`` body, reduced to what a registry client needs."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from berth.engine.errors import BadParameter

KEYS = ("username", "password", "identitytoken", "registrytoken", "serveraddress")


def from_object(data: Any) -> dict[str, str]:
    """Docker's AuthConfig (any key case; ``auth`` = base64 "user:password") → plain keys."""
    if not isinstance(data, Mapping):
        return {}
    lowered = {str(k).lower(): v for k, v in data.items()}
    found = {k: str(lowered[k]) for k in KEYS if isinstance(lowered.get(k), str) and lowered[k]}
    packed = lowered.get("auth")
    if isinstance(packed, str) and packed and "username" not in found:
        try:
            user, _, password = base64.b64decode(packed).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise BadParameter("invalid auth configuration: auth is not base64") from None
        found["username"], found["password"] = user, password
    return found


def from_header(header: str | None) -> dict[str, str]:
    """The ``X-Registry-Auth`` header (padded or not, url-safe or not); empty → no credentials."""
    text = (header or "").strip()
    if not text:
        return {}
    text += "=" * (-len(text) % 4)
    try:
        raw = base64.urlsafe_b64decode(text.replace("+", "-").replace("/", "_"))
        data = json.loads(raw or b"{}")
    except (binascii.Error, ValueError):
        raise BadParameter("invalid X-Registry-Auth header: not base64-encoded JSON") from None
    return from_object(data)


def credentials(auth: Mapping[str, str]) -> dict[str, str] | None:
    """What the registry client gets: None when there is nothing to authenticate with."""
    picked = {k: v for k, v in auth.items() if k != "serveraddress" and v}
    return picked or None


def registry_of_server(address: str) -> str:
    """``https://index.docker.io/v1/`` → ``docker.io``; ``localhost:5000/`` → ``localhost:5000``."""
    text = address.strip()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.split("/", 1)[0]
    if text in ("", "index.docker.io", "registry-1.docker.io", "docker.io"):
        return "docker.io"
    return text
