"""A stand-in for a container's monitor, for isolation tests: it imports a backend's launcher
module and calls it on request. Run as a script, the way the monitor runs::

    python -I -S launcher_driver.py '{"path": [...], "launcher": "pkg.launcher"}'

then one JSON request per line on stdin, one JSON answer per line on stdout. Standard library
only, and no ``berth`` import (as the monitor). It is the parent of the containers it creates
(a child subreaper), waits for them and reaps them.

Requests (answers carry ``"ok"``; a failure carries ``"type"``, ``"errno"``, ``"message"``):

- ``{"op": "create", "bundle", "state_dir", "stdin", "stdout", "stderr", "tty"}`` → ``pid``
  (paths of files; ``stdin`` may be null for /dev/null; with ``tty`` the terminal's output is
  copied to ``stdout``)
- ``{"op": "start"}``
- ``{"op": "exec", "process", "stdin", "stdout", "stderr", "tty"}`` → ``pid``
- ``{"op": "wait", "pid": N or null (the init), "timeout": s}`` → ``exit_code`` (128+n for a
  signal) or ``"timeout": true``
- ``{"op": "oom_killed"}`` → ``value``; ``{"op": "delete"}``; ``{"op": "reap"}``; ``{"op": "quit"}``
"""

from __future__ import annotations

import importlib
import json
import os
import socket
import sys
import threading
import time
from typing import Any


class Driver:
    def __init__(self, launcher: Any) -> None:
        self.launcher = launcher
        self.bundle = ""
        self.state_dir = ""
        self.init_pid = 0
        self.pumps: dict[int, threading.Thread] = {}
        self.exits: dict[int, int] = {}

    # --- stdio ---------------------------------------------------------------------------

    @staticmethod
    def _open(request: dict[str, Any]) -> tuple[int, int, int]:
        stdin = request.get("stdin")
        fd_in = os.open(stdin, os.O_RDONLY) if stdin else os.open(os.devnull, os.O_RDONLY)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        fd_out = os.open(request["stdout"], flags, 0o644)
        fd_err = os.open(request["stderr"], flags, 0o644)
        return fd_in, fd_out, fd_err

    def _call(self, request: dict[str, Any], make: Any) -> int:  # make(stdio, console) -> pid
        stdio = self._open(request)
        console = None
        ours = None
        if request.get("tty"):
            ours, console = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            pid: int = make(stdio, console.fileno() if console else None)
        finally:
            for fd in stdio:
                os.close(fd)
            if console is not None:
                console.close()
        if ours is not None:
            with ours:
                _, fds, _, _ = socket.recv_fds(ours, 1024, 1)
            if not fds:
                raise OSError(5, "the launcher sent no terminal")
            self._pump(pid, fds[0], request["stdout"], request.get("input", ""))
        return pid

    def _pump(self, pid: int, master: int, path: str, text: str) -> None:
        def copy() -> None:
            with open(path, "ab") as out:
                while True:
                    try:
                        data = os.read(master, 65536)
                    except OSError:
                        break  # EIO: every slave is closed
                    if not data:
                        break
                    out.write(data)
                    out.flush()
            os.close(master)

        if text:
            os.write(master, text.encode())
        thread = threading.Thread(target=copy, daemon=True)
        thread.start()
        self.pumps[pid] = thread

    # --- requests ------------------------------------------------------------------------

    def create(self, request: dict[str, Any]) -> dict[str, Any]:
        self.bundle, self.state_dir = request["bundle"], request["state_dir"]

        def make(stdio: tuple[int, int, int], console: int | None) -> int:
            pid: int = self.launcher.create(self.bundle, self.state_dir, stdio, console)
            return pid

        self.init_pid = self._call(request, make)
        return {"pid": self.init_pid}

    def start(self, request: dict[str, Any]) -> dict[str, Any]:
        self.launcher.start(self.state_dir)
        return {}

    def exec(self, request: dict[str, Any]) -> dict[str, Any]:
        def make(stdio: tuple[int, int, int], console: int | None) -> int:
            pid: int = self.launcher.exec(
                self.bundle, self.state_dir, request["process"], stdio, console
            )
            return pid

        return {"pid": self._call(request, make)}

    def wait(self, request: dict[str, Any]) -> dict[str, Any]:
        pid = request.get("pid") or self.init_pid
        deadline = time.monotonic() + float(request.get("timeout", 30))
        while pid not in self.exits:
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                return {"error": f"{pid} is not a child of the driver"}
            if done:
                self.exits[pid] = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                return {"timeout": True}
            time.sleep(0.005)
        pump = self.pumps.pop(pid, None)
        if pump is not None:
            pump.join(5)
        code = self.exits[pid]
        return {"exit_code": 128 - code if code < 0 else code}

    def oom_killed(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"value": bool(self.launcher.oom_killed(self.state_dir))}

    def delete(self, request: dict[str, Any]) -> dict[str, Any]:
        self.launcher.delete(self.state_dir)
        return {}

    def reap(self, request: dict[str, Any]) -> dict[str, Any]:
        reaped = []
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if not pid:
                break
            self.exits[pid] = os.waitstatus_to_exitcode(status)
            reaped.append(pid)
        return {"reaped": reaped}


def main() -> int:
    options = json.loads(sys.argv[1])
    sys.path[:0] = options["path"]
    driver = Driver(importlib.import_module(options["launcher"]))
    for line in sys.stdin:
        request = json.loads(line)
        op = request["op"]
        if op == "quit":
            return 0
        try:
            answer = getattr(driver, op)(request)
            answer["ok"] = "error" not in answer
        except Exception as exc:
            answer = {
                "ok": False,
                "type": type(exc).__name__,
                "errno": getattr(exc, "errno", None) or 0,
                "message": getattr(exc, "strerror", None) or str(exc),
                "exit_code": getattr(exc, "exit_code", None),
            }
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
