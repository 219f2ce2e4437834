"""Exec instances: the processes ``docker exec`` adds to a running container.

Like Docker, berth keeps them in memory only (a restarted daemon forgets them); a container's
execs go when it stops or is removed. This module holds the records, validates the create
request and shapes ``GET /exec/{id}/json``.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from berth.engine.errors import BadParameter, Conflict, NotFound

#: An exec that never finishes is dropped after this many newer ones of its container.
MAX_EXECS_PER_CONTAINER = 256


class ExecNotFound(NotFound):
    def __init__(self, exec_id: str) -> None:
        super().__init__(f"No such exec instance: {exec_id}")


@dataclass
class ExecConfig:
    """What ``POST /containers/{id}/exec`` asked for."""

    cmd: list[str]
    tty: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    detach_keys: str = ""
    env: list[str] = field(default_factory=list)
    user: str = ""
    working_dir: str = ""
    privileged: bool = False
    console_size: tuple[int, int] | None = None


@dataclass
class ExecInstance:
    id: str
    container_id: str
    config: ExecConfig
    running: bool = False
    started: bool = False
    exit_code: int | None = None
    pid: int = 0

    def to_json(self) -> dict[str, Any]:
        cmd = self.config.cmd
        return {
            "CanRemove": False,
            "ContainerID": self.container_id,
            "DetachKeys": self.config.detach_keys,
            "ExitCode": self.exit_code,
            "ID": self.id,
            "OpenStderr": self.config.attach_stderr,
            "OpenStdin": self.config.attach_stdin,
            "OpenStdout": self.config.attach_stdout,
            "ProcessConfig": {
                "arguments": cmd[1:],
                "entrypoint": cmd[0] if cmd else "",
                "privileged": self.config.privileged,
                "tty": self.config.tty,
                "user": self.config.user,
            },
            "Running": self.running,
            "Pid": self.pid,
        }


def _bool(body: Mapping[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadParameter(f"invalid exec configuration: {key} must be true or false")
    return value


def _str(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key) or ""
    if not isinstance(value, str):
        raise BadParameter(f"invalid exec configuration: {key} must be a string")
    return value


def _strings(body: Mapping[str, Any], key: str) -> list[str]:
    value = body.get(key) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadParameter(f"invalid exec configuration: {key} must be a list of strings")
    return list(value)


def console_size(value: Any, what: str) -> tuple[int, int] | None:
    """``ConsoleSize``: ``[height, width]`` or null."""
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    ):
        raise BadParameter(f"invalid {what}: ConsoleSize must be [height, width]")
    return int(value[0]), int(value[1])


def parse_exec_config(body: Mapping[str, Any]) -> ExecConfig:
    cmd = _strings(body, "Cmd")
    if not cmd:
        raise BadParameter("No exec command specified")
    for entry in _strings(body, "Env"):
        if not entry or entry.startswith("="):
            raise BadParameter(f"invalid environment variable: {entry!r}")
    return ExecConfig(
        cmd=cmd,
        tty=_bool(body, "Tty"),
        attach_stdin=_bool(body, "AttachStdin"),
        attach_stdout=_bool(body, "AttachStdout"),
        attach_stderr=_bool(body, "AttachStderr"),
        detach_keys=_str(body, "DetachKeys"),
        env=_strings(body, "Env"),
        user=_str(body, "User"),
        working_dir=_str(body, "WorkingDir"),
        privileged=_bool(body, "Privileged"),
        console_size=console_size(body.get("ConsoleSize"), "exec configuration"),
    )


class ExecStore:
    def __init__(self) -> None:
        self._execs: dict[str, ExecInstance] = {}

    def add(self, container_id: str, config: ExecConfig) -> ExecInstance:
        instance = ExecInstance(secrets.token_hex(32), container_id, config)
        self._execs[instance.id] = instance
        mine = [e for e in self._execs.values() if e.container_id == container_id]
        for old in mine[:-MAX_EXECS_PER_CONTAINER]:
            if not old.running:
                del self._execs[old.id]
        return instance

    def get(self, exec_id: str) -> ExecInstance:
        found = self._execs.get(exec_id)
        if found is None:
            raise ExecNotFound(exec_id)
        return found

    def of_container(self, container_id: str) -> list[ExecInstance]:
        return [e for e in self._execs.values() if e.container_id == container_id]

    def remove(self, exec_id: str) -> None:
        """Forget one exec (a healthcheck's probe, once its result is recorded)."""
        self._execs.pop(exec_id, None)

    def drop_container(self, container_id: str) -> None:
        for instance in self.of_container(container_id):
            del self._execs[instance.id]

    def claim_start(self, exec_id: str) -> ExecInstance:
        """Mark the exec as started; an exec runs once (409 otherwise)."""
        instance = self.get(exec_id)
        if instance.running:
            raise Conflict(f"Error: Exec command {exec_id} is already running")
        if instance.started:
            raise Conflict(f"Error: Exec command {exec_id} has already run")
        instance.started = True
        return instance
