"""Container records on disk, and the in-memory index every listing reads.

Each container has a directory ``<data-root>/containers/<id>/`` holding ``hostconfig.json``
and ``config.v2.json`` (Docker's names and keys), plus the files the engine makes for it there
(``hostname``, ``hosts``, ``resolv.conf``, the json-file log ``<id>-json.log``). Both JSON files
are written atomically; ``config.v2.json`` is written last at creation, so a container exists
once it exists, and a directory without it (a crash mid-create) is removed at load.

Everything is read once at start-up: ``ps`` and lookups never touch the disk. Lookups follow
Docker's order: a full ID, then a name, then a unique ID prefix.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from berth.engine.containers.model import Container
from berth.engine.containers.names import NameConflict, NameRegistry
from berth.engine.errors import BadParameter, NotFound
from berth.engine.statefile import write_atomic

CONFIG_FILE = "config.v2.json"
HOST_CONFIG_FILE = "hostconfig.json"
_HEX = frozenset("0123456789abcdef")


class ContainerNotFound(NotFound):
    def __init__(self, what: str) -> None:
        super().__init__(f"No such container: {what}")
        self.what = what


class AmbiguousPrefix(BadParameter):
    def __init__(self, prefix: str) -> None:
        super().__init__(f"Multiple IDs found with provided prefix: {prefix}")
        self.prefix = prefix


class ContainerStore:
    """The containers of one daemon, loaded from ``root`` (``<data-root>/containers``).

    Methods are thread-safe; callers serialise changes to one container themselves.
    """

    def __init__(self, root: Path, log: Any) -> None:
        self.root = root
        self.log = log
        self.names = NameRegistry()
        self._by_id: dict[str, Container] = {}
        self._lock = threading.RLock()
        root.mkdir(parents=True, exist_ok=True)
        self._load()

    # --- start-up ---

    def _load(self) -> None:
        for entry in sorted(self.root.iterdir()):
            if not entry.is_dir() or entry.is_symlink():
                continue
            config_path = entry / CONFIG_FILE
            if not config_path.exists():
                self.log.warning("container.incomplete_removed", path=str(entry))
                shutil.rmtree(entry, ignore_errors=True)
                continue
            try:
                data = json.loads(config_path.read_bytes())
                try:
                    host_config = json.loads((entry / HOST_CONFIG_FILE).read_bytes())
                except FileNotFoundError:
                    host_config = {}
                container = Container.from_disk(data, host_config)
                if container.id != entry.name:
                    raise ValueError(f"record of {container.id} in the directory of {entry.name}")
            except (OSError, ValueError, KeyError, TypeError) as exc:
                self.log.error("container.unreadable", path=str(entry), error=str(exc))
                continue
            try:
                self.names.reserve(container.name, container.id)
            except (NameConflict, BadParameter) as exc:
                # two records claim one name (a crash mid-rename): the later one gets its ID
                container.name = self.names.generate(container.id)
                self.log.warning("container.name_reassigned", id=container.id, error=str(exc))
            self._by_id[container.id] = container

    # --- paths ---

    def dir_of(self, container_id: str) -> Path:
        return self.root / container_id

    def log_path_of(self, container_id: str) -> Path:
        return self.root / container_id / f"{container_id}-json.log"

    # --- changes ---

    def add(self, container: Container) -> None:
        """Record a new container (its name must already be reserved in :attr:`names`)."""
        with self._lock:
            if container.id in self._by_id:
                raise BadParameter(f"container {container.id} exists already")
            self.dir_of(container.id).mkdir(parents=True, exist_ok=True)
            self._write_host_config(container)
            self._write_config(container)
            self._by_id[container.id] = container

    def save(self, container: Container, host_config: bool = False) -> None:
        """Write the container's record (state, config); also its HostConfig when asked."""
        if host_config:
            self._write_host_config(container)
        self._write_config(container)

    def remove(self, container_id: str) -> None:
        """Forget the container, free its names and delete its directory (config first, so a
        crash half-way leaves a directory the next start removes)."""
        with self._lock:
            container = self._by_id.pop(container_id, None)
            if container is not None:
                self.names.release(container.name, container_id)
        directory = self.dir_of(container_id)
        with contextlib.suppress(FileNotFoundError):
            (directory / CONFIG_FILE).unlink()
        shutil.rmtree(directory, ignore_errors=True)

    def rename(self, container: Container, new_name: str) -> str:
        """Give the container ``new_name`` (Docker's 409 if taken); returns the stored form."""
        with self._lock:
            old = container.name
            stored = self.names.rename(old, new_name, container.id)
            container.name = stored
            try:
                self._write_config(container)
            except BaseException:
                container.name = old
                self.names.rename(stored, old, container.id)
                raise
            return stored

    def _write_config(self, container: Container) -> None:
        data = json.dumps(container.to_disk(), separators=(",", ":")).encode()
        write_atomic(self.dir_of(container.id) / CONFIG_FILE, data, mode=0o600)

    def _write_host_config(self, container: Container) -> None:
        data = json.dumps(container.host_config, separators=(",", ":")).encode()
        write_atomic(self.dir_of(container.id) / HOST_CONFIG_FILE, data, mode=0o600)

    # --- queries ---

    def get(self, container_id: str) -> Container | None:
        return self._by_id.get(container_id)

    def __iter__(self) -> Iterator[Container]:
        return iter(list(self._by_id.values()))

    def __len__(self) -> int:
        return len(self._by_id)

    def containers(self) -> list[Container]:
        """Every container, newest first (the order of ``docker ps``)."""
        return sorted(self._by_id.values(), key=lambda c: c.created, reverse=True)

    def lookup(self, ref: str) -> Container:
        """The container ``ref`` names: a full ID, a name (with or without ``/``), or a unique
        ID prefix. Raises ContainerNotFound (404) or AmbiguousPrefix (400)."""
        if not ref:
            raise ContainerNotFound(ref)
        found = self._by_id.get(ref)
        if found is not None:
            return found
        owner = self.names.owner(ref)
        if owner is not None:
            found = self._by_id.get(owner)
            if found is not None:
                return found
        if not _HEX.issuperset(ref):
            raise ContainerNotFound(ref)
        matches = [c for cid, c in list(self._by_id.items()) if cid.startswith(ref)]
        if not matches:
            raise ContainerNotFound(ref)
        if len(matches) > 1:
            raise AmbiguousPrefix(ref)
        return matches[0]
