"""Can this runtime binary work here? It must exist and run; crun must accept the cgroups.

Answers (one line each): the binary is missing (with the package to install), it does not run
(its own error), or it is crun on a hybrid cgroup layout whose cgroup2 hierarchy has
controllers, which Debian's crun refuses. Otherwise supported, with the runtime's version.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from berth.plugins import PluginContext, ProbeResult

from berth_isolation_oci.config import find_binary

#: The probe must answer quickly: the daemon probes every candidate at start.
VERSION_TIMEOUT = 0.8
CGROUP_ROOT = Path("/sys/fs/cgroup")


def binary_name(ctx: PluginContext) -> str:
    """The binary of this runtime: daemon.json ``runtimes.<name>.path``, else the name itself."""
    path = ctx.options.get("path")
    return str(path) if path else ctx.name


def version_line(binary: str) -> str:
    """The first line of ``binary --version``; OSError with a one-line reason if it fails."""
    try:
        done = subprocess.run(
            [binary, "--version"],
            capture_output=True,
            text=True,
            timeout=VERSION_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise OSError(f"{binary} --version did not answer within {VERSION_TIMEOUT} s") from None
    lines = (done.stdout or "").strip().splitlines()
    if done.returncode != 0 or not lines:
        detail = (done.stderr or done.stdout or "").strip().splitlines()
        reason = detail[-1] if detail else f"exit status {done.returncode}"
        raise OSError(f"{binary} --version failed: {reason}")
    return lines[0].strip()


def crun_cgroup_problem(version: str, cgroup_root: Path = CGROUP_ROOT) -> str:
    """Why crun cannot run containers on this host's cgroups, or ``""``."""
    if (cgroup_root / "cgroup.controllers").exists():
        return ""  # cgroup v2 only: crun's own layout
    try:
        controllers = (cgroup_root / "unified" / "cgroup.controllers").read_text().split()
    except OSError:
        return ""  # cgroup v1 only
    if not controllers:
        return ""
    number = version.split()[-1] if version.split() else "?"
    return (
        f"crun {number} refuses this host's hybrid cgroup layout (\"cgroups in hybrid mode not "
        f'supported"); use runc or the native linux runtime'
    )


def probe_binary(name: str, cgroup_root: Path = CGROUP_ROOT) -> ProbeResult:
    try:
        binary = find_binary(name)
    except FileNotFoundError as exc:
        hint = f"; install it (apt-get install {name})" if "/" not in name else ""
        return ProbeResult.unsupported(f"{exc}{hint}")
    try:
        version = version_line(binary)
    except OSError as exc:
        return ProbeResult.unsupported(str(exc))
    if os.path.basename(binary).startswith("crun") or version.startswith("crun"):
        problem = crun_cgroup_problem(version, cgroup_root)
        if problem:
            return ProbeResult.unsupported(problem)
    return ProbeResult.ok(f"{version} ({binary})")


def probe(ctx: PluginContext) -> ProbeResult:
    return probe_binary(binary_name(ctx))
