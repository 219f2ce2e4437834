"""The daemon's side of an OCI backend: state, signals, freezing, statistics, OOM, clean-up,
each one command of the runtime binary (``runc state``, ``runc kill`` …) on the container the
state directory names (:mod:`berth_isolation_oci.config`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from berth.plugins import IsolationRuntime, PluginContext, RuntimeState

from berth_isolation_oci.cgroup import cgroup_paths, oom_kills, remove_empty_parents
from berth_isolation_oci.command import RuntimeFailed, run_command
from berth_isolation_oci.config import RUNTIME_FILE, RuntimeConfig, find_binary
from berth_isolation_oci.stats import docker_stats

#: Keys of a daemon.json ``runtimes`` entry this backend understands.
OPTIONS = ("path", "runtimeArgs")


def _gone(exc: RuntimeFailed) -> bool:
    return "does not exist" in exc.message


class OciRuntime(IsolationRuntime):
    """One runtime binary (runc, crun, or one named in daemon.json ``runtimes``)."""

    def __init__(self, name: str, binary: str, args: list[str], root: Path) -> None:
        self.name = name
        self.binary = binary
        self.args = list(args)
        self.root = root

    @classmethod
    def from_context(cls, ctx: PluginContext) -> OciRuntime:
        unknown = sorted(set(ctx.options) - set(OPTIONS))
        if unknown:
            raise ValueError(
                f"unknown option(s) for runtime {ctx.name!r}: {', '.join(unknown)}; an OCI "
                "runtime takes path and runtimeArgs"
            )
        args = ctx.options.get("runtimeArgs") or []
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ValueError(f"runtimeArgs of runtime {ctx.name!r} must be a list of strings")
        binary = find_binary(str(ctx.options.get("path") or ctx.name))
        return cls(ctx.name, binary, args, ctx.run_dir)

    def prepare(self, state_dir: Path, container_id: str = "") -> None:
        """Before the container's monitor starts: tell its launcher which binary to run, with
        which arguments and ``--root`` (``oci-runtime.json`` in ``state_dir``)."""
        self.root.mkdir(parents=True, exist_ok=True)
        config = RuntimeConfig(
            self.binary, self.args, str(self.root), container_id or Path(state_dir).name
        )
        config.save(str(state_dir))

    # --- IsolationRuntime ---------------------------------------------------------------------

    def _config(self, state_dir: Path) -> RuntimeConfig:
        return RuntimeConfig.load(str(state_dir))

    def _run(self, state_dir: Path, *command: str, capture: bool = False) -> bytes:
        config = self._config(state_dir)
        return run_command(config, [*command, config.id], str(state_dir), capture=capture)

    def state(self, state_dir: Path) -> RuntimeState:
        try:
            output = self._run(state_dir, "state", capture=True)
        except RuntimeFailed as exc:
            if _gone(exc):  # prepared, but never created (or deleted behind our back)
                raise FileNotFoundError(f"no container in {state_dir}: {exc.message}") from None
            raise
        data = json.loads(output)
        status = str(data.get("status", "stopped"))
        return RuntimeState(
            status=status,
            pid=int(data.get("pid") or 0) if status != "stopped" else 0,
            bundle=str(data.get("bundle", "")),
            annotations=dict(data.get("annotations") or {}),
        )

    def kill(self, state_dir: Path, signal: int, all: bool = False) -> None:
        try:
            config = self._config(state_dir)
        except FileNotFoundError:
            raise ProcessLookupError(f"no container in {state_dir}") from None
        command = ["kill", *(["--all"] if all else []), config.id, str(int(signal))]
        try:
            run_command(config, command, str(state_dir))
        except RuntimeFailed as exc:
            if _gone(exc) or "not running" in exc.message:
                raise ProcessLookupError(f"container is not running: {exc.message}") from None
            raise

    def pause(self, state_dir: Path) -> None:
        self._run(state_dir, "pause")

    def resume(self, state_dir: Path) -> None:
        self._run(state_dir, "resume")

    def stats(self, state_dir: Path) -> Mapping[str, Any]:
        output = self._run(state_dir, "events", "--stats", capture=True)
        event = json.loads(output.splitlines()[0]) if output.strip() else {}
        return docker_stats(event.get("data") or {})

    def oom_killed(self, state_dir: Path) -> bool:
        try:
            config = self._config(state_dir)
        except FileNotFoundError:
            return False  # deleted: the verdict went with it (the monitor recorded it)
        return oom_kills(config) > 0

    def delete(self, state_dir: Path, force: bool = False) -> None:
        try:
            config = self._config(state_dir)
        except FileNotFoundError:
            return
        command = ["delete", *(["--force"] if force else []), config.id]
        cgroups = cgroup_paths(config)  # (the runtime's record goes with the delete)
        try:
            run_command(config, command, str(state_dir))
        except RuntimeFailed as exc:
            if not _gone(exc):
                raise
        remove_empty_parents(cgroups)
        for leftover in ("init.pid", "console.sock", RUNTIME_FILE):
            try:
                os.unlink(os.path.join(state_dir, leftover))
            except FileNotFoundError:
                continue
