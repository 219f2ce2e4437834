"""Instructions that change only the image config (ENV, LABEL, CMD, ENTRYPOINT, EXPOSE, USER,
WORKDIR, VOLUME, STOPSIGNAL, SHELL, HEALTHCHECK, ONBUILD, MAINTAINER), as Docker's classic
builder applies them, and the history text (``created_by``) each one leaves."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from berth.engine.build.dockerfile import Instruction
from berth.engine.errors import BadParameter

DEFAULT_SHELL = ["/bin/sh", "-c"]
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

#: Expands one word with the step's environment (ENV over declared ARGs).
Expand = Callable[[str], str]


def env_map(config: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in config.get("Env") or []:
        key, _, value = str(item).partition("=")
        out[key] = value
    return out


def set_env(config: dict[str, Any], key: str, value: str) -> None:
    env = [e for e in config.get("Env") or [] if str(e).partition("=")[0] != key]
    env.append(f"{key}={value}")
    config["Env"] = env


def shell_of(config: dict[str, Any]) -> list[str]:
    shell = config.get("Shell")
    return [str(s) for s in shell] if shell else list(DEFAULT_SHELL)


def nop(config: dict[str, Any], text: str) -> str:
    """Docker's history text of a step that runs nothing: ``/bin/sh -c #(nop)  ENV A=b``."""
    return " ".join(shell_of(config)) + " #(nop)  " + text


def _command(config: dict[str, Any], instruction: Instruction) -> list[str]:
    if instruction.json_form:
        return list(instruction.args)
    if not instruction.args:
        return []
    return [*shell_of(config), instruction.args[0]]


def _ports(words: list[str]) -> list[str]:
    out: list[str] = []
    for word in words:
        port, _, proto = word.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise BadParameter(f"invalid proto: {proto}")
        low, dash, high = port.partition("-")
        try:
            first = int(low)
            last = int(high) if dash else first
        except ValueError:
            raise BadParameter(f"invalid containerPort: {port}") from None
        if not (0 < first <= last < 65536):
            raise BadParameter(f"invalid range: {port}")
        out.extend(f"{p}/{proto}" for p in range(first, last + 1))
    return out


@dataclass
class StageFlags:
    cmd_set: bool = False  # a CMD in this stage: a later ENTRYPOINT keeps it


def apply(
    config: dict[str, Any],
    doc: dict[str, Any],
    ins: Instruction,
    expand: Expand,
    flags: StageFlags,
) -> str:
    """Apply one config-only instruction; return its history text."""
    keyword = ins.keyword
    if keyword in ("ENV", "LABEL"):
        values = [(key, expand(value or "")) for key, value in ins.pairs]
        if keyword == "ENV":
            for key, value in values:
                set_env(config, expand(key), value)
        else:
            labels = dict(config.get("Labels") or {})
            for key, value in values:
                labels[expand(key)] = value
            config["Labels"] = labels
        return nop(config, keyword + " " + " ".join(f"{expand(k)}={v}" for k, v in values))
    if keyword == "CMD":
        config["Cmd"] = _command(config, ins)
        flags.cmd_set = True
        return nop(config, "CMD " + json.dumps(config["Cmd"]))
    if keyword == "ENTRYPOINT":
        config["Entrypoint"] = _command(config, ins) or None
        if not flags.cmd_set:
            config["Cmd"] = None
        return nop(config, "ENTRYPOINT " + json.dumps(config["Entrypoint"] or []))
    if keyword == "EXPOSE":
        ports = _ports([expand(w) for w in ins.args])
        exposed = dict(config.get("ExposedPorts") or {})
        for port in ports:
            exposed[port] = {}
        config["ExposedPorts"] = exposed
        return nop(config, "EXPOSE " + " ".join(sorted(set(ports))))
    if keyword == "USER":
        config["User"] = expand(ins.args[0])
        return nop(config, "USER " + config["User"])
    if keyword == "WORKDIR":
        path = expand(ins.args[0])
        current = str(config.get("WorkingDir") or "/")
        config["WorkingDir"] = posixpath.normpath(posixpath.join(current, path))
        return nop(config, "WORKDIR " + config["WorkingDir"])
    if keyword == "VOLUME":
        volumes = dict(config.get("Volumes") or {})
        paths = [expand(w) for w in ins.args]
        for path in paths:
            if not path.strip():
                raise BadParameter("VOLUME specified can not be an empty string")
            volumes[path] = {}
        config["Volumes"] = volumes
        return nop(config, "VOLUME " + json.dumps(paths))
    if keyword == "STOPSIGNAL":
        config["StopSignal"] = expand(ins.args[0])
        return nop(config, "STOPSIGNAL " + config["StopSignal"])
    if keyword == "SHELL":
        config["Shell"] = list(ins.args)
        return nop(config, "SHELL " + json.dumps(config["Shell"]))
    if keyword == "HEALTHCHECK":
        check = ins.healthcheck
        assert check is not None
        health: dict[str, Any] = {"Test": list(check.test)}
        for field_name, amount in (
            ("Interval", check.interval),
            ("Timeout", check.timeout),
            ("StartPeriod", check.start_period),
            ("StartInterval", check.start_interval),
            ("Retries", check.retries),
        ):
            if amount:
                health[field_name] = amount
        config["Healthcheck"] = health
        return nop(config, "HEALTHCHECK " + json.dumps(health, separators=(",", ":")))
    if keyword == "ONBUILD":
        triggers = list(config.get("OnBuild") or [])
        triggers.append(ins.args[0])
        config["OnBuild"] = triggers
        return nop(config, "ONBUILD " + ins.args[0])
    if keyword == "MAINTAINER":
        doc["author"] = ins.args[0]
        return nop(config, "MAINTAINER " + ins.args[0])
    raise BadParameter(f"unknown instruction: {keyword}")
