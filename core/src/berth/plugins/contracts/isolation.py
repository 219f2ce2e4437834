"""The isolation contract, modelled on an OCI runtime's operations.

The engine writes a standard OCI runtime bundle (``config.json`` and a root file system);
backends run it. The work is split in two, because berthd is never a container's parent:

- the container's **monitor** creates, starts and execs its processes through the backend's
  *launcher* module (:mod:`berth.plugins.contracts.launcher`, named by
  :attr:`~berth.plugins.IsolationRuntimeSpec.launcher`);
- the daemon holds an :class:`IsolationRuntime` (built by the spec's factory) for what needs
  no parent: state, signals, freezing, statistics, the OOM verdict, and clean-up.

Both sides find a container by its **state directory**: the directory the caller gave the
launcher's ``create`` (``<exec-root>/containers/<id>/...``), which belongs to the backend.
State strings are the OCI ones: ``creating``, ``created``, ``running``, ``paused``,
``stopped``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The OCI states, in lifecycle order.
STATES: tuple[str, ...] = ("creating", "created", "running", "paused", "stopped")


@dataclass(frozen=True)
class RuntimeState:
    """A container's OCI state: ``status`` is one of :data:`STATES`; ``pid`` is its init's host
    PID (0 once stopped)."""

    status: str
    pid: int = 0
    bundle: str = ""
    annotations: Mapping[str, str] = field(default_factory=dict)


class IsolationRuntime(abc.ABC):
    """The daemon side of an isolation backend. Implementations are safe to call from several
    threads, and work across daemon restarts: every answer comes from the state directory and
    the kernel, not from memory."""

    @abc.abstractmethod
    def state(self, state_dir: Path) -> RuntimeState:
        """The container's OCI state; ``stopped`` once its init exited (even before it was
        reaped). Raises ``FileNotFoundError`` if no container was created in ``state_dir``."""

    @abc.abstractmethod
    def kill(self, state_dir: Path, signal: int, all: bool = False) -> None:
        """Send ``signal`` to the init process, or to every process of the container with
        ``all``. Raises ``ProcessLookupError`` when the container is not running."""

    @abc.abstractmethod
    def pause(self, state_dir: Path) -> None:
        """Freeze every process of the container (the cgroup freezer); return once frozen."""

    @abc.abstractmethod
    def resume(self, state_dir: Path) -> None:
        """Thaw a paused container."""

    @abc.abstractmethod
    def stats(self, state_dir: Path) -> Mapping[str, Any]:
        """Resource usage read from the container's cgroup, in the shape of Docker's stats
        (``GET /containers/{id}/stats``): the keys ``cpu_stats``, ``memory_stats``,
        ``pids_stats`` and ``blkio_stats``. The engine adds ``read``, ``preread``,
        ``precpu_stats``, ``name``, ``id`` and ``networks``."""

    @abc.abstractmethod
    def oom_killed(self, state_dir: Path) -> bool:
        """Whether the kernel's OOM killer killed a process of the container (until
        :meth:`delete`)."""

    @abc.abstractmethod
    def delete(self, state_dir: Path, force: bool = False) -> None:
        """Release everything the container held (cgroups, leftover processes). A running
        container is refused (``OSError``) unless ``force``, which kills it first. Deleting
        twice, or a container never created, is not an error."""
