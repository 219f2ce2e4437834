"""The engine object: configuration, plugins, chosen drivers and events, for the API to use."""

from __future__ import annotations

import platform
import sys
import time
import uuid
from collections.abc import Mapping
from typing import Any

import berth
from berth.engine import hostinfo
from berth.engine.config import DaemonConfig
from berth.engine.containers.bundle import BundleMaker
from berth.engine.containers.mounts import MountManager
from berth.engine.containers.resolv import DnsDefaults
from berth.engine.containers.service import ContainerService, Runtime, ServiceUnavailable
from berth.engine.containers.store import ContainerStore
from berth.engine.containers.supervisor import Supervisor
from berth.engine.distribution.info import registry_config
from berth.engine.errors import BadParameter, BerthError
from berth.engine.events import Event, EventBus
from berth.engine.images.errors import StoreUnavailable
from berth.engine.images.service import ImageService
from berth.engine.networks.dnsservice import ContainerDns, wire_container_dns
from berth.engine.networks.service import NetworkService
from berth.engine.networks.setup import start_networks
from berth.engine.pluginhost import ACTIVE, ERROR, READY, UNSUPPORTED, PluginHost, PluginPolicy
from berth.engine.runtimes import configured_runtime
from berth.engine.selection import Selection, select_isolation, select_storage
from berth.engine.statefile import read_text_or, write_atomic
from berth.engine.volumes.service import VolumeService
from berth.plugins import DriverKind

API_VERSION = "1.44"
MIN_API_VERSION = "1.24"


class Engine:
    """Everything berthd holds that is not HTTP; built by :meth:`start`, freed by :meth:`stop`."""

    def __init__(self, config: DaemonConfig, log: Any) -> None:
        self.config = config
        self.log = log
        policy = config["plugins"]
        self.plugins = PluginHost(
            config.data_root,
            config.exec_root,
            PluginPolicy(tuple(policy["allow"]), tuple(policy["disabled"])),
            log,
            options={"storage": dict(o.split("=", 1) for o in config["storage-opts"])},
        )
        self.events = EventBus(on_event=self._tell_plugins)
        self.storage = Selection("storage", None)
        self.isolation = Selection("isolation", None)
        self.storage_driver: Any = None
        self.images: ImageService | None = None
        self.images_error = ""
        self.containers: ContainerService | None = None
        self.networks: NetworkService | None = None
        self.dns: ContainerDns | None = None
        self.volumes: VolumeService | None = None
        self._runtimes: dict[str, Runtime] = {}
        self.warnings: list[str] = []
        self.started_at = time.time()
        self.id = ""

    def _tell_plugins(self, event: Event) -> None:
        self.plugins.hooks.event(event.type, event.action, event.actor_id, event.attributes)

    def start(self) -> None:
        """Discover plugins and choose drivers; raises PluginError when a chosen one cannot work."""
        self.id = self._engine_id()
        host = self.plugins
        host.discover()
        self.storage = select_storage(host, self.config["storage-driver"], self.config.data_root)
        if self.storage.record is not None:
            self.storage_driver = host.build(self.storage.record)
            self._start_images()
        else:
            self.images_error = self.storage.summary()
            self.warnings.append(
                f"WARNING: {self.storage.summary()}; images and containers "
                "are unavailable until a storage driver can work here"
            )
        default = self.config["default-runtime"]
        configured = default in self.config["runtimes"]
        # A default-runtime daemon.json configures is built on first use (runtime("")).
        self.isolation = select_isolation(host, "" if configured else default)
        if self.isolation.record is not None:
            host.build(self.isolation.record)
        else:
            self.warnings.append(f"WARNING: {self.isolation.summary()}; containers cannot run")
        many: tuple[DriverKind, ...] = ("network", "registry", "volume", "extension")
        for kind in many:
            for name in host.names(kind):
                host.load_and_probe(kind, name)
        for record in host.all_records():
            unusable = record.status == ERROR or (
                record.status == UNSUPPORTED and record.kind != "storage"
            )
            if unusable:
                self.warnings.append(
                    f"WARNING: {record.kind} plugin {record.name!r} is {record.status}: "
                    f"{record.reason}"
                )
            if record.status in (READY, ACTIVE):
                self.events.emit(
                    "plugin", "enable", record.plugin_id, name=record.name, kind=record.kind
                )
        self._start_volumes()
        self._start_containers()
        self._start_networks()
        for warning in self.warnings:
            self.log.warning("engine.degraded", detail=warning)

    def _start_images(self) -> None:
        """The image store of the active storage driver: ``<data-root>/image/<driver>/``."""
        name = self.storage.name
        try:
            self.images = ImageService(
                self.config.data_root / "image" / name,
                self.storage_driver,
                name,
                self.log,
                self.events.emit,
            )
        except Exception as exc:
            self.images_error = f"the image store of {name!r} cannot be opened: {exc}"
            self.log.exception("images.unavailable", driver=name)
            self.warnings.append(f"WARNING: {self.images_error}; images are unavailable")

    def _start_containers(self) -> None:
        """The container service: ``<data-root>/containers`` and ``<exec-root>/containers``;
        it needs the image store (hence a storage driver)."""
        if self.images is None:
            return
        config = self.config
        store = ContainerStore(config.data_root / "containers", self.log)
        supervisor = Supervisor(config.exec_root, self.log)

        def init_pid_of(ref: str) -> int:
            assert self.containers is not None
            return self.containers.init_pid_of(ref)

        bundles = BundleMaker(supervisor.root, store.dir_of, init_pid_of)
        self.containers = ContainerService(
            store,
            self.images,
            self.storage_driver,
            self.storage.name,
            self.runtime,
            supervisor,
            bundles,
            self.events,
            self.log,
            log_driver=config["log-driver"],
            log_opts=config["log-opts"],
        )
        if self.volumes is not None:
            mounts = MountManager(self.volumes, store.lookup, self.log)
            mounts.adopt(list(store))
            self.containers.mounts = mounts

    def _start_networks(self) -> None:
        """Network records (``<data-root>/networks``) and the containers' network hooks."""
        try:
            self.networks = start_networks(
                self.config, self.plugins, self.containers, self.log, self.events.emit
            )
        except BerthError as exc:
            self.warnings.append(f"WARNING: networks are unavailable: {exc}")
        if self.networks is not None:
            defaults = DnsDefaults(
                *(tuple(self.config[key]) for key in ("dns", "dns-search", "dns-opts"))
            )
            self.dns = wire_container_dns(self.networks, self.containers, self.log, defaults)

    async def start_dns(self) -> None:
        """The embedded DNS of user-defined networks (on the daemon's loop)."""
        if self.dns is not None:
            await self.dns.start()

    async def stop_dns(self) -> None:
        if self.dns is not None:
            await self.dns.stop()

    def network_service(self) -> NetworkService:
        """The network service, or a one-line 503 saying why there is none."""
        if self.networks is None:
            raise StoreUnavailable("networks are unavailable: see the daemon's warnings")
        return self.networks

    def _start_volumes(self) -> None:
        """The volume records, ``<data-root>/volumes``; drivers are built on first use."""
        try:
            self.volumes = VolumeService(
                self.config.data_root / "volumes", self.plugins, self.log, self.events.emit
            )
        except OSError as exc:
            self.warnings.append(f"WARNING: volumes are unavailable: {exc}")

    def volume_service(self) -> VolumeService:
        """The volume service, or a one-line 503 saying why there is none."""
        if self.volumes is None:
            raise StoreUnavailable("volumes are unavailable: see the daemon's warnings")
        return self.volumes

    def runtime(self, name: str) -> Runtime:
        """The isolation runtime ``name`` (``""``: the daemon's default), built on first use."""
        wanted = name or self.config["default-runtime"]
        if wanted and wanted in self.config["runtimes"]:
            found = self._runtimes.get(wanted)
            if found is None:
                found = configured_runtime(self.plugins, wanted, self.config["runtimes"][wanted])
                self._runtimes[wanted] = found
            return found
        key = name or self.isolation.name
        cached = self._runtimes.get(key) if key else None
        if cached is not None:
            return cached
        if not name:
            record = self.isolation.record
            if record is None:
                raise ServiceUnavailable(
                    f"containers cannot run: {self.isolation.summary()}; install an isolation "
                    "plugin (berth-isolation-linux) or choose one with default-runtime"
                )
        else:
            record = self.plugins.records["isolation"].get(name)
            if record is None:
                names = {*self.plugins.names("isolation"), *self.config["runtimes"]}
                known = ", ".join(sorted(names)) or "none"
                raise BadParameter(f"unknown or invalid runtime name: {name} (installed: {known})")
            record = self.plugins.load_and_probe("isolation", name)
            if record.status not in (READY, ACTIVE):
                raise BadParameter(f"runtime {name!r} cannot be used here: {record.reason}")
        driver = self.plugins.build(record)
        launcher = str(getattr(record.spec, "launcher", "") or "")
        runtime = Runtime(record.name, driver, launcher)
        self._runtimes[record.name] = runtime
        return runtime

    def container_service(self) -> ContainerService:
        """The container service, or a one-line 503 saying why there is none."""
        if self.containers is None:
            raise StoreUnavailable(
                f"containers are unavailable: {self.images_error or 'no storage driver is active'}"
            )
        return self.containers

    def image_service(self) -> ImageService:
        """The image service, or a one-line 503 saying why there is none."""
        if self.images is None:
            raise StoreUnavailable(
                f"images are unavailable: {self.images_error or 'no storage driver is active'}"
            )
        return self.images

    def stop(self) -> None:
        """Free what the engine holds. Running containers go on (live restore): while one of
        them has its root file system mounted, the storage driver's mounts stay as they are
        (a restarted daemon adopts them); otherwise the driver cleans up. Networks no running
        container uses are taken down (their records stay)."""
        if self.networks is not None:
            try:
                self.networks.shutdown()
            except Exception:
                self.log.exception("network.shutdown_failed")
        driver = self.storage_driver
        if driver is None:
            return
        if self.containers is not None and self.containers.holds_mounts():
            self.log.info("storage.cleanup_skipped", reason="containers are running")
            return
        try:
            driver.cleanup()
        except Exception:
            self.log.exception("storage.cleanup_failed")

    def _engine_id(self) -> str:
        """A stable ID for this data root (Docker's info ``ID``), made on first start."""
        path = self.config.data_root / "engine-id"
        existing = read_text_or(path, "").strip()
        if existing:
            return existing
        new_id = str(uuid.uuid4())
        write_atomic(path, new_id.encode() + b"\n")
        return new_id

    # --- API views ------------------------------------------------------------------------

    def version(self) -> dict[str, Any]:
        os_name, _ = hostinfo.operating_system()
        python = platform.python_version()
        details = {
            "ApiVersion": API_VERSION,
            "Arch": hostinfo.go_arch(),
            "BuildTime": "",
            "Experimental": str(self.config["experimental"]).lower(),
            "GitCommit": "",
            "GoVersion": f"python{python}",
            "KernelVersion": hostinfo.kernel_version(),
            "MinAPIVersion": MIN_API_VERSION,
            "Os": "linux",
        }
        return {
            "Platform": {"Name": "Berth Engine"},
            "Components": [
                {"Name": "Engine", "Version": berth.__version__, "Details": details},
                *(
                    {
                        "Name": f"{r.kind}/{r.name}",
                        "Version": r.version,
                        "Details": {"Distribution": r.distribution},
                    }
                    for r in self.plugins.all_records()
                    if r.selected
                ),
            ],
            "Version": berth.__version__,
            "ApiVersion": API_VERSION,
            "MinAPIVersion": MIN_API_VERSION,
            "GitCommit": "",
            "GoVersion": f"python{python}",
            "Os": "linux",
            "Arch": hostinfo.go_arch(),
            "KernelVersion": hostinfo.kernel_version(),
            "Experimental": bool(self.config["experimental"]),
            "BuildTime": "",
            "PythonVersion": sys.version.split()[0],
            "OsName": os_name,
        }

    def _plugin_names(self, kind: str) -> list[str]:
        records = self.plugins.records[kind]  # type: ignore[index]
        return [r.name for r in records.values() if r.status in (READY, ACTIVE)]

    def info(self) -> dict[str, Any]:
        os_name, os_version = hostinfo.operating_system()
        driver_status: list[list[str]] = []
        if self.storage_driver is not None:
            try:
                driver_status = [list(pair) for pair in self.storage_driver.status()]
            except Exception as exc:
                driver_status = [["Error", str(exc)]]
        elif self.storage.skipped:
            driver_status = [[name, reason] for name, reason in self.storage.skipped.items()]
        runtimes: Mapping[str, Any] = {
            name: {"path": name} for name in self._plugin_names("isolation")
        }
        runtimes = {**runtimes, **self.config["runtimes"]}
        cgroup_version = hostinfo.cgroup_version()
        counts = (
            self.containers.counts()
            if self.containers is not None
            else dict.fromkeys(
                ("Containers", "ContainersRunning", "ContainersPaused", "ContainersStopped"), 0
            )
        )
        return {
            "ID": self.id,
            **counts,
            "Images": self.images.count() if self.images is not None else 0,
            "Driver": self.storage.name or "none",
            "DriverStatus": driver_status,
            "Plugins": {
                "Volume": self._plugin_names("volume"),
                "Network": self._plugin_names("network"),
                "Authorization": None,
                "Log": ["json-file", "local"],
            },
            "MemoryLimit": True,
            "SwapLimit": True,
            "CpuCfsPeriod": True,
            "CpuCfsQuota": True,
            "CPUShares": True,
            "CPUSet": True,
            "PidsLimit": True,
            "IPv4Forwarding": _ip_forwarding(),
            "BridgeNfIptables": False,
            "BridgeNfIp6tables": False,
            "Debug": bool(self.config["debug"]),
            "NFd": _open_fds(),
            "OomKillDisable": False,
            "NGoroutines": 0,
            "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()),
            "LoggingDriver": self.config["log-driver"],
            "CgroupDriver": "cgroupfs",
            "CgroupVersion": cgroup_version,
            "NEventsListener": 0,
            "KernelVersion": hostinfo.kernel_version(),
            "OperatingSystem": os_name,
            "OSVersion": os_version,
            "OSType": "linux",
            "Architecture": platform.machine(),
            "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": registry_config(self.config),
            "NCPU": hostinfo.cpu_count(),
            "MemTotal": hostinfo.mem_total(),
            "GenericResources": None,
            "DockerRootDir": str(self.config.data_root),
            "HttpProxy": "",
            "HttpsProxy": "",
            "NoProxy": "",
            "Name": hostinfo.hostname(),
            "Labels": self.config["labels"],
            "ExperimentalBuild": bool(self.config["experimental"]),
            "ServerVersion": berth.__version__,
            "Runtimes": runtimes,
            "DefaultRuntime": self.config["default-runtime"] or self.isolation.name or "none",
            "Swarm": {
                "NodeID": "",
                "NodeAddr": "",
                "LocalNodeState": "inactive",
                "ControlAvailable": False,
                "Error": "",
                "RemoteManagers": None,
            },
            "LiveRestoreEnabled": bool(self.config["live-restore"]),
            "Isolation": "",
            "InitBinary": "",
            "ContainerdCommit": {"ID": ""},
            "RuncCommit": {"ID": ""},
            "InitCommit": {"ID": ""},
            "SecurityOptions": ["name=seccomp,profile=builtin"] if self.containers else [],
            "CDISpecDirs": [],
            "Warnings": list(self.warnings),
            "BerthPlugins": [r.to_json() for r in self.plugins.all_records()],
        }


def _ip_forwarding() -> bool:
    return read_text_or("/proc/sys/net/ipv4/ip_forward", "0").strip() == "1"


def _open_fds() -> int:
    import os

    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return 0
