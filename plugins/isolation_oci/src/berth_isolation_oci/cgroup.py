"""The container's cgroups as the runtime made them: where they are, what the OOM killer did.

The runtime records the paths in its own state (runc: ``<root>/<id>/state.json``,
``cgroup_paths``: controller → directory, ``""`` for the unified hierarchy). Launcher side:
standard library only.
"""

from __future__ import annotations

import os

from berth_isolation_oci.jsonlite import load_object

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth_isolation_oci.config import RuntimeConfig


def cgroup_paths(config: RuntimeConfig) -> dict[str, str]:
    """Controller → cgroup directory of the container (empty when the runtime has no record)."""
    try:
        state = load_object(os.path.join(config.root, config.id, "state.json"))
    except (OSError, ValueError):
        return {}
    paths = state.get("cgroup_paths")
    if not isinstance(paths, dict):
        return {}
    return {str(k): str(v) for k, v in paths.items() if isinstance(v, str)}


def remove_empty_parents(paths: dict[str, str]) -> None:
    """After the runtime deleted the container: remove its cgroup directories' parents that
    are now empty (the parent berth shares between containers, in hierarchies only the runtime
    uses, such as ``name=systemd`` and the unified one), up to each hierarchy's mount point. A
    parent another container still uses is not empty: removing it fails, and that is the end."""
    for path in set(paths.values()):
        current = path.rstrip("/")
        while current.startswith("/sys/fs/cgroup/") and not os.path.ismount(current):
            try:
                os.rmdir(current)
            except FileNotFoundError:
                pass  # the leaf, which the runtime removed
            except OSError:
                break
            current = os.path.dirname(current)


def _counter(path: str, key: str) -> int:
    """The number after ``key`` in a flat keyed cgroup file (0 when absent)."""
    try:
        with open(path, "rb") as f:
            for line in f.read().decode().splitlines():
                name, _, value = line.partition(" ")
                if name == key and value.strip().isdigit():
                    return int(value)
    except OSError:
        return 0
    return 0


def oom_kills(config: RuntimeConfig) -> int:
    """How many processes the kernel's OOM killer killed in the container's memory cgroup."""
    paths = cgroup_paths(config)
    memory = paths.get("memory")
    if memory:  # cgroup v1
        return _counter(os.path.join(memory, "memory.oom_control"), "oom_kill")
    unified = paths.get("")
    if unified and os.path.exists(os.path.join(unified, "memory.events")):
        return _counter(os.path.join(unified, "memory.events"), "oom_kill")
    return 0
