"""The daemon side of the ``linux`` backend: state, signals, freezer, statistics, OOM verdict
and clean-up of containers the launcher created, read from their state directories and the
kernel (so it works the same after a daemon restart)."""

from __future__ import annotations

import errno
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from berth.plugins import IsolationRuntime, RuntimeState

from berth_isolation_linux import cgroups, state


class LinuxRuntime(IsolationRuntime):
    def _record(self, state_dir: Path) -> dict[str, Any]:
        return state.read(os.fspath(state_dir))

    @staticmethod
    def _cgroup(data: Mapping[str, Any]) -> cgroups.Cgroup:
        return cgroups.Cgroup.from_json(data["cgroup"])

    def state(self, state_dir: Path) -> RuntimeState:
        data = self._record(state_dir)
        annotations = dict(data.get("annotations") or {})
        bundle = str(data.get("bundle", ""))
        if not state.alive(data):
            return RuntimeState("stopped", 0, bundle, annotations)
        status = "paused" if self._cgroup(data).frozen() else str(data.get("status", "created"))
        return RuntimeState(status, int(data["pid"]), bundle, annotations)

    def _running(self, state_dir: Path) -> dict[str, Any]:
        try:
            data = self._record(state_dir)
        except FileNotFoundError:
            raise ProcessLookupError(errno.ESRCH, "the container does not exist") from None
        if not state.alive(data):
            raise ProcessLookupError(errno.ESRCH, "the container is not running")
        return data

    def kill(self, state_dir: Path, signal: int, all: bool = False) -> None:
        data = self._running(state_dir)
        if all:
            self._cgroup(data).kill_all(signal)
        else:
            os.kill(int(data["pid"]), signal)

    def pause(self, state_dir: Path) -> None:
        self._cgroup(self._running(state_dir)).freeze()

    def resume(self, state_dir: Path) -> None:
        self._cgroup(self._running(state_dir)).thaw()

    def stats(self, state_dir: Path) -> Mapping[str, Any]:
        return self._cgroup(self._record(state_dir)).stats()

    def oom_killed(self, state_dir: Path) -> bool:
        try:
            data = self._record(state_dir)
        except FileNotFoundError:
            return False
        return self._cgroup(data).oom_kills() > 0

    def delete(self, state_dir: Path, force: bool = False) -> None:
        try:
            data = self._record(state_dir)
        except FileNotFoundError:
            return
        if state.alive(data) and not force:
            raise OSError(errno.EBUSY, "the container is running: stop it first, or force")
        cgroup = self._cgroup(data)
        if cgroup.frozen():
            cgroup.thaw()
        cgroup.destroy()
        state.remove(os.fspath(state_dir))
