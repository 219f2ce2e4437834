"""Dockerfile-style ``--change`` instructions applied to an image's container config
(``docker import --change``, and commit later): CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD,
STOPSIGNAL, USER, VOLUME, WORKDIR."""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from collections.abc import Callable, Iterable
from typing import Any

from berth.engine.errors import BadParameter

_PORT = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?(?:/(tcp|udp|sctp))?$", re.IGNORECASE)


def _exec_or_shell(rest: str) -> list[str]:
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except json.JSONDecodeError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return ["/bin/sh", "-c", rest]


def _words(rest: str, what: str) -> list[str]:
    try:
        return shlex.split(rest, posix=True)
    except ValueError as exc:
        raise BadParameter(f"{what}: {exc}") from None


def _pairs(rest: str, what: str) -> list[tuple[str, str]]:
    """``k=v k2="v 2"`` pairs, or the old one-pair form ``k value with spaces``."""
    words = _words(rest, what)
    if not words:
        raise BadParameter(f"{what} requires at least one argument")
    if "=" not in words[0]:
        key, _, value = rest.strip().partition(" ")
        if not value.strip():
            raise BadParameter(f"{what} must have two arguments")
        return [(key, value.strip())]
    pairs = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise BadParameter(f"{what} names can not be blank and need a value: {word!r}")
        pairs.append((key, value))
    return pairs


def _cmd(config: dict[str, Any], rest: str) -> None:
    config["Cmd"] = _exec_or_shell(rest)


def _entrypoint(config: dict[str, Any], rest: str) -> None:
    config["Entrypoint"] = _exec_or_shell(rest)
    config.setdefault("Cmd", None)


def _env(config: dict[str, Any], rest: str) -> None:
    env: list[str] = list(config.get("Env") or [])
    for key, value in _pairs(rest, "ENV"):
        env = [e for e in env if e.partition("=")[0] != key]
        env.append(f"{key}={value}")
    config["Env"] = env


def _label(config: dict[str, Any], rest: str) -> None:
    labels = dict(config.get("Labels") or {})
    labels.update(_pairs(rest, "LABEL"))
    config["Labels"] = labels


def _expose(config: dict[str, Any], rest: str) -> None:
    ports = dict(config.get("ExposedPorts") or {})
    for word in rest.split():
        match = _PORT.match(word)
        if match is None:
            raise BadParameter(f"invalid containerPort: {word}")
        start = int(match.group(1))
        end = int(match.group(2) or start)
        proto = (match.group(3) or "tcp").lower()
        if not 0 < start <= end <= 65535:
            raise BadParameter(f"invalid port range: {word}")
        for port in range(start, end + 1):
            ports[f"{port}/{proto}"] = {}
    if not ports:
        raise BadParameter("EXPOSE requires at least one argument")
    config["ExposedPorts"] = ports


def _user(config: dict[str, Any], rest: str) -> None:
    config["User"] = rest.strip()


def _workdir(config: dict[str, Any], rest: str) -> None:
    path = rest.strip()
    if not path:
        raise BadParameter("WORKDIR requires exactly one argument")
    config["WorkingDir"] = posixpath.join(config.get("WorkingDir") or "/", path)


def _volume(config: dict[str, Any], rest: str) -> None:
    rest = rest.strip()
    paths = _exec_or_shell(rest) if rest.startswith("[") else rest.split()
    if rest.startswith("[") and paths[:2] == ["/bin/sh", "-c"]:
        paths = rest.split()
    if not paths:
        raise BadParameter("VOLUME requires at least one argument")
    volumes = dict(config.get("Volumes") or {})
    for path in paths:
        if not path.strip():
            raise BadParameter("VOLUME specified can not be an empty string")
        volumes[path] = {}
    config["Volumes"] = volumes


def _onbuild(config: dict[str, Any], rest: str) -> None:
    keyword = rest.strip().split(" ", 1)[0].upper()
    if keyword in ("ONBUILD", "FROM", "MAINTAINER"):
        raise BadParameter(f"{keyword} isn't allowed as an ONBUILD trigger")
    config["OnBuild"] = [*(config.get("OnBuild") or []), rest.strip()]


def _stopsignal(config: dict[str, Any], rest: str) -> None:
    config["StopSignal"] = rest.strip()


CHANGES: dict[str, Callable[[dict[str, Any], str], None]] = {
    "cmd": _cmd,
    "entrypoint": _entrypoint,
    "env": _env,
    "expose": _expose,
    "label": _label,
    "onbuild": _onbuild,
    "stopsignal": _stopsignal,
    "user": _user,
    "volume": _volume,
    "workdir": _workdir,
}


def apply_changes(config: dict[str, Any], changes: Iterable[str]) -> dict[str, Any]:
    """A copy of ``config`` with each change applied in order; BadParameter on a bad one."""
    out = dict(config)
    for change in changes:
        line = change.strip()
        if not line:
            continue
        keyword, _, rest = line.partition(" ")
        handler = CHANGES.get(keyword.lower())
        if handler is None:
            raise BadParameter(f"{keyword.lower()} is not a valid change command")
        handler(out, rest.strip())
    return out
