"""Registry credentials on the client side, in Docker's ``config.json`` format.

berth writes ``~/.berth/config.json`` (``$BERTH_CONFIG`` names another directory) and reads it,
then Docker's (``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``), so a ``docker
login`` is honoured too. ``credsStore`` / ``credHelpers`` name ``docker-credential-<helper>``
programs that keep the secrets instead of the file. Docker Hub's key is
``https://index.docker.io/v1/``. Standard library only, and what only a login, a logout or
a credential helper needs is imported when it is used: `pull` looks credentials up on the
lean client path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from berth.client import jsonlite
from berth.client.errors import ClientError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path
    from typing import Any

HUB_SERVER = "https://index.docker.io/v1/"
HUB_NAMES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io", HUB_SERVER})
TOKEN_USER = "<token>"


def _config_file(variable: str, default: str) -> str:
    directory = os.environ.get(variable) or os.path.join(os.path.expanduser("~"), default)
    return os.path.join(directory, "config.json")


def berth_config_path() -> Path:
    from pathlib import Path

    return Path(_config_file("BERTH_CONFIG", ".berth"))


def server_key(registry: str) -> str:
    """The key a registry's credentials are stored under (Docker Hub's is a URL)."""
    text = registry.strip()
    if text in HUB_NAMES or text.rstrip("/") in {n.rstrip("/") for n in HUB_NAMES}:
        return HUB_SERVER
    if "://" in text:
        text = text.split("://", 1)[1]
    return text.split("/", 1)[0]


def _read(path: str | Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            data = jsonlite.loads(handle.read())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ClientError(f"cannot read {path}: {exc}") from None
    return data if isinstance(data, dict) else {}


def _write(path: Path, data: Mapping[str, Any]) -> None:
    import json
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".config-", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle, indent="\t")
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise


def _helper_of(config: Mapping[str, Any], key: str) -> str:
    helpers = config.get("credHelpers")
    if isinstance(helpers, Mapping) and isinstance(helpers.get(key), str):
        return str(helpers[key])
    store = config.get("credsStore")
    return store if isinstance(store, str) else ""


def _run_helper(helper: str, action: str, payload: str) -> str:
    import subprocess

    program = f"docker-credential-{helper}"
    try:
        done = subprocess.run(
            [program, action], input=payload, capture_output=True, text=True, timeout=60
        )
    except FileNotFoundError:
        raise ClientError(
            f"credential helper {program} is not installed (named in config.json)"
        ) from None
    except subprocess.TimeoutExpired:
        raise ClientError(f"credential helper {program} did not answer") from None
    if done.returncode != 0:
        text = (done.stdout or done.stderr).strip()
        if "credentials not found" in text.lower():
            return ""
        raise ClientError(f"credential helper {program} {action} failed: {text}")
    return done.stdout


def _from_entry(entry: Any, key: str) -> dict[str, str] | None:
    if not isinstance(entry, Mapping):
        return None
    found: dict[str, str] = {"serveraddress": key}
    packed = entry.get("auth")
    if isinstance(packed, str) and packed:
        try:
            import binascii

            user, _, password = binascii.a2b_base64(packed).decode().partition(":")
        except ValueError:
            return None
        found["username"], found["password"] = user, password
    token = entry.get("identitytoken")
    if isinstance(token, str) and token:
        found["identitytoken"] = token
    return found if len(found) > 1 else None


def _lookup_in(config: Mapping[str, Any], key: str) -> dict[str, str] | None:
    helper = _helper_of(config, key)
    if helper:
        out = _run_helper(helper, "get", key)
        if not out.strip():
            return None
        try:
            data = jsonlite.loads(out)
        except ValueError:
            raise ClientError(
                f"credential helper docker-credential-{helper} sent no JSON"
            ) from None
        user, secret = str(data.get("Username", "")), str(data.get("Secret", ""))
        if user == TOKEN_USER:
            return {"serveraddress": key, "identitytoken": secret}
        return {"serveraddress": key, "username": user, "password": secret}
    auths = config.get("auths")
    if not isinstance(auths, Mapping):
        return None
    for name, entry in auths.items():
        if server_key(str(name)) == key:
            found = _from_entry(entry, key)
            if found is not None:
                return found
    return None


def lookup(registry: str) -> dict[str, str] | None:
    """The stored credentials for ``registry`` (berth's file first, then Docker's)."""
    key = server_key(registry)
    for path in (_config_file("BERTH_CONFIG", ".berth"), _config_file("DOCKER_CONFIG", ".docker")):
        found = _lookup_in(_read(path), key)
        if found is not None:
            return found
    return None


def store(registry: str, username: str, password: str) -> Path:
    """Remember a login in berth's config.json (or its credential helper); return the file."""
    import base64
    import json

    key = server_key(registry)
    path = berth_config_path()
    config = _read(path)
    helper = _helper_of(config, key)
    auths = config.setdefault("auths", {})
    if helper:
        payload = json.dumps({"ServerURL": key, "Username": username, "Secret": password})
        _run_helper(helper, "store", payload)
        auths[key] = {}
    else:
        packed = base64.b64encode(f"{username}:{password}".encode()).decode()
        auths[key] = {"auth": packed}
    _write(path, config)
    return path


def erase(registry: str) -> bool:
    """Forget a login; whether there was one."""
    key = server_key(registry)
    path = berth_config_path()
    config = _read(path)
    auths = config.get("auths")
    found = False
    helper = _helper_of(config, key)
    if helper:
        _run_helper(helper, "erase", key)
    if isinstance(auths, dict):
        for name in [n for n in auths if server_key(str(n)) == key]:
            del auths[name]
            found = True
    if found:
        _write(path, config)
    return found


def header_value(auth: Mapping[str, str] | None) -> str:
    """The ``X-Registry-Auth`` header for ``auth`` (base64url JSON; ``{}`` when none)."""
    import binascii

    text = jsonlite.dumps(dict(auth or {})).encode()
    return binascii.b2a_base64(text, newline=False).decode().replace("+", "-").replace("/", "_")
