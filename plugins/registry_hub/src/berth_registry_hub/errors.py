"""A registry's error answer (``{"errors": [{"code", "message"}]}``) as one line."""

from __future__ import annotations

import json

from berth.plugins import (
    RegistryAuthError,
    RegistryError,
    RegistryNotFound,
    RegistryUnavailable,
)


def describe(status: int, body: bytes) -> str:
    """``manifest unknown: manifest unknown`` (Docker's wording), else the status."""
    try:
        errors = json.loads(body).get("errors") or []
        parts = []
        for item in errors:
            code = str(item.get("code", "")).lower().replace("_", " ")
            message = str(item.get("message", ""))
            parts.append(f"{code}: {message}" if code and message else code or message)
        if parts:
            return "; ".join(parts)
    except (ValueError, AttributeError, TypeError):
        pass
    if status == 401 and not body.strip():
        return "authentication required"
    if status == 403 and not body.strip():
        return "requested access to the resource is denied"
    text = body.decode("utf-8", "replace").strip().splitlines()
    return f"HTTP {status}" + (f": {text[0][:200]}" if text else "")


def for_status(status: int, what: str, body: bytes) -> RegistryError:
    detail = describe(status, body)
    if status == 401:
        return RegistryAuthError(f"{what}: unauthorized: {detail}")
    if status == 403:
        return RegistryAuthError(f"{what}: denied: {detail}")
    if status == 404:
        return RegistryNotFound(f"{what} not found: {detail}")
    if status >= 500:
        return RegistryUnavailable(f"{what}: the registry failed: {detail}")
    return RegistryError(f"{what}: {detail}")
