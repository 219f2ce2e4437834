"""The container record, in Docker's shapes.

A :class:`Container` holds what Docker keeps for a container: its ``Config`` (the create options
merged with the image's config), its ``HostConfig``, its :class:`State`, the paths of its
hostname/hosts/resolv.conf files and log, and what berth adds (the storage driver's cache ID of
its writable layer). On disk it is two JSON files with Docker's keys, ``config.v2.json`` and
``hostconfig.json`` (see :mod:`berth.engine.containers.store`); over the API it is
:meth:`Container.inspect` (``GET /containers/{id}/json``) and :meth:`Container.summary`
(``GET /containers/json``).

Times are RFC 3339 strings with nanoseconds, as Docker writes them; a time that never happened
is Go's zero time, :data:`ZERO_TIME`.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from berth.engine.errors import BadParameter
from berth.humanize import human_duration

ZERO_TIME = "0001-01-01T00:00:00Z"
DEFAULT_SHM_SIZE = 64 * 1024 * 1024

# Docker's container states, as ``State.Status`` and the ``status`` filter name them.
CREATED, RUNNING, PAUSED, RESTARTING, REMOVING, EXITED, DEAD = (
    "created",
    "running",
    "paused",
    "restarting",
    "removing",
    "exited",
    "dead",
)
STATUSES = (CREATED, RUNNING, PAUSED, RESTARTING, REMOVING, EXITED, DEAD)

# Health states
STARTING, HEALTHY, UNHEALTHY, NO_HEALTHCHECK = "starting", "healthy", "unhealthy", "none"


def now_rfc3339(seconds: float | None = None) -> str:
    """RFC 3339 in UTC with nanoseconds (``2026-11-28T10:00:00.123456789Z``)."""
    nanos = time.time_ns() if seconds is None else int(seconds * 1e9)
    whole, frac = divmod(nanos, 1_000_000_000)
    base = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z"


def parse_rfc3339(text: str) -> float | None:
    """Seconds since the epoch of an RFC 3339 time; None for the zero time or junk."""
    if not text or text.startswith("0001-01-01"):
        return None
    body, zone = text, "+00:00"
    if body.endswith("Z"):
        body = body[:-1]
    elif len(body) > 6 and body[-6] in "+-" and body[-3] == ":":
        body, zone = body[:-6], body[-6:]
    whole, _, fraction = body.partition(".")
    try:
        stamp = datetime.fromisoformat(whole + zone).timestamp()
    except ValueError:
        return None
    if fraction:
        if not fraction.isdigit():
            return None
        stamp += int(fraction[:9].ljust(9, "0")) / 1e9
    return stamp


def new_container_id() -> str:
    """64 random hex digits whose 12-digit short form is not all digits (Docker's rule, so a
    short ID never reads as a number)."""
    while True:
        candidate = os.urandom(32).hex()
        if not candidate[:12].isdigit():
            return candidate


# --- health -------------------------------------------------------------------------------


@dataclass
class HealthLog:
    start: str
    end: str
    exit_code: int
    output: str

    def to_json(self) -> dict[str, Any]:
        return {
            "Start": self.start,
            "End": self.end,
            "ExitCode": self.exit_code,
            "Output": self.output,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HealthLog:
        return cls(
            str(data.get("Start") or ZERO_TIME),
            str(data.get("End") or ZERO_TIME),
            int(data.get("ExitCode") or 0),
            str(data.get("Output") or ""),
        )


@dataclass
class Health:
    """``State.Health``: present once a container with a healthcheck has been started."""

    status: str = STARTING
    failing_streak: int = 0
    log: list[HealthLog] = field(default_factory=list)

    #: Docker keeps the last five probe results.
    MAX_LOG = 5

    def record(self, entry: HealthLog) -> None:
        self.log.append(entry)
        del self.log[: -self.MAX_LOG]

    def to_json(self) -> dict[str, Any]:
        return {
            "Status": self.status,
            "FailingStreak": self.failing_streak,
            "Log": [entry.to_json() for entry in self.log],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Health:
        return cls(
            str(data.get("Status") or STARTING),
            int(data.get("FailingStreak") or 0),
            [HealthLog.from_json(e) for e in data.get("Log") or () if isinstance(e, Mapping)],
        )

    def label(self) -> str:
        """How ``docker ps`` shows it after ``Up …``: ``health: starting``, ``healthy``, …"""
        return "health: starting" if self.status == STARTING else self.status


# --- state --------------------------------------------------------------------------------


@dataclass
class State:
    """``State`` of inspect; ``status`` is derived from the flags exactly as Docker does."""

    running: bool = False
    paused: bool = False
    restarting: bool = False
    oom_killed: bool = False
    removal_in_progress: bool = False
    dead: bool = False
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    health: Health | None = None

    @property
    def status(self) -> str:
        if self.running:
            if self.paused:
                return PAUSED
            if self.restarting:
                return RESTARTING
            return RUNNING
        if self.removal_in_progress:
            return REMOVING
        if self.dead:
            return DEAD
        if self.started_at == ZERO_TIME:
            return CREATED
        return EXITED

    def set_running(self, pid: int, started_at: str | None = None) -> None:
        self.running, self.paused, self.restarting, self.dead = True, False, False, False
        self.oom_killed = False
        self.pid, self.exit_code, self.error = pid, 0, ""
        self.started_at = started_at or now_rfc3339()

    def set_stopped(
        self, exit_code: int, finished_at: str | None = None, oom: bool = False
    ) -> None:
        self.running, self.paused, self.restarting = False, False, False
        self.pid = 0
        self.exit_code = exit_code
        self.oom_killed = oom
        self.finished_at = finished_at or now_rfc3339()

    def set_restarting(self, exit_code: int, finished_at: str | None = None) -> None:
        """Exited and about to be restarted by its policy: Docker shows it as running+restarting."""
        self.running, self.paused, self.restarting = True, False, True
        self.pid = 0
        self.exit_code = exit_code
        self.finished_at = finished_at or now_rfc3339()

    def describe(self, now: float | None = None) -> str:
        """``Status`` of ``docker ps``: ``Up 2 minutes``, ``Exited (0) 3 seconds ago``, …"""
        current = time.time() if now is None else now

        def since(stamp: str) -> str:
            at = parse_rfc3339(stamp)
            return human_duration(max(0.0, current - at) if at is not None else 0.0)

        if self.running:
            if self.paused:
                return f"Up {since(self.started_at)} (Paused)"
            if self.restarting:
                return f"Restarting ({self.exit_code}) {since(self.finished_at)} ago"
            if self.health is not None:
                return f"Up {since(self.started_at)} ({self.health.label()})"
            return f"Up {since(self.started_at)}"
        if self.removal_in_progress:
            return "Removal In Progress"
        if self.dead:
            return "Dead"
        if self.started_at == ZERO_TIME:
            return "Created"
        if self.finished_at == ZERO_TIME:
            return ""
        return f"Exited ({self.exit_code}) {since(self.finished_at)} ago"

    def to_disk(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "Running": self.running,
            "Paused": self.paused,
            "Restarting": self.restarting,
            "OOMKilled": self.oom_killed,
            "RemovalInProgress": self.removal_in_progress,
            "Dead": self.dead,
            "Pid": self.pid,
            "ExitCode": self.exit_code,
            "Error": self.error,
            "StartedAt": self.started_at,
            "FinishedAt": self.finished_at,
        }
        if self.health is not None:
            data["Health"] = self.health.to_json()
        return data

    @classmethod
    def from_disk(cls, data: Mapping[str, Any]) -> State:
        health = data.get("Health")
        return cls(
            running=bool(data.get("Running")),
            paused=bool(data.get("Paused")),
            restarting=bool(data.get("Restarting")),
            oom_killed=bool(data.get("OOMKilled")),
            removal_in_progress=bool(data.get("RemovalInProgress")),
            dead=bool(data.get("Dead")),
            pid=int(data.get("Pid") or 0),
            exit_code=int(data.get("ExitCode") or 0),
            error=str(data.get("Error") or ""),
            started_at=str(data.get("StartedAt") or ZERO_TIME),
            finished_at=str(data.get("FinishedAt") or ZERO_TIME),
            health=Health.from_json(health) if isinstance(health, Mapping) else None,
        )

    def inspect(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "Status": self.status,
            "Running": self.running,
            "Paused": self.paused,
            "Restarting": self.restarting,
            "OOMKilled": self.oom_killed,
            "Dead": self.dead,
            "Pid": self.pid,
            "ExitCode": self.exit_code,
            "Error": self.error,
            "StartedAt": self.started_at,
            "FinishedAt": self.finished_at,
        }
        if self.health is not None:
            data["Health"] = self.health.to_json()
        return data


# --- Config and HostConfig ----------------------------------------------------------------


def default_config() -> dict[str, Any]:
    """Docker's ``Config`` with every field the API always shows."""
    return {
        "Hostname": "",
        "Domainname": "",
        "User": "",
        "AttachStdin": False,
        "AttachStdout": False,
        "AttachStderr": False,
        "Tty": False,
        "OpenStdin": False,
        "StdinOnce": False,
        "Env": None,
        "Cmd": None,
        "Image": "",
        "Volumes": None,
        "WorkingDir": "",
        "Entrypoint": None,
        "OnBuild": None,
        "Labels": {},
    }


def default_host_config() -> dict[str, Any]:
    """Docker's ``HostConfig`` with every field ``docker inspect`` always shows (API 1.44)."""
    return {
        "Binds": None,
        "ContainerIDFile": "",
        "LogConfig": {"Type": "json-file", "Config": {}},
        "NetworkMode": "default",
        "PortBindings": {},
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": False,
        "VolumeDriver": "",
        "VolumesFrom": None,
        "ConsoleSize": [0, 0],
        "CapAdd": None,
        "CapDrop": None,
        "CgroupnsMode": "",
        "Dns": [],
        "DnsOptions": [],
        "DnsSearch": [],
        "ExtraHosts": None,
        "GroupAdd": None,
        "IpcMode": "",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": False,
        "PublishAllPorts": False,
        "ReadonlyRootfs": False,
        "SecurityOpt": None,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": 0,
        "Runtime": "",
        "Isolation": "",
        "CpuShares": 0,
        "Memory": 0,
        "NanoCpus": 0,
        "CgroupParent": "",
        "BlkioWeight": 0,
        "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [],
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": "",
        "CpusetMems": "",
        "Devices": [],
        "DeviceCgroupRules": None,
        "DeviceRequests": None,
        "MemoryReservation": 0,
        "MemorySwap": 0,
        "MemorySwappiness": None,
        "OomKillDisable": None,
        "PidsLimit": None,
        "Ulimits": None,
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "MaskedPaths": None,
        "ReadonlyPaths": None,
    }


def with_defaults(given: Mapping[str, Any] | None, defaults: dict[str, Any]) -> dict[str, Any]:
    """``defaults`` overlaid with the keys ``given`` has (a JSON ``null`` keeps the default only
    where the default is not ``None`` either, so lists the API sends as null stay null)."""
    merged = defaults
    for key, value in (given or {}).items():
        if value is None and merged.get(key) is not None:
            continue
        merged[key] = copy.deepcopy(value)
    return merged


def _env_key(item: str) -> str:
    return item.split("=", 1)[0]


def merge_env(base: Sequence[str] | None, override: Sequence[str] | None) -> list[str]:
    """Docker's ``ReplaceOrAppendEnvValues``: ``override`` replaces variables of ``base`` with
    the same name and appends the others; an entry without ``=`` removes the variable."""
    result = list(base or ())
    index = {_env_key(item): i for i, item in enumerate(result)}
    removed: set[int] = set()
    for item in override or ():
        key = _env_key(item)
        if "=" not in item:
            if key in index:
                removed.add(index[key])
            continue
        if key in index:
            result[index[key]] = item
            removed.discard(index[key])
        else:
            index[key] = len(result)
            result.append(item)
    return [item for i, item in enumerate(result) if i not in removed]


def merge_image_config(
    config: Mapping[str, Any], image: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The container's ``Config`` from the create request and the image's ``config``, merged as
    Docker merges them at create: user values win; unset ones come from the image; ``Env`` and
    ``Labels`` and ``ExposedPorts``/``Volumes`` are unions. The image's ``Cmd`` is used only when
    the request has neither ``Cmd`` nor an ``Entrypoint``; ``Entrypoint: []`` drops the image's
    entrypoint but keeps its ``Cmd``, ``[""]`` (``--entrypoint ""``) drops both."""
    merged = with_defaults(config, default_config())
    img = dict(image or {})
    if not merged.get("User"):
        merged["User"] = img.get("User") or ""
    for key in ("ExposedPorts", "Volumes"):
        ours = dict(merged.get(key) or {})
        for name, value in (img.get(key) or {}).items():
            ours.setdefault(name, value)
        if ours:
            merged[key] = ours
    merged["Env"] = merge_env(img.get("Env"), merged.get("Env") or [])
    labels = dict(img.get("Labels") or {})
    labels.update(merged.get("Labels") or {})
    merged["Labels"] = labels
    entrypoint = config.get("Entrypoint")
    if not entrypoint:  # None (not given) or [] (given empty): Docker's len(Entrypoint) == 0
        if not merged.get("Cmd"):
            merged["Cmd"] = copy.deepcopy(img.get("Cmd"))
        merged["Entrypoint"] = copy.deepcopy(img.get("Entrypoint")) if entrypoint is None else None
    elif entrypoint == [""]:  # --entrypoint "": no entrypoint, and the image's Cmd is not used
        merged["Entrypoint"] = None
    if not merged.get("WorkingDir"):
        merged["WorkingDir"] = img.get("WorkingDir") or ""
    if merged.get("Healthcheck") is None and img.get("Healthcheck") is not None:
        merged["Healthcheck"] = copy.deepcopy(img["Healthcheck"])
    elif merged.get("Healthcheck") is not None and img.get("Healthcheck") is not None:
        health = dict(img["Healthcheck"])
        for key, value in merged["Healthcheck"].items():
            if value or key not in health:
                health[key] = value
        merged["Healthcheck"] = health
    if not merged.get("StopSignal") and img.get("StopSignal"):
        merged["StopSignal"] = img["StopSignal"]
    if merged.get("OnBuild") is None and img.get("OnBuild"):
        merged["OnBuild"] = list(img["OnBuild"])
    if not merged.get("Shell") and img.get("Shell"):
        merged["Shell"] = list(img["Shell"])
    return merged


def command_of(config: Mapping[str, Any]) -> tuple[str, list[str]]:
    """``(Path, Args)`` of a merged ``Config``: entrypoint then cmd. Raises Docker's
    ``No command specified`` (400) when there is neither."""
    words = [str(w) for w in (config.get("Entrypoint") or [])]
    words += [str(w) for w in (config.get("Cmd") or [])]
    if not words:
        raise BadParameter("No command specified")
    return words[0], words[1:]


def network_mode(host_config: Mapping[str, Any]) -> str:
    """The network mode with Docker's aliases resolved: ``default`` means ``bridge``."""
    mode = str(host_config.get("NetworkMode") or "default")
    return "bridge" if mode == "default" else mode


# --- the container ------------------------------------------------------------------------


@dataclass
class Container:
    id: str
    name: str  # stored form, with the leading "/"
    image: str  # image ID, "sha256:…"
    config: dict[str, Any]
    host_config: dict[str, Any]
    created: str = field(default_factory=now_rfc3339)
    path: str = ""
    args: list[str] = field(default_factory=list)
    state: State = field(default_factory=State)
    driver: str = ""
    platform: str = "linux"
    restart_count: int = 0
    has_been_started_before: bool = False
    has_been_manually_stopped: bool = False
    mount_label: str = ""
    process_label: str = ""
    apparmor_profile: str = ""
    seccomp_profile: str = ""
    no_new_privileges: bool = False
    resolv_conf_path: str = ""
    hostname_path: str = ""
    hosts_path: str = ""
    log_path: str = ""
    shm_path: str = ""
    network_settings: dict[str, Any] = field(default_factory=dict)
    mount_points: dict[str, Any] = field(default_factory=dict)
    #: Storage driver data for ``GraphDriver.Data`` (overlay2: LowerDir, MergedDir, …).
    graph_driver_data: dict[str, str] = field(default_factory=dict)
    #: berth: the storage driver's cache ID of the container's writable layer.
    rw_layer: str = ""
    #: berth: anything else berth keeps about the container (runtime name, …).
    extra: dict[str, Any] = field(default_factory=dict)
    #: Exec instances of the container; kept in memory only, as in Docker.
    exec_ids: list[str] = field(default_factory=list)

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def bare_name(self) -> str:
        return self.name.lstrip("/")

    @property
    def tty(self) -> bool:
        return bool(self.config.get("Tty"))

    @property
    def network_mode(self) -> str:
        return network_mode(self.host_config)

    @property
    def has_healthcheck(self) -> bool:
        """Whether the merged config has a healthcheck that is not disabled (``NONE``)."""
        check = self.config.get("Healthcheck")
        if not isinstance(check, Mapping):
            return False
        test = check.get("Test") or []
        return bool(test) and test[0] != "NONE"

    def mark_started(self, pid: int, started_at: str | None = None) -> None:
        """The init runs: state running, health ``starting`` (its last results kept)."""
        self.state.set_running(pid, started_at)
        self.has_been_started_before = True
        if self.has_healthcheck:
            health = self.state.health or Health()
            health.status, health.failing_streak = STARTING, 0
            self.state.health = health
        else:
            self.state.health = None

    def mark_exited(
        self, exit_code: int, finished_at: str | None = None, oom: bool = False
    ) -> None:
        self.state.set_stopped(exit_code, finished_at, oom)

    def command_line(self) -> str:
        """``Command`` of ``docker ps``: path and args joined by spaces."""
        return " ".join([self.path, *self.args]).strip()

    # --- disk ---

    def to_disk(self) -> dict[str, Any]:
        """``config.v2.json``: everything but the HostConfig, with Docker's keys."""
        return {
            "ID": self.id,
            "Created": self.created,
            "Path": self.path,
            "Args": list(self.args),
            "Config": self.config,
            "State": self.state.to_disk(),
            "Image": self.image,
            "NetworkSettings": self.network_settings,
            "LogPath": self.log_path,
            "Name": self.name,
            "Driver": self.driver,
            "OS": self.platform,
            "MountLabel": self.mount_label,
            "ProcessLabel": self.process_label,
            "RestartCount": self.restart_count,
            "HasBeenStartedBefore": self.has_been_started_before,
            "HasBeenManuallyStopped": self.has_been_manually_stopped,
            "MountPoints": self.mount_points,
            "AppArmorProfile": self.apparmor_profile,
            "HostnamePath": self.hostname_path,
            "HostsPath": self.hosts_path,
            "ShmPath": self.shm_path,
            "ResolvConfPath": self.resolv_conf_path,
            "SeccompProfile": self.seccomp_profile,
            "NoNewPrivileges": self.no_new_privileges,
            "Berth": {
                "RWLayer": self.rw_layer,
                "GraphDriverData": self.graph_driver_data,
                "Extra": self.extra,
            },
        }

    @classmethod
    def from_disk(cls, data: Mapping[str, Any], host_config: Mapping[str, Any]) -> Container:
        """The container of a ``config.v2.json`` and ``hostconfig.json``; raises ValueError
        (or KeyError/TypeError) on a record that is not one."""
        container_id = str(data["ID"])
        if len(container_id) != 64 or any(c not in "0123456789abcdef" for c in container_id):
            raise ValueError(f"bad container ID {container_id!r}")
        berth = data.get("Berth") or {}
        state = data.get("State") or {}
        return cls(
            id=container_id,
            name=str(data.get("Name") or "/" + container_id[:12]),
            image=str(data.get("Image") or ""),
            config=with_defaults(data.get("Config"), default_config()),
            host_config=with_defaults(host_config, default_host_config()),
            created=str(data.get("Created") or ZERO_TIME),
            path=str(data.get("Path") or ""),
            args=[str(a) for a in data.get("Args") or ()],
            state=State.from_disk(state if isinstance(state, Mapping) else {}),
            driver=str(data.get("Driver") or ""),
            platform=str(data.get("OS") or "linux"),
            restart_count=int(data.get("RestartCount") or 0),
            has_been_started_before=bool(data.get("HasBeenStartedBefore")),
            has_been_manually_stopped=bool(data.get("HasBeenManuallyStopped")),
            mount_label=str(data.get("MountLabel") or ""),
            process_label=str(data.get("ProcessLabel") or ""),
            apparmor_profile=str(data.get("AppArmorProfile") or ""),
            seccomp_profile=str(data.get("SeccompProfile") or ""),
            no_new_privileges=bool(data.get("NoNewPrivileges")),
            resolv_conf_path=str(data.get("ResolvConfPath") or ""),
            hostname_path=str(data.get("HostnamePath") or ""),
            hosts_path=str(data.get("HostsPath") or ""),
            log_path=str(data.get("LogPath") or ""),
            shm_path=str(data.get("ShmPath") or ""),
            network_settings=dict(data.get("NetworkSettings") or {}),
            mount_points=dict(data.get("MountPoints") or {}),
            graph_driver_data={
                str(k): str(v) for k, v in (berth.get("GraphDriverData") or {}).items()
            },
            rw_layer=str(berth.get("RWLayer") or ""),
            extra=dict(berth.get("Extra") or {}),
        )

    # --- API views ---

    def mounts(self) -> list[dict[str, Any]]:
        """``Mounts`` of inspect and ps, from the mount points."""
        result = []
        for destination, point in sorted(self.mount_points.items()):
            if not isinstance(point, Mapping):
                continue
            entry: dict[str, Any] = {
                "Type": point.get("Type") or "bind",
                "Source": point.get("Source") or "",
                "Destination": point.get("Destination") or destination,
                "Mode": point.get("Mode") or "",
                "RW": bool(point.get("RW", True)),
                "Propagation": point.get("Propagation") or "",
            }
            if point.get("Name"):
                entry["Name"] = point["Name"]
                entry["Driver"] = point.get("Driver") or "local"
            result.append(entry)
        return result

    def inspect(
        self, size_rw: int | None = None, size_root_fs: int | None = None
    ) -> dict[str, Any]:
        """``GET /containers/{id}/json``."""
        data: dict[str, Any] = {
            "Id": self.id,
            "Created": self.created,
            "Path": self.path,
            "Args": list(self.args),
            "State": self.state.inspect(),
            "Image": self.image,
            "ResolvConfPath": self.resolv_conf_path,
            "HostnamePath": self.hostname_path,
            "HostsPath": self.hosts_path,
            "LogPath": self.log_path,
            "Name": self.name,
            "RestartCount": self.restart_count,
            "Driver": self.driver,
            "Platform": self.platform,
            "MountLabel": self.mount_label,
            "ProcessLabel": self.process_label,
            "AppArmorProfile": self.apparmor_profile,
            "ExecIDs": list(self.exec_ids) or None,
            "HostConfig": copy.deepcopy(self.host_config),
            "GraphDriver": {"Data": dict(self.graph_driver_data) or None, "Name": self.driver},
            "Mounts": self.mounts(),
            "Config": copy.deepcopy(self.config),
            "NetworkSettings": copy.deepcopy(self.network_settings),
        }
        if size_rw is not None:
            data["SizeRw"] = size_rw
        if size_root_fs is not None:
            data["SizeRootFs"] = size_root_fs
        return data

    def summary(
        self,
        image: str | None = None,
        now: float | None = None,
        size_rw: int | None = None,
        size_root_fs: int | None = None,
    ) -> dict[str, Any]:
        """One entry of ``GET /containers/json``; ``image`` is the name ps shows (default: the
        reference the container was created from)."""
        settings = self.network_settings
        data: dict[str, Any] = {
            "Id": self.id,
            "Names": [self.name],
            "Image": image if image is not None else str(self.config.get("Image") or self.image),
            "ImageID": self.image,
            "Command": self.command_line(),
            "Created": int(parse_rfc3339(self.created) or 0),
            "Ports": summary_ports(settings.get("Ports")),
            "Labels": dict(self.config.get("Labels") or {}),
            "State": self.state.status,
            "Status": self.state.describe(now),
            "HostConfig": {"NetworkMode": str(self.host_config.get("NetworkMode") or "default")},
            "NetworkSettings": {"Networks": copy.deepcopy(settings.get("Networks") or {})},
            "Mounts": self.mounts(),
        }
        if size_rw is not None:
            data["SizeRw"] = size_rw
        if size_root_fs is not None:
            data["SizeRootFs"] = size_root_fs
        return data


def summary_ports(ports: Any) -> list[dict[str, Any]]:
    """``NetworkSettings.Ports`` as ``GET /containers/json`` lists them (what ``ps`` shows)."""
    out: list[dict[str, Any]] = []
    for key, bindings in (ports or {}).items() if isinstance(ports, dict) else ():
        port, _, proto = str(key).partition("/")
        if not port.isdigit():
            continue
        if not bindings:
            out.append({"PrivatePort": int(port), "Type": proto or "tcp"})
        for binding in bindings or ():
            out.append(
                {
                    "IP": str(binding.get("HostIp") or "0.0.0.0"),
                    "PrivatePort": int(port),
                    "PublicPort": int(binding.get("HostPort") or 0),
                    "Type": proto or "tcp",
                }
            )
    return out


def default_network_settings(mode: str, sandbox_key: str = "") -> dict[str, Any]:
    """``NetworkSettings`` of a container on ``none`` or ``host`` (no address of its own)."""
    endpoint = {
        "IPAMConfig": None,
        "Links": None,
        "Aliases": None,
        "MacAddress": "",
        "NetworkID": "",
        "EndpointID": "",
        "Gateway": "",
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DriverOpts": None,
        "DNSNames": None,
    }
    return {
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": sandbox_key,
        "Ports": {},
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": "",
        "Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": "",
        "IPPrefixLen": 0,
        "IPv6Gateway": "",
        "MacAddress": "",
        "Networks": {mode: endpoint},
    }
