"""The isolation contract, modelled on an OCI runtime's operations.

The engine writes a standard OCI runtime bundle (``config.json`` and a root file system);
backends run it. State strings are the OCI ones: creating, created, running, paused, stopped.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ProcessIO:
    """File descriptors the container's process gets as stdin/stdout/stderr (or a TTY)."""

    stdin: int | None = None
    stdout: int | None = None
    stderr: int | None = None
    terminal: bool = False


@dataclass(frozen=True)
class RuntimeState:
    id: str
    status: str
    pid: int = 0
    bundle: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)


class IsolationRuntime(abc.ABC):
    @abc.abstractmethod
    def create(self, container_id: str, bundle: Path, io: ProcessIO) -> RuntimeState:
        """Set up the container from the bundle, its process created but not started."""

    @abc.abstractmethod
    def start(self, container_id: str) -> None:
        """Run the user's process of a created container."""

    @abc.abstractmethod
    def kill(self, container_id: str, signal: int) -> None:
        """Send a signal to the container's init process."""

    @abc.abstractmethod
    def state(self, container_id: str) -> RuntimeState:
        """The OCI state of the container."""

    @abc.abstractmethod
    def delete(self, container_id: str, force: bool = False) -> None:
        """Release everything the container held (cgroups, namespaces, mounts)."""

    @abc.abstractmethod
    def exec(self, container_id: str, process: Mapping[str, Any], io: ProcessIO) -> int:
        """Start another process (an OCI ``process`` object) in the container; return its PID."""

    @abc.abstractmethod
    def pause(self, container_id: str) -> None:
        """Freeze every process of the container."""

    @abc.abstractmethod
    def resume(self, container_id: str) -> None:
        """Thaw a paused container."""

    @abc.abstractmethod
    def stats(self, container_id: str) -> Mapping[str, Any]:
        """Resource usage (cpu, memory, pids, blkio) read from the container's cgroup."""
