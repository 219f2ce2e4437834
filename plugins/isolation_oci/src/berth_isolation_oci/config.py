"""Which runtime binary runs a container, and where its state is: ``oci-runtime.json``.

The file lives in the container's state directory and is what both sides share: the daemon's
:class:`~berth_isolation_oci.runtime.OciRuntime` writes it (``prepare``) before the container's
monitor starts, with the binary and arguments of the runtime the user chose (daemon.json
``runtimes``); the launcher reads it. When it is missing, the launcher uses the defaults (runc
from ``PATH``, its state under the state directory) and writes what it used, so the daemon's
side always finds it::

    {"binary": "/usr/sbin/runc", "args": ["--systemd-cgroup"], "root": "/run/berth/isolation/runc",
     "id": "<container id>"}

Launcher side: standard library only, no ``json``.
"""

from __future__ import annotations

import os

from berth_isolation_oci.jsonlite import dumps, load_object

RUNTIME_FILE = "oci-runtime.json"
DEFAULT_BINARY = "runc"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def find_binary(name: str) -> str:
    """``name`` as an absolute path (searched in ``PATH`` when it has no slash); FileNotFoundError
    with a line saying what to install when there is none."""
    if "/" in name:
        if os.access(name, os.X_OK) and os.path.isfile(name):
            return os.path.abspath(name)
        raise FileNotFoundError(f"the OCI runtime {name} does not exist or is not executable")
    for directory in os.environ.get("PATH", DEFAULT_PATH).split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.access(candidate, os.X_OK) and os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(f"the OCI runtime {name!r} is not installed (not found in PATH)")


class RuntimeConfig:
    """The runtime binary, its global arguments, its ``--root`` and the container's ID."""

    def __init__(self, binary: str, args: list[str], root: str, container_id: str) -> None:
        self.binary = binary
        self.args = list(args)
        self.root = root
        self.id = container_id

    def argv(self, *command: str) -> list[str]:
        """The command line of one runtime command (``create``, ``kill``, …)."""
        return [self.binary, *self.args, "--root", self.root, *command]

    def to_json(self) -> dict[str, object]:
        return {"binary": self.binary, "args": self.args, "root": self.root, "id": self.id}

    def save(self, state_dir: str) -> None:
        path = os.path.join(state_dir, RUNTIME_FILE)
        temp = f"{path}.tmp-{os.getpid()}"
        with open(temp, "w") as f:
            f.write(dumps(self.to_json()))
        os.rename(temp, path)

    @classmethod
    def load(cls, state_dir: str) -> RuntimeConfig:
        """The file's content; FileNotFoundError when no container was prepared there."""
        data = load_object(os.path.join(state_dir, RUNTIME_FILE))
        binary, args, root, container_id = (data.get(k) for k in ("binary", "args", "root", "id"))
        if not (
            isinstance(binary, str) and isinstance(root, str) and isinstance(container_id, str)
        ):
            raise ValueError(f"{state_dir}/{RUNTIME_FILE} is damaged: {data!r}")
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ValueError(f"{state_dir}/{RUNTIME_FILE} is damaged: args {args!r}")
        return cls(binary, [str(a) for a in args], root, container_id)

    @classmethod
    def load_or_default(cls, state_dir: str, binary: str = DEFAULT_BINARY) -> RuntimeConfig:
        """For the launcher: the prepared file, or the defaults (``binary`` from ``PATH``, its
        state under the state directory), then written."""
        if os.path.exists(os.path.join(state_dir, RUNTIME_FILE)):
            return cls.load(state_dir)
        state_dir = os.path.abspath(state_dir)
        config = cls(
            find_binary(binary),
            [],
            os.path.join(state_dir, "runc-root"),
            os.path.basename(state_dir.rstrip("/")) or "container",
        )
        config.save(state_dir)
        return config
