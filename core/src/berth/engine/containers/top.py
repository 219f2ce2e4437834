"""``GET /containers/{id}/top``: the host's ``ps`` output, cut down to the container's processes.

A container's processes are those in its init's PID namespace (exec'd ones included, whatever
their parent). ``ps`` runs with the caller's arguments (``-ef`` by default) and its rows are
kept when their PID column names one of them, as Docker does.
"""

from __future__ import annotations

import os
import shlex
import subprocess

from berth.engine.errors import BadParameter, BerthError

DEFAULT_PS_ARGS = "-ef"


class TopFailed(BerthError):
    status = 500


def namespace_pids(init_pid: int, proc: str = "/proc") -> set[int]:
    """Every host PID in the PID namespace of ``init_pid`` (empty when it is gone)."""
    try:
        target = os.readlink(f"{proc}/{init_pid}/ns/pid")
    except OSError:
        return set()
    found: set[int] = set()
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        try:
            if os.readlink(f"{proc}/{name}/ns/pid") == target:
                found.add(int(name))
        except OSError:
            continue
    return found


def parse_ps(output: str, pids: set[int]) -> dict[str, list[str] | list[list[str]]]:
    """Docker's parsing: titles from the first line, the last column takes the rest of a row."""
    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        raise TopFailed("ps printed nothing")
    titles = lines[0].split()
    try:
        pid_index = titles.index("PID")
    except ValueError:
        raise TopFailed("Couldn't find PID field in ps output") from None
    processes: list[list[str]] = []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) <= pid_index:
            continue
        try:
            pid = int(fields[pid_index])
        except ValueError:
            raise TopFailed(f"Unexpected pid '{fields[pid_index]}': not a number") from None
        if pid not in pids:
            continue
        head = fields[: len(titles) - 1]
        rest = " ".join(fields[len(titles) - 1 :])
        processes.append([*head, rest])
    return {"Titles": titles, "Processes": processes}


def top(init_pid: int, ps_args: str = "") -> dict[str, list[str] | list[list[str]]]:
    """Blocking: run ``ps`` and keep the container's rows."""
    try:
        args = shlex.split(ps_args or DEFAULT_PS_ARGS)
    except ValueError as exc:
        raise BadParameter(f"invalid ps_args {ps_args!r}: {exc}") from None
    pids = namespace_pids(init_pid)
    try:
        done = subprocess.run(
            ["ps", *args], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise TopFailed(f"cannot run ps: {exc}") from None
    if done.returncode != 0:
        detail = done.stderr.strip().splitlines()[0] if done.stderr.strip() else ""
        raise TopFailed(f"ps {' '.join(args)} failed: exit status {done.returncode}: {detail}")
    return parse_ps(done.stdout, pids)
