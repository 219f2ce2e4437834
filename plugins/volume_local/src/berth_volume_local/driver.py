"""The ``local`` volume driver: each volume is a directory under the driver's data directory,
or, with ``type``/``device``/``o`` options, a file system mounted there while in use.

Layout (as Docker's, under ``<data-root>/volume/local/``)::

    <name>/_data          the volume's content, or where its file system is mounted
    <name>/volume.json    {"CreatedAt": ..., "Options": {...}}

A volume with options is mounted when its first user (mount ID) arrives and unmounted when the
last one leaves; uses are counted in memory, and a volume found already mounted (a daemon
restarted while containers ran) is adopted rather than mounted twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from berth.plugins import VolumeDriver, VolumeInfo

from berth_volume_local import mounting

NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
VALID_OPTIONS = ("type", "device", "o", "size")
#: An option that needs others (Docker's mandatory options of the local driver).
REQUIRES = {"device": ("type",), "type": ("device",), "o": ("device", "type")}
DATA, META = "_data", "volume.json"


def check_name(name: str) -> None:
    if not NAME.match(name):
        raise ValueError(
            f'"{name}" includes invalid characters for a local volume name, only '
            '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host '
            "directory, use absolute path"
        )


def check_options(opts: Mapping[str, str]) -> dict[str, str]:
    """Docker's checks of the local driver's options; the options as strings."""
    options = {str(k): str(v) for k, v in opts.items()}
    for key in options:
        if key not in VALID_OPTIONS:
            raise ValueError(f'invalid option: "{key}"')
    if "size" in options:
        raise ValueError("quota size requested but no quota support")
    for key, needed in REQUIRES.items():
        if key in options:
            for other in needed:
                if other not in options:
                    raise ValueError(f'missing required option: "{other}"')
    parsed = mounting.parse_options(options.get("o", ""))
    if parsed.flags & mounting.MS_BIND and not options.get("device", "").startswith("/"):
        raise ValueError(
            f"invalid option: device {options.get('device', '')!r} of a bind mount must be "
            "an absolute host path"
        )
    return options


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class LocalVolumeDriver(VolumeDriver):
    def __init__(self, data_dir: Path, logger: Any = None) -> None:
        self.root = data_dir
        self.log = logger
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._users: dict[str, set[str]] = {}
        self._drop_leftovers()

    def _drop_leftovers(self) -> None:
        """Half-made or half-removed volumes of a crash (``.tmp-*``, ``.trash-*``)."""
        for entry in self.root.iterdir():
            if entry.name.startswith((".tmp-", ".trash-")) and not mounting.is_mount_point(
                str(entry / DATA)
            ):
                shutil.rmtree(entry, ignore_errors=True)

    # --- helpers ----------------------------------------------------------------------------

    def _dir(self, name: str) -> Path:
        check_name(name)
        return self.root / name

    def _existing(self, name: str) -> Path:
        try:
            directory = self._dir(name)
        except ValueError:
            raise KeyError(name) from None
        if not (directory / DATA).is_dir():
            raise KeyError(name)
        return directory

    def _meta(self, directory: Path) -> dict[str, Any]:
        try:
            data = json.loads((directory / META).read_text())
        except (OSError, ValueError):
            data = {}
        return data if isinstance(data, dict) else {}

    def _info(self, name: str, directory: Path) -> VolumeInfo:
        meta = self._meta(directory)
        created = str(meta.get("CreatedAt") or "")
        if not created:
            with contextlib.suppress(OSError):
                stamp = (directory / DATA).stat().st_mtime
                created = datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return VolumeInfo(name=name, mountpoint=str(directory / DATA), created_at=created)

    # --- the contract -----------------------------------------------------------------------

    def create(self, name: str, opts: Mapping[str, str]) -> VolumeInfo:
        directory = self._dir(name)
        options = check_options(opts)
        with self._lock:
            if (directory / DATA).is_dir():
                return self._info(name, directory)
            temp = self.root / f".tmp-{name}-{os.getpid()}-{time.monotonic_ns()}"
            temp.mkdir(mode=0o701)
            try:
                (temp / DATA).mkdir(mode=0o755)
                meta = json.dumps({"CreatedAt": _now(), "Options": options}).encode()
                fd = os.open(temp / META, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                try:
                    os.write(fd, meta)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.rename(temp, directory)
            except BaseException:
                shutil.rmtree(temp, ignore_errors=True)
                raise
        return self._info(name, directory)

    def remove(self, name: str) -> None:
        directory = self._existing(name)
        with self._lock:
            if self._users.get(name):
                raise RuntimeError(f"volume {name} is in use by {sorted(self._users[name])}")
            data = directory / DATA
            if mounting.is_mount_point(str(data)):
                # never delete through a mount: it may be a host directory or a device
                mounting.unmount_lazily(str(data))
            if mounting.is_mount_point(str(data)):
                raise RuntimeError(f"volume {name} is still mounted at {data}")
            trash = self.root / f".trash-{name}-{time.monotonic_ns()}"
            os.rename(directory, trash)
            shutil.rmtree(trash, ignore_errors=True)
            self._users.pop(name, None)

    def mount(self, name: str, mount_id: str) -> Path:
        directory = self._existing(name)
        data = directory / DATA
        with self._lock:
            users = self._users.setdefault(name, set())
            if not users:
                options = {
                    str(k): str(v) for k, v in (self._meta(directory).get("Options") or {}).items()
                }
                if options.get("type") and not mounting.is_mount_point(str(data)):
                    try:
                        self._mount_fs(options, data)
                    except OSError as exc:
                        del self._users[name]
                        raise OSError(
                            exc.errno, f"error while mounting volume '{data}': {exc.strerror}"
                        ) from None
            users.add(mount_id)
        return data

    def _mount_fs(self, options: Mapping[str, str], target: Path) -> None:
        parsed = mounting.parse_options(options.get("o", ""))
        fs_type = options["type"]
        device = options["device"]
        if parsed.flags & mounting.MS_BIND:
            mounting.mount(device, str(target), "", parsed.flags)
            extra = parsed.flags & ~(mounting.MS_BIND | mounting.MS_REC)
            if extra:
                mounting.mount("", str(target), "", mounting.MS_BIND | mounting.MS_REMOUNT | extra)
        elif mounting.needs_loop(device, parsed):
            loop, fd = mounting.attach_loop(device, bool(parsed.flags & mounting.MS_RDONLY))
            try:
                mounting.mount(loop, str(target), fs_type, parsed.flags, parsed.data)
            finally:
                os.close(fd)  # autoclear: the loop goes when its mount does
        else:
            mounting.mount(device, str(target), "" if fs_type == "none" else fs_type,
                           parsed.flags, parsed.data)  # fmt: skip
        if parsed.propagation:
            mounting.set_propagation(str(target), parsed.propagation)

    def unmount(self, name: str, mount_id: str) -> None:
        directory = self._existing(name)
        with self._lock:
            users = self._users.get(name)
            if not users or mount_id not in users:
                return
            users.discard(mount_id)
            if users:
                return
            del self._users[name]
            data = str(directory / DATA)
            if self._meta(directory).get("Options", {}).get("type") and mounting.is_mount_point(
                data
            ):
                try:
                    mounting.unmount(data)
                except OSError:
                    mounting.unmount_lazily(data)

    def path(self, name: str) -> Path | None:
        directory = self._existing(name)
        with self._lock:
            return directory / DATA if self._users.get(name) else None

    def get(self, name: str) -> VolumeInfo:
        return self._info(name, self._existing(name))

    def list(self) -> Sequence[VolumeInfo]:
        found = []
        for entry in sorted(self.root.iterdir()):
            if entry.name.startswith(".") or not (entry / DATA).is_dir():
                continue
            found.append(self._info(entry.name, entry))
        return found
