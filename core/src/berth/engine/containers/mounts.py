"""A container's mounts: volumes, host directories and tmpfs, from ``-v``, ``--mount``,
``--volumes-from`` and the image's ``VOLUME``s.

At create, :meth:`MountManager.plan` turns ``HostConfig.Binds``, ``HostConfig.Mounts``,
``HostConfig.VolumesFrom`` and ``Config.Volumes`` into the container's mount points (Docker's
``MountPoints``, keyed by destination), with Docker's checks and error texts; named volumes
that do not exist yet are made, and every destination the user did not cover gets an anonymous
volume. At each start, :meth:`MountManager.activate` mounts the volumes, fills a new volume
from the image's content at its destination (once, when the volume is empty, as Docker does)
and returns the OCI mounts the runtime makes; :meth:`deactivate` releases the volumes after
the run; :meth:`forget` drops the container's uses when it is removed (and, for ``rm -v`` and
``--rm``, its anonymous volumes).
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import stat
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from berth.engine.build.paths import resolve_in_root
from berth.engine.containers.model import Container
from berth.engine.errors import BadParameter, BerthError, NotFound
from berth.engine.volumes.service import VolumeService

VOLUME, BIND, TMPFS = "volume", "bind", "tmpfs"
PROPAGATIONS = ("shared", "rshared", "slave", "rslave", "private", "rprivate")
DEFAULT_PROPAGATION = "rprivate"
_MODE_WORDS = frozenset({"ro", "rw", "z", "Z", "nocopy", *PROPAGATIONS})

#: A container reference -> its record (raises NotFound).
Lookup = Callable[[str], Container]


def _config_error(kind: str, text: str) -> BadParameter:
    return BadParameter(f'invalid mount config for type "{kind}": {text}')


def _destination(kind: str, target: str) -> str:
    if not target:
        raise _config_error(kind, "field Target must not be empty")
    if not target.startswith("/"):
        raise _config_error(kind, f"invalid mount path: '{target}' mount path must be absolute")
    clean = posixpath.normpath(target)
    if clean == "/":
        raise BadParameter("invalid specification: destination can't be '/'")
    return clean


def _point(kind: str, destination: str, **fields: Any) -> dict[str, Any]:
    point: dict[str, Any] = {
        "Type": kind,
        "Source": "",
        "Destination": destination,
        "RW": True,
        "Mode": "",
        "Propagation": "",
    }
    point.update(fields)
    return point


def parse_bind(spec: str, volume_driver: str) -> dict[str, Any]:
    """One ``-v``/``Binds`` entry: ``dst``, ``src:dst`` or ``src:dst:mode``."""
    parts = spec.split(":")
    if len(parts) > 3 or any(not p for p in parts):
        raise BadParameter(f"invalid volume specification: '{spec}'")
    if len(parts) == 1:
        source, target, mode = "", parts[0], ""
    else:
        source, target, mode = parts[0], parts[1], parts[2] if len(parts) == 3 else ""
    words = [w for w in mode.split(",") if w]
    for word in words:
        if word not in _MODE_WORDS:
            raise BadParameter(f"invalid mode: {mode}")
    if "ro" in words and "rw" in words:
        raise BadParameter(f"invalid mode: {mode}")
    propagation = [w for w in words if w in PROPAGATIONS]
    if len(propagation) > 1:
        raise BadParameter(f"invalid mode: {mode}")
    kind = BIND if source.startswith("/") else VOLUME
    destination = _destination(kind, target)
    if kind == BIND:
        if "nocopy" in words:
            raise BadParameter(f"invalid mode: {mode}")
        return _point(
            BIND,
            destination,
            Source=posixpath.normpath(source),
            RW="ro" not in words,
            Mode=mode,
            Propagation=propagation[0] if propagation else DEFAULT_PROPAGATION,
            CreateSource=True,  # -v makes a missing host directory, as Docker does
        )
    if propagation:
        raise BadParameter(f"invalid mode: {mode}")
    return _point(
        VOLUME,
        destination,
        Name=source,
        Driver=volume_driver,
        RW="ro" not in words,
        Mode=mode,
        CopyUp="nocopy" not in words,
    )


def parse_mount(mount: Any, volume_driver: str) -> dict[str, Any]:
    """One ``HostConfig.Mounts`` entry (``--mount``)."""
    if not isinstance(mount, Mapping):
        raise BadParameter("invalid mount config: each entry of Mounts must be an object")
    kind = str(mount.get("Type") or "")
    if kind not in (VOLUME, BIND, TMPFS):
        raise _config_error(kind, "mount type unknown")
    destination = _destination(kind, str(mount.get("Target") or ""))
    source = str(mount.get("Source") or "")
    readonly = bool(mount.get("ReadOnly"))
    for key, allowed in (
        ("BindOptions", BIND),
        ("VolumeOptions", VOLUME),
        ("TmpfsOptions", TMPFS),
    ):
        if mount.get(key) and kind != allowed:
            raise _config_error(kind, f"field {key} must not be specified")
    if kind == BIND:
        if not source:
            raise _config_error(kind, "field Source must not be empty")
        if not source.startswith("/"):
            raise _config_error(kind, f"invalid mount path: '{source}' mount path must be absolute")
        options = mount.get("BindOptions") or {}
        propagation = str(options.get("Propagation") or DEFAULT_PROPAGATION)
        if propagation not in PROPAGATIONS:
            raise _config_error(kind, f"invalid propagation mode: {propagation}")
        create = bool(options.get("CreateMountpoint"))
        if not create and not os.path.exists(source):
            raise _config_error(kind, f"bind source path does not exist: {source}")
        return _point(
            BIND,
            destination,
            Source=posixpath.normpath(source),
            RW=not readonly,
            Propagation=propagation,
            NonRecursive=bool(options.get("NonRecursive")),
            CreateSource=create,
        )
    if kind == TMPFS:
        if source:
            raise _config_error(kind, "field Source must not be specified")
        options = mount.get("TmpfsOptions") or {}
        data = []
        size = options.get("SizeBytes")
        if size:
            if not isinstance(size, int) or size < 0:
                raise _config_error(kind, f"invalid tmpfs size: {size}")
            data.append(f"size={size // 1024}k" if size % 1024 == 0 else f"size={size}")
        mode = options.get("Mode")
        if mode:
            if not isinstance(mode, int) or not 0 <= mode <= 0o7777:
                raise _config_error(kind, f"invalid tmpfs mode: {mode}")
            data.append(f"mode={mode:o}")
        return _point(TMPFS, destination, RW=not readonly, TmpfsData=data)
    options = mount.get("VolumeOptions") or {}
    driver_config = options.get("DriverConfig") or {}
    return _point(
        VOLUME,
        destination,
        Name=source,
        Driver=str(driver_config.get("Name") or volume_driver),
        RW=not readonly,
        CopyUp=not options.get("NoCopy"),
        VolumeOptions={str(k): str(v) for k, v in (driver_config.get("Options") or {}).items()},
        VolumeLabels={str(k): str(v) for k, v in (options.get("Labels") or {}).items()},
        Subpath=str(options.get("Subpath") or ""),
    )


def parse_volumes_from(spec: str) -> tuple[str, bool | None]:
    """``container[:ro|rw]`` -> (container, RW override or None)."""
    name, _, mode = spec.partition(":")
    if not name:
        raise BadParameter(f"invalid volumes-from specification: '{spec}'")
    if mode in ("", "z", "Z"):
        return name, None
    if mode in ("ro", "rw"):
        return name, mode == "rw"
    raise BadParameter(f"invalid mode: {mode}")


def _copy_tree(source: Path, target: Path) -> None:
    """Copy the image's content at a volume's destination into the (empty) volume, keeping
    owners, modes and times; nothing is followed out of ``source`` (symlinks are copied as
    links; devices, fifos and sockets are skipped)."""
    info = os.lstat(source)
    os.chown(target, info.st_uid, info.st_gid)
    os.chmod(target, stat.S_IMODE(info.st_mode))
    for top, dirs, files in os.walk(source):
        relative = os.path.relpath(top, source)
        into = target if relative == "." else target / relative
        for name in dirs + files:
            src = os.path.join(top, name)
            dst = into / name
            entry = os.lstat(src)
            if stat.S_ISDIR(entry.st_mode):
                os.mkdir(dst, stat.S_IMODE(entry.st_mode))
            elif stat.S_ISLNK(entry.st_mode):
                os.symlink(os.readlink(src), dst)
            elif stat.S_ISREG(entry.st_mode):
                shutil.copyfile(src, dst, follow_symlinks=False)
            else:
                continue
            os.lchown(dst, entry.st_uid, entry.st_gid)
            if not stat.S_ISLNK(entry.st_mode):
                os.chmod(dst, stat.S_IMODE(entry.st_mode))
                os.utime(dst, ns=(entry.st_atime_ns, entry.st_mtime_ns))
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(top, d))]


class MountManager:
    def __init__(self, volumes: VolumeService, lookup: Lookup, log: Any) -> None:
        self.volumes = volumes
        self.lookup = lookup
        self.log = log
        #: two containers starting on one new volume: one fills it, the other sees it full
        self._copy_lock = threading.Lock()

    # --- create -----------------------------------------------------------------------------

    def plan(
        self, container_id: str, config: Mapping[str, Any], host_config: Mapping[str, Any]
    ) -> dict[str, dict[str, Any]]:
        """The mount points of a new container; its volumes exist and count it as a user
        when this returns (undo with :meth:`forget` if the create fails later)."""
        driver = str(host_config.get("VolumeDriver") or "")
        points: dict[str, dict[str, Any]] = {}
        for spec in host_config.get("Binds") or ():
            point = parse_bind(str(spec), driver)
            if point["Destination"] in points:
                raise BadParameter(f"Duplicate mount point: {point['Destination']}")
            points[point["Destination"]] = point
        for mount in host_config.get("Mounts") or ():
            point = parse_mount(mount, driver)
            if point["Destination"] in points:
                raise BadParameter(f"Duplicate mount point: {point['Destination']}")
            points[point["Destination"]] = point
        for target in host_config.get("Tmpfs") or {}:
            if posixpath.normpath(str(target)) in points:
                raise BadParameter(f"Duplicate mount point: {posixpath.normpath(str(target))}")
        for spec in host_config.get("VolumesFrom") or ():
            name, rw = parse_volumes_from(str(spec))
            try:
                source = self.lookup(name)
            except NotFound:
                raise BadParameter(f"No such container: {name}") from None
            for destination, inherited in source.mount_points.items():
                if destination in points or not isinstance(inherited, Mapping):
                    continue
                point = dict(inherited)
                point.pop("CopyUp", None)
                point["Anonymous"] = False  # the first container owns them
                if rw is not None:
                    point["RW"] = rw
                points[destination] = point
        for target in config.get("Volumes") or {}:
            destination = _destination(VOLUME, str(target))
            if destination not in points:
                points[destination] = _point(
                    VOLUME, destination, Name="", Driver=driver, CopyUp=True
                )
        try:
            for point in points.values():
                if point["Type"] == BIND and point.get("CreateSource"):
                    with contextlib.suppress(FileExistsError):
                        os.makedirs(point["Source"], 0o755)
                if point["Type"] != VOLUME:
                    continue
                anonymous = not point.get("Name")
                labels = point.pop("VolumeLabels", None)
                options = point.pop("VolumeOptions", None)
                try:
                    record = self.volumes.ensure(
                        str(point.get("Name") or ""),
                        str(point.get("Driver") or ""),
                        options,
                        labels,
                    )
                except NotFound as exc:
                    # a 404 on create makes the docker CLI pull the image: say 400 instead
                    raise BadParameter(str(exc)) from None
                if anonymous:
                    point["Anonymous"] = True
                point["Name"], point["Driver"] = record.name, record.driver
                point["Source"] = str(self.volumes.inspect(record.name).get("Mountpoint") or "")
                self.volumes.add_user(record.name, container_id)
        except BaseException:
            self.forget(container_id, points, remove_anonymous=True)
            raise
        return points

    def forget(self, container_id: str, points: Mapping[str, Any], remove_anonymous: bool) -> None:
        """The container is gone: it no longer uses its volumes; its anonymous ones go too
        when asked (``rm -v``, ``--rm``) and no other container uses them."""
        for point in points.values():
            if not isinstance(point, Mapping) or point.get("Type") != VOLUME:
                continue
            name = str(point.get("Name") or "")
            if not name:
                continue
            self.volumes.drop_user(name, container_id)
            if remove_anonymous and point.get("Anonymous") and not self.volumes.users(name):
                try:
                    self.volumes.remove(name)
                except BerthError as exc:
                    self.log.warning("volume.remove_failed", name=name, error=str(exc))

    def adopt(self, containers: Sequence[Container]) -> None:
        """At daemon start: count every container's uses, and hold the volumes of running
        containers again (a driver adopts what is still mounted)."""
        for container in containers:
            for point in container.mount_points.values():
                if isinstance(point, Mapping) and point.get("Type") == VOLUME and point.get("Name"):
                    self.volumes.add_user(str(point["Name"]), container.id)
            if container.state.running:
                try:
                    self._mount_volumes(container)
                except BerthError as exc:
                    self.log.warning("volume.readopt_failed", id=container.id, error=str(exc))

    # --- start and stop ---------------------------------------------------------------------

    def _mount_volumes(self, container: Container) -> dict[str, Path]:
        paths: dict[str, Path] = {}
        for destination, point in container.mount_points.items():
            if isinstance(point, Mapping) and point.get("Type") == VOLUME:
                paths[destination] = self.volumes.mount(str(point["Name"]), container.id)
        return paths

    def activate(self, container: Container, rootfs: Path) -> list[dict[str, Any]]:
        """Blocking: mount the container's volumes (filling new ones from the image) and
        return its OCI mounts. On failure what was mounted stays for :meth:`deactivate`."""
        if not container.mount_points:
            return []
        paths = self._mount_volumes(container)
        mounts: list[dict[str, Any]] = []
        for destination, point in sorted(container.mount_points.items()):
            kind = point.get("Type")
            readonly = [] if point.get("RW", True) else ["ro"]
            if kind == TMPFS:
                options = ["noexec", "nosuid", "nodev", DEFAULT_PROPAGATION]
                options += [str(d) for d in point.get("TmpfsData") or ()] + readonly
                mounts.append(
                    {"destination": destination, "type": "tmpfs", "source": "tmpfs",
                     "options": options}
                )  # fmt: skip
                continue
            if kind == VOLUME:
                source = paths[destination]
                if point.get("CopyUp"):
                    self._copy_up(rootfs, destination, source)
                    point["CopyUp"] = False
                subpath = str(point.get("Subpath") or "")
                if subpath:
                    source = self._subpath(source, subpath)
            else:
                source = Path(str(point.get("Source") or ""))
                if not source.exists():
                    raise BadParameter(
                        f'invalid mount config for type "bind": bind source path does not '
                        f"exist: {source}"
                    )
            recursive = "bind" if point.get("NonRecursive") else "rbind"
            propagation = str(point.get("Propagation") or DEFAULT_PROPAGATION)
            mounts.append(
                {
                    "destination": destination,
                    "type": "bind",
                    "source": str(source),
                    "options": [recursive, propagation, *readonly],
                }
            )
        return mounts

    def _subpath(self, volume: Path, subpath: str) -> Path:
        relative = resolve_in_root(volume, subpath)
        candidate = volume / relative if relative else volume
        if not candidate.is_dir() and not candidate.exists():
            raise BadParameter(f"cannot access path {subpath} in the volume: no such directory")
        return candidate

    def _copy_up(self, rootfs: Path, destination: str, volume: Path) -> None:
        """Docker's copy of the image's content into a new volume: only when the volume is
        empty and the image has a directory there."""
        inside = rootfs / resolve_in_root(rootfs, destination)
        if not inside.is_dir() or inside.is_symlink():
            return
        try:
            with self._copy_lock:
                if not any(volume.iterdir()):
                    _copy_tree(inside, volume)
        except OSError as exc:
            raise BerthError(
                f"cannot copy the image's {destination} into its volume: {exc}"
            ) from None

    def deactivate(self, container: Container) -> None:
        """Blocking: release the volumes a run held (uses not held are ignored)."""
        for point in container.mount_points.values():
            if isinstance(point, Mapping) and point.get("Type") == VOLUME and point.get("Name"):
                self.volumes.unmount(str(point["Name"]), container.id)
