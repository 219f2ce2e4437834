"""The volume service: Docker's volume operations over the installed volume drivers.

Every method blocks (drivers touch disks and mounts): the API calls them in worker threads.
One lock serializes them, so a volume cannot be removed while a container is being created
with it. Which containers use a volume is counted here (:meth:`add_user`/:meth:`drop_user`,
filled from the container records when the daemon starts): a volume in use is not removed and
is not dangling.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from berth.engine.errors import BadParameter, BerthError, Conflict, NotFound, PluginError
from berth.engine.pluginhost import ACTIVE, READY, PluginHost
from berth.engine.volumes import filters
from berth.engine.volumes.records import ANONYMOUS_LABEL, VolumeRecord, VolumeRecords
from berth.plugins import VolumeDriver

DEFAULT_DRIVER = "local"
Emit = Callable[..., Any]


def new_volume_name() -> str:
    """An anonymous volume's name: 64 hex digits, as Docker makes them."""
    return os.urandom(32).hex()


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_name(name: str) -> None:
    # what any driver gets must be safe as a file name; drivers check the rest
    if not name or "/" in name or "\x00" in name or name in (".", ".."):
        raise BadParameter(
            f'"{name}" includes invalid characters for a local volume name, only '
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
            "directory, use absolute path"
        )


def tree_size(path: str) -> int:
    """Bytes of the files under ``path`` (hard links counted once), as Docker's df counts."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for top, dirs, files in os.walk(path, onerror=lambda _e: None):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(top, d))]:
            try:
                info = os.lstat(os.path.join(top, name))
            except OSError:
                continue
            if info.st_nlink > 1:
                key = (info.st_dev, info.st_ino)
                if key in seen:
                    continue
                seen.add(key)
            total += info.st_size
    return total


class VolumeService:
    def __init__(self, directory: Path, plugins: PluginHost, log: Any, emit: Emit) -> None:
        self.records = VolumeRecords(directory, log)
        self.plugins = plugins
        self.log = log
        self.emit = emit
        self._lock = threading.RLock()
        self._users: dict[str, set[str]] = {}

    # --- drivers ----------------------------------------------------------------------------

    def driver(self, name: str) -> VolumeDriver:
        """The volume driver ``name``, built on first use; 404 when none is installed."""
        name = name or DEFAULT_DRIVER
        with self._lock:
            if name not in self.plugins.records["volume"]:
                raise NotFound(f'error looking up volume plugin {name}: plugin "{name}" not found')
            record = self.plugins.load_and_probe("volume", name)
            if record.status not in (READY, ACTIVE):
                raise PluginError(f"volume driver {name!r} cannot be used here: {record.reason}")
            driver = self.plugins.build(record)
            if not isinstance(driver, VolumeDriver):
                raise PluginError(f"volume driver {name!r} is not a VolumeDriver")
            return driver

    # --- users ------------------------------------------------------------------------------

    def add_user(self, name: str, container_id: str) -> None:
        with self._lock:
            self._users.setdefault(name, set()).add(container_id)

    def drop_user(self, name: str, container_id: str) -> None:
        with self._lock:
            users = self._users.get(name)
            if users is not None:
                users.discard(container_id)
                if not users:
                    del self._users[name]

    def users(self, name: str) -> list[str]:
        with self._lock:
            return sorted(self._users.get(name, ()))

    # --- views ------------------------------------------------------------------------------

    def _view(self, record: VolumeRecord, usage: bool = False) -> dict[str, Any]:
        mountpoint, created, status = "", record.created_at, None
        try:
            info = self.driver(record.driver).get(record.name)
            mountpoint = info.mountpoint
            created = created or info.created_at
            status = dict(info.status) or None
        except (KeyError, BerthError):
            pass
        data: dict[str, Any] = {
            "CreatedAt": created,
            "Driver": record.driver,
            "Labels": dict(record.labels) or None,
            "Mountpoint": mountpoint,
            "Name": record.name,
            "Options": dict(record.options) or None,
            "Scope": self._scope(record.driver),
        }
        if status:
            data["Status"] = status
        if usage:
            size = tree_size(mountpoint) if mountpoint and os.path.isdir(mountpoint) else -1
            data["UsageData"] = {"Size": size, "RefCount": len(self._users.get(record.name, ()))}
        return data

    def _scope(self, driver: str) -> str:
        """``local`` or ``cluster``, as the driver's spec says."""
        plugin = self.plugins.records["volume"].get(driver)
        return str(getattr(plugin.spec if plugin else None, "scope", "") or "local")

    def _record(self, name: str) -> VolumeRecord:
        record = self.records.get(name)
        if record is None:
            raise NotFound(f"get {name}: no such volume")
        return record

    def inspect(self, name: str) -> dict[str, Any]:
        with self._lock:
            return self._view(self._record(name))

    def list_volumes(
        self, filter_values: Mapping[str, Sequence[str]] | None = None
    ) -> dict[str, Any]:
        keep = filters.list_filter(filter_values or {})
        with self._lock:
            chosen = [r for r in self.records if keep(r, bool(self._users.get(r.name)))]
            return {
                "Volumes": [self._view(r) for r in sorted(chosen, key=lambda r: r.name)],
                "Warnings": None,
            }

    def usage(self) -> list[dict[str, Any]]:
        """``Volumes`` of ``GET /system/df``: every volume with its size and users."""
        with self._lock:
            return [self._view(r, usage=True) for r in sorted(self.records, key=lambda r: r.name)]

    # --- create and remove ------------------------------------------------------------------

    def create(
        self,
        name: str = "",
        driver_name: str = "",
        options: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """``POST /volumes/create``: a new volume, or the existing one of that name."""
        with self._lock:
            return self._view(self.ensure(name, driver_name, options, labels))

    def ensure(
        self,
        name: str = "",
        driver_name: str = "",
        options: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> VolumeRecord:
        """The volume ``name`` (made now if it does not exist; no name: an anonymous one)."""
        asked_for = driver_name
        driver_name = driver_name or DEFAULT_DRIVER
        with self._lock:
            if not name:
                name = new_volume_name()
                labels = {**(labels or {}), ANONYMOUS_LABEL: ""}
            _check_name(name)
            existing = self.records.get(name)
            if existing is not None:
                if asked_for and existing.driver != asked_for:
                    raise Conflict(
                        f"create {name}: a volume with the name {name} already exists with "
                        f'driver "{existing.driver}"'
                    )
                return existing
            driver = self.driver(driver_name)
            opts = {str(k): str(v) for k, v in (options or {}).items()}
            try:
                info = driver.create(name, opts)
            except ValueError as exc:
                raise BadParameter(f"create {name}: {exc}") from None
            except OSError as exc:
                raise BerthError(f"create {name}: {exc}") from None
            record = VolumeRecord(
                name=name,
                driver=driver_name,
                created_at=info.created_at or _now(),
                labels={str(k): str(v) for k, v in (labels or {}).items()},
                options=opts,
            )
            self.records.put(record)
        self.emit("volume", "create", name, driver=driver_name)
        return record

    def remove(self, name: str, force: bool = False) -> None:
        """``DELETE /volumes/{name}``: 409 while a container uses it; with ``force`` a volume
        that does not exist is no error, and a driver that lost it leaves no record."""
        with self._lock:
            record = self.records.get(name)
            if record is None:
                if force:
                    return
                raise NotFound(f"get {name}: no such volume")
            users = self.users(name)
            if users:
                raise Conflict(f"remove {name}: volume is in use - [{', '.join(users)}]")
            try:
                self.driver(record.driver).remove(name)
            except KeyError:
                pass  # the driver lost it: the record goes too
            except (RuntimeError, OSError, BerthError) as exc:
                if not force:
                    raise Conflict(f"remove {name}: {exc}") from None
                self.log.warning("volume.remove_forced", name=name, error=str(exc))
            self.records.drop(name)
        self.emit("volume", "destroy", name, driver=record.driver)

    def prune(
        self, filter_values: Mapping[str, Sequence[str]] | None = None, api_version: str = "1.44"
    ) -> dict[str, Any]:
        """``POST /volumes/prune``: unused volumes (anonymous ones only, unless ``all``)."""
        keep = filters.prune_filter(filter_values or {}, api_version)
        deleted: list[str] = []
        reclaimed = 0
        with self._lock:
            for record in sorted(self.records, key=lambda r: r.name):
                if not keep(record, bool(self._users.get(record.name))):
                    continue
                size = 0
                try:
                    mountpoint = self.driver(record.driver).get(record.name).mountpoint
                    size = tree_size(mountpoint) if os.path.isdir(mountpoint) else 0
                except (KeyError, BerthError):
                    pass
                try:
                    self.remove(record.name)
                except BerthError as exc:
                    self.log.warning("volume.prune_failed", name=record.name, error=str(exc))
                    continue
                deleted.append(record.name)
                reclaimed += size
        return {"VolumesDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    # --- mounts -----------------------------------------------------------------------------

    def mount(self, name: str, container_id: str) -> Path:
        """Mount the volume for one container; its host path."""
        with self._lock:
            record = self._record(name)
            try:
                path = self.driver(record.driver).mount(name, container_id)
            except KeyError:
                raise NotFound(f"get {name}: no such volume") from None
            except OSError as exc:
                raise BerthError(f"mounting volume {name}: {exc}") from None
        self.emit("volume", "mount", name, driver=record.driver, container=container_id)
        return path

    def unmount(self, name: str, container_id: str) -> None:
        with self._lock:
            record = self.records.get(name)
            if record is None:
                return
            try:
                self.driver(record.driver).unmount(name, container_id)
            except (KeyError, BerthError, OSError) as exc:
                self.log.warning("volume.unmount_failed", name=name, error=str(exc))
                return
        self.emit("volume", "unmount", name, driver=record.driver, container=container_id)
