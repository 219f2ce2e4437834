"""The backend's record of one container, in its state directory.

``state.json`` (written atomically by the launcher, read by both sides)::

    {"version": 1, "pid": 4242, "start_time": 123456, "bundle": "/run/...",
     "status": "created" | "running", "created": "2026-...Z",
     "cgroup": {"version": 1, "paths": {...}, "controllers": {...}}, "annotations": {...}}

Written with a rename, without fsync: the state directory lives in the runtime root (tmpfs),
which a reboot empties together with the containers it describes.

``start_time`` is the init's start time in clock ticks since boot (``/proc/<pid>/stat`` field
22): with it a recycled PID is never mistaken for the container's init.
"""

from __future__ import annotations

import os

from berth_isolation_linux import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

STATE_FILE = "state.json"
SECCOMP_FILE = "seccomp.bpf"


def write(state_dir: str, data: dict[str, Any], name: str = STATE_FILE) -> None:
    path = os.path.join(state_dir, name)
    temp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, jsonio.dumps(data).encode())
    finally:
        os.close(fd)
    os.rename(temp, path)


def read(state_dir: str, name: str = STATE_FILE) -> dict[str, Any]:
    """The record; ``FileNotFoundError`` when no container was created there."""
    with open(os.path.join(state_dir, name), "rb") as handle:
        data: dict[str, Any] = jsonio.loads(handle.read())
    return data


def start_time(pid: int) -> int | None:
    """The start time of ``pid`` (clock ticks since boot), or ``None`` if there is no such
    process or it is a zombie (it exited and waits to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


def alive(data: dict[str, Any]) -> bool:
    """Whether the init the record names is still running (not exited, not another process)."""
    pid = int(data.get("pid", 0))
    return pid > 0 and start_time(pid) == data.get("start_time")


def remove(state_dir: str) -> None:
    for name in (STATE_FILE, SECCOMP_FILE):
        try:
            os.unlink(os.path.join(state_dir, name))
        except FileNotFoundError:
            continue
