"""Drive a backend's launcher from a test, through :mod:`berth.testing.launcher_driver` (a
separate process playing the monitor's part: the containers' parent and reaper)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import select
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

DRIVER = Path(__file__).with_name("launcher_driver.py")


def import_paths(module: str) -> list[str]:
    """The ``sys.path`` entries a process needs to import ``module`` (its top package's
    directory), the way the monitor is told them."""
    spec = importlib.util.find_spec(module.split(".")[0])
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(f"no module named {module!r}")
    origin = Path(spec.origin)
    top = origin.parent.parent if origin.name == "__init__.py" else origin.parent
    return [str(top)]


class LaunchFailed(OSError):
    """The launcher refused: ``errno``, ``strerror`` and ``exit_code`` (set for a program that
    cannot be executed) as it raised them."""

    def __init__(self, errno_value: int, message: str, exit_code: int | None = None) -> None:
        super().__init__(errno_value, message)
        self.exit_code = exit_code


class Harness:
    """One driver process and the container it creates (its state dir and output files)."""

    def __init__(self, launcher: str, bundle: Path, state_dir: Path, output_dir: Path) -> None:
        self.launcher = launcher
        self.bundle = bundle
        self.state_dir = state_dir
        self.output_dir = output_dir
        self.stdout_path = output_dir / "stdout"
        self.stderr_path = output_dir / "stderr"
        self.init_pid = 0
        self._exec_count = 0
        options = json.dumps({"path": import_paths(launcher), "launcher": launcher})
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", str(DRIVER), options],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def __enter__(self) -> Harness:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- the wire ------------------------------------------------------------------------

    def call(self, request: Mapping[str, Any], timeout: float = 60.0) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        self.process.stdin.flush()
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"the launcher driver did not answer {request['op']} in {timeout} s")
        line = self.process.stdout.readline()
        if not line:
            err = self.process.stderr.read().decode() if self.process.stderr else ""
            raise RuntimeError(f"the launcher driver died during {request['op']}: {err}")
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            if "type" not in answer:
                raise RuntimeError(str(answer))
            message = str(answer.get("message"))
            if answer["type"] == "ValueError":
                raise ValueError(message)
            code = answer.get("exit_code")
            raise LaunchFailed(
                int(answer.get("errno") or 0), message, code if isinstance(code, int) else None
            )
        return answer

    # --- the container -------------------------------------------------------------------

    def create(self, stdin: Path | None = None, tty: bool = False, input: str = "") -> int:
        answer = self.call(
            {
                "op": "create",
                "bundle": str(self.bundle),
                "state_dir": str(self.state_dir),
                "stdin": str(stdin) if stdin else None,
                "stdout": str(self.stdout_path),
                "stderr": str(self.stderr_path),
                "tty": tty,
                "input": input,
            }
        )
        self.init_pid = int(answer["pid"])
        return self.init_pid

    def start(self) -> None:
        self.call({"op": "start"})

    def wait(self, pid: int | None = None, timeout: float = 30.0) -> int:
        answer = self.call({"op": "wait", "pid": pid, "timeout": timeout}, timeout + 30)
        if answer.get("timeout"):
            raise TimeoutError(f"process {pid or self.init_pid} did not exit in {timeout} s")
        return int(answer["exit_code"])

    def run(self, timeout: float = 30.0) -> int:
        """create, start, wait: the exit code."""
        self.create()
        self.start()
        return self.wait(timeout=timeout)

    def exec(
        self,
        process: Mapping[str, Any],
        stdin: Path | None = None,
        tty: bool = False,
        input: str = "",
    ) -> tuple[int, Path, Path]:
        """Start a process in the container: its PID and its stdout and stderr files."""
        self._exec_count += 1
        out = self.output_dir / f"exec{self._exec_count}.stdout"
        err = self.output_dir / f"exec{self._exec_count}.stderr"
        answer = self.call(
            {
                "op": "exec",
                "process": dict(process),
                "stdin": str(stdin) if stdin else None,
                "stdout": str(out),
                "stderr": str(err),
                "tty": tty,
                "input": input,
            }
        )
        return int(answer["pid"]), out, err

    def oom_killed(self) -> bool:
        return bool(self.call({"op": "oom_killed"})["value"])

    def delete(self) -> None:
        self.call({"op": "delete"})

    def reap(self) -> list[int]:
        return [int(p) for p in self.call({"op": "reap"})["reaped"]]

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text() if self.stdout_path.exists() else ""

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text() if self.stderr_path.exists() else ""

    def close(self) -> None:
        """Kill whatever the container still runs, release it, and end the driver."""
        if self.process.poll() is None:
            with contextlib.suppress(Exception):
                self.delete()
            with contextlib.suppress(Exception):
                self.reap()
            with contextlib.suppress(Exception):
                assert self.process.stdin is not None
                self.process.stdin.write(b'{"op": "quit"}\n')
                self.process.stdin.flush()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def process_spec(
    args: Sequence[str],
    *,
    env: Sequence[str] = (),
    cwd: str = "/",
    user: Mapping[str, Any] | None = None,
    capabilities: Sequence[str] = (),
    terminal: bool = False,
) -> dict[str, Any]:
    """An OCI ``process`` object for :meth:`Harness.exec`."""
    caps = list(capabilities)
    return {
        "args": list(args),
        "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", *env],
        "cwd": cwd,
        "user": dict(user or {"uid": 0, "gid": 0}),
        "terminal": terminal,
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
    }


def host_pids() -> set[int]:
    return {int(p) for p in os.listdir("/proc") if p.isdigit()}
