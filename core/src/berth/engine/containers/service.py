"""The container service: the one object the API uses for containers.

It ties together the container records (:mod:`.store`), the images and their layers, the
storage driver (the writable layer and the root file system mount), the isolation runtimes
and the per-container monitors (:mod:`.supervisor`), and implements Docker's operations:
create, start, stop, restart, kill, wait, remove, attach, logs, resize, rename, pause,
unpause, top, stats, changes, prune, exec.

It lives on the daemon's event loop: every state change of one container happens under that
container's lock, in short sections; blocking work (disk, mounts, the storage driver, the
runtime's cgroup files) runs in worker threads. Exits come from the monitors (a ``wait``
request held open per running container) and are handled in one place, :meth:`_handle_exit`,
which records the exit, releases the run's resources, sends ``die``, wakes waiters and applies
the restart policy or ``--rm``. A restarted daemon re-attaches to live monitors and records the
exits of those that finished while it was down (:meth:`restore`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import signal as signals
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from berth.engine.containers import health, listing, logs, top
from berth.engine.containers.attach import (
    DEFAULT_DETACH_KEYS,
    Attachment,
    AttachOptions,
    ClientStream,
    MonitorStream,
    parse_detach_keys,
)
from berth.engine.containers.bundle import BundleMaker
from berth.engine.containers.exec import (
    ExecConfig,
    ExecInstance,
    ExecStore,
    console_size,
    parse_exec_config,
)
from berth.engine.containers.model import (
    Container,
    Health,
    HealthLog,
    command_of,
    default_network_settings,
    merge_image_config,
    new_container_id,
    now_rfc3339,
    parse_rfc3339,
)
from berth.engine.containers.mounts import MountManager
from berth.engine.containers.names import normalize
from berth.engine.containers.networking import ContainerNetworking
from berth.engine.containers.restart import (
    RestartManager,
    parse_policy,
    restart_at_daemon_start,
)
from berth.engine.containers.signals import parse_signal
from berth.engine.containers.stats import INTERVAL, Sampler, empty_sample
from berth.engine.containers.store import ContainerStore
from berth.engine.containers.supervisor import (
    LOST_EXIT_CODE,
    ExitStatus,
    MonitorError,
    MonitorGone,
    MonitorHandle,
    StartFailed,
    Supervisor,
)
from berth.engine.errors import BadParameter, BerthError, Conflict
from berth.engine.events import EventBus
from berth.engine.images.errors import ImageNotFound
from berth.engine.images.service import ImageService
from berth.monitor.logfile import parse_log_options
from berth.plugins import IsolationRuntime, PreparesContainer, StorageDriver

R = TypeVar("R")
CONTAINER_REF = "container:"
DEFAULT_STOP_TIMEOUT = 10
KILL_WAIT = 10.0  # seconds a SIGKILL is given to end the container before berth gives up
LOG_DRIVERS = ("json-file", "none")
NETWORK_MODES = ("default", "bridge", "none", "host")
#: Paths the engine itself puts into every container (mount points of the spec's mounts):
#: not the user's changes, so ``docker diff`` does not show them (Docker's init layer).
INIT_PATHS = frozenset(
    {
        "/.dockerenv",
        "/dev/console",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/etc/hostname",
        "/etc/hosts",
        "/etc/resolv.conf",
        "/etc/mtab",
        "/proc",
        "/sys",
    }
)


class NotRunning(Conflict):
    def __init__(self, container_id: str) -> None:
        super().__init__(f"Container {container_id} is not running")


class ServiceUnavailable(BerthError):
    status = 503


@dataclass(frozen=True)
class Runtime:
    """An isolation backend, ready to use: its name, daemon-side object and launcher module."""

    name: str
    driver: IsolationRuntime
    launcher: str


#: Finds a runtime by name ("" for the daemon's default); raises BadParameter for unknown ones.
RuntimeResolver = Callable[[str], Runtime]


class Live:
    """What the daemon holds in memory for one container besides its record."""

    def __init__(self, container: Container) -> None:
        self.container = container
        self.lock = asyncio.Lock()
        self.monitor: MonitorHandle | None = None
        self.watcher: asyncio.Task[None] | None = None
        self.attachments: list[Attachment] = []
        self.exit_waiters: list[asyncio.Future[tuple[int, str]]] = []
        self.remove_waiters: list[asyncio.Future[tuple[int, str]]] = []
        policy = parse_policy(container.host_config.get("RestartPolicy"))
        self.restart = RestartManager(policy, container.restart_count)
        self.restart_task: asyncio.Task[None] | None = None
        self.manually_restarted = False
        self.removing = False
        self.mounted = False
        #: ``rm -v``: the container's anonymous volumes go with it
        self.remove_volumes = False

    def reset_restart(self) -> None:
        """A start by the user: a fresh restart manager and count, no pending restart."""
        policy = parse_policy(self.container.host_config.get("RestartPolicy"))
        self.restart = RestartManager(policy, 0)
        self.container.restart_count = 0
        self.cancel_restart_task()

    def cancel_restart_task(self) -> None:
        task, self.restart_task = self.restart_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    def wake(self, waiters: list[asyncio.Future[tuple[int, str]]], result: tuple[int, str]) -> None:
        pending, waiters[:] = list(waiters), []
        for future in pending:
            if not future.done():
                future.set_result(result)


class ContainerService:
    def __init__(
        self,
        store: ContainerStore,
        images: ImageService,
        driver: StorageDriver,
        driver_name: str,
        runtimes: RuntimeResolver,
        supervisor: Supervisor,
        bundles: BundleMaker,
        events: EventBus,
        log: Any,
        log_driver: str = "json-file",
        log_opts: Mapping[str, str] | None = None,
    ) -> None:
        self.store = store
        self.images = images
        self.driver = driver
        self.driver_name = driver_name
        self.runtimes = runtimes
        self.supervisor = supervisor
        self.bundles = bundles
        self.events = events
        self.log = log
        self.default_log_driver = log_driver or "json-file"
        self.default_log_opts = {str(k): str(v) for k, v in (log_opts or {}).items()}
        self.execs = ExecStore()
        #: The container side of networking (set by the engine when networks are available).
        self.networking: ContainerNetworking | None = None
        self.health = health.HealthChecks(self, log)
        self._live: dict[str, Live] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._shutting_down = False
        #: Blocking work (mounts, bundles, records with fsync, cgroup files) of many containers
        #: at once: more threads than asyncio's default pool (CPUs + 4), as it waits on disks.
        self._executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="containers")
        images.add_usage_check(self._image_users)
        #: Volumes, binds and tmpfs mounts of containers (set by the engine; None: no volumes)
        self.mounts: MountManager | None = None

    # --- bookkeeping ------------------------------------------------------------------------

    async def _blocking(self, function: Callable[..., R], *args: Any) -> R:
        """Run blocking work in the service's threads."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(function, *args))

    def _live_of(self, container: Container) -> Live:
        live = self._live.get(container.id)
        if live is None or live.container is not container:
            live = Live(container)
            self._live[container.id] = live
        return live

    def _lookup(self, ref: str) -> Live:
        return self._live_of(self.store.lookup(ref))

    def _spawn_task(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            self.log.error("container.task_failed", error=repr(exc))

    def _image_users(self, image_id: str) -> Iterable[tuple[str, bool]]:
        """For the image service (called from its threads): containers made from the image."""
        return [(c.id, c.state.running) for c in self.store if c.image == image_id]

    def counts(self) -> dict[str, int]:
        """``/info``: Containers, ContainersRunning, ContainersPaused, ContainersStopped."""
        running = paused = stopped = 0
        for container in self.store:
            state = container.state
            if state.paused:
                paused += 1
            elif state.running:
                running += 1
            else:
                stopped += 1
        return {
            "Containers": running + paused + stopped,
            "ContainersRunning": running,
            "ContainersPaused": paused,
            "ContainersStopped": stopped,
        }

    def init_pid_of(self, ref: str) -> int:
        """The host PID of a running container's init (``container:<name>`` modes)."""
        container = self.store.lookup(ref)
        state = container.state
        if not state.running or state.restarting or not state.pid:
            raise BadParameter(f"cannot join the namespaces of container {ref}: it is not running")
        return state.pid

    def holds_mounts(self) -> bool:
        """Whether a container's root file system is mounted (the daemon must leave the
        storage driver's mounts alone at shutdown: the container keeps running)."""
        return any(live.mounted for live in self._live.values())

    def _attributes(self, container: Container, **extra: str) -> dict[str, str]:
        """Docker's event attributes: the labels, then image and name, then the extras."""
        labels = container.config.get("Labels") or {}
        attributes = {str(k): str(v) for k, v in labels.items()}
        attributes["image"] = str(container.config.get("Image") or container.image)
        attributes["name"] = container.bare_name
        attributes.update(extra)
        return attributes

    def _emit(self, container: Container, action: str, **extra: str) -> None:
        try:
            self.events.emit(
                "container", action, container.id, **self._attributes(container, **extra)
            )
        except Exception as exc:
            self.log.error("container.event_failed", action=action, error=str(exc))

    async def _save(self, container: Container, host_config: bool = False) -> None:
        await self._blocking(self.store.save, container, host_config)

    def _runtime_of(self, container: Container) -> Runtime:
        return self.runtimes(str(container.host_config.get("Runtime") or ""))

    # --- create -----------------------------------------------------------------------------

    async def create(
        self, name: str, body: Mapping[str, Any], platform: str = ""
    ) -> dict[str, Any]:
        container, warnings = await self._blocking(self._create, name, body, platform)
        self._live_of(container)
        self._emit(container, "create")
        return {"Id": container.id, "Warnings": warnings}

    def _create(
        self, name: str, body: Mapping[str, Any], platform: str
    ) -> tuple[Container, list[str]]:
        config = {k: v for k, v in body.items() if k not in ("HostConfig", "NetworkingConfig")}
        image_ref = config.get("Image")
        if not isinstance(image_ref, str) or not image_ref.strip():
            raise BadParameter("no image given: the container configuration needs an Image")
        if platform and not platform.startswith("linux"):
            raise BadParameter(
                f"platform {platform!r} is not supported: berth runs linux containers"
            )
        raw_host_config = body.get("HostConfig") or {}
        if not isinstance(raw_host_config, Mapping):
            raise BadParameter("HostConfig must be an object")
        image = self.images.resolve(image_ref)
        merged = merge_image_config(config, image.config.container_config)
        merged["Image"] = image_ref
        health.validate_healthcheck(merged)
        path, args = command_of(merged)
        container_id = new_container_id()
        host_config, warnings = self.bundles.check(container_id, merged, dict(raw_host_config))
        policy = parse_policy(host_config.get("RestartPolicy"))
        if host_config.get("AutoRemove") and not policy.is_none:
            raise BadParameter("can't create 'AutoRemove' container with restart policy")
        host_config["RestartPolicy"] = policy.to_json()
        runtime = self.runtimes(str(host_config.get("Runtime") or ""))
        host_config["Runtime"] = runtime.name
        host_config["LogConfig"] = self._log_config(host_config.get("LogConfig"))
        mode = str(host_config.get("NetworkMode") or "default")
        if self.networking is not None:
            network_settings = self.networking.settings_at_create(
                mode, body.get("NetworkingConfig"), host_config
            )
        elif mode not in NETWORK_MODES and not mode.startswith("container:"):
            raise BadParameter(
                f"network mode {mode!r} is not supported by berth yet: use none or host"
            )
        else:
            network_settings = default_network_settings(
                "bridge" if mode == "default" else mode.partition(":")[0]
            )
        host_config["NetworkMode"] = mode
        if name:
            stored = self.store.names.reserve(name, container_id)
        else:
            stored = self.store.names.generate(container_id)
        top_chain = image.config.top_chain_id
        owner = CONTAINER_REF + container_id
        acquired = created = False
        mount_points: dict[str, Any] = {}
        try:
            parent_cache = None
            if top_chain is not None:
                parent_cache = self.images.layers.acquire(top_chain, owner).cache_id
                acquired = True
            self.driver.create_rw(container_id, parent_cache)
            created = True
            mount_points = (
                self.mounts.plan(container_id, merged, host_config) if self.mounts else {}
            )
            container = Container(
                id=container_id,
                name=stored,
                image=image.id,
                config=merged,
                host_config=host_config,
                path=path,
                args=args,
                driver=self.driver_name,
                rw_layer=container_id,
                log_path=str(self.store.log_path_of(container_id))
                if host_config["LogConfig"]["Type"] == "json-file"
                else "",
                network_settings=network_settings,
                graph_driver_data=self._driver_data(container_id),
                extra={"TopLayer": top_chain or "", "ParentCache": parent_cache or ""},
                mount_points=mount_points,
            )
            self.store.add(container)
        except BaseException:
            if self.mounts is not None and mount_points:
                with contextlib.suppress(Exception):
                    self.mounts.forget(container_id, mount_points, remove_anonymous=True)
            if created:
                with contextlib.suppress(Exception):
                    self.driver.remove(container_id)
            if acquired and top_chain is not None:
                with contextlib.suppress(Exception):
                    self.images.layers.release(top_chain, owner)
            self.store.names.release(stored, container_id)
            raise
        return container, warnings

    def _log_config(self, given: Any) -> dict[str, Any]:
        given = given if isinstance(given, Mapping) else {}
        kind = str(given.get("Type") or "")
        options = given.get("Config")
        if not kind:
            kind = self.default_log_driver
            if not options:
                options = dict(self.default_log_opts)
        options = {str(k): str(v) for k, v in (options or {}).items()}
        if kind not in LOG_DRIVERS:
            raise BadParameter(
                f"logger: no log driver named '{kind}' is registered; berth has json-file and none"
            )
        if kind == "json-file":
            try:
                parse_log_options(options)
            except ValueError as exc:
                raise BadParameter(str(exc)) from None
        elif options:
            raise BadParameter(f"log driver {kind} takes no options")
        return {"Type": kind, "Config": options}

    def _driver_data(self, layer_id: str) -> dict[str, str]:
        metadata = getattr(self.driver, "metadata", None)
        if not callable(metadata):
            return {}
        try:
            return {str(k): str(v) for k, v in dict(metadata(layer_id)).items()}
        except Exception:
            return {}

    # --- list and inspect -------------------------------------------------------------------

    def _ancestors(self, value: str) -> set[str]:
        try:
            image = self.images.resolve(value)
        except (ImageNotFound, BadParameter):
            return set()
        found = {image.id}
        changed = True
        while changed:
            changed = False
            for other in list(self.images.images.images.values()):
                if other.id not in found and other.parent in found:
                    found.add(other.id)
                    changed = True
        return found

    def _display_image(self, container: Container) -> str:
        ref = str(container.config.get("Image") or "")
        if not ref or ref == container.image:
            return container.image
        try:
            if self.images.resolve(ref).id == container.image:
                return ref
        except (BerthError, ValueError):
            pass
        return container.image

    def _sizes(self, container: Container) -> tuple[int, int]:
        parent = str(container.extra.get("ParentCache") or "") or None
        try:
            rw = int(self.driver.diff_size(container.rw_layer, parent))
        except Exception:
            rw = 0
        top_chain = str(container.extra.get("TopLayer") or "") or None
        root = sum(layer.size for layer in self.images.layers.chain(top_chain))
        return rw, rw + root

    async def list_containers(
        self,
        all_containers: bool = False,
        limit: int = -1,
        size: bool = False,
        filters: Mapping[str, list[str]] | None = None,
    ) -> list[dict[str, Any]]:
        selection = listing.parse_list_filters(
            filters or {}, all_containers, limit, self._ancestors, self.store.lookup
        )
        chosen = listing.select(self.store.containers(), selection)

        def views() -> list[dict[str, Any]]:
            now = time.time()
            out = []
            for container in chosen:
                rw, root = self._sizes(container) if size else (None, None)
                out.append(container.summary(self._display_image(container), now, rw, root))
            return out

        return await self._blocking(views)

    async def inspect(self, ref: str, size: bool = False) -> dict[str, Any]:
        live = self._lookup(ref)
        container = live.container
        rw, root = await self._blocking(self._sizes, container) if size else (None, None)
        data = container.inspect(rw, root)
        data["ExecIDs"] = [e.id for e in self.execs.of_container(container.id)] or None
        return data

    # --- start ------------------------------------------------------------------------------

    async def start(self, ref: str) -> bool:
        """Start the container; False when it already runs (Docker's 304)."""
        live = self._lookup(ref)
        async with live.lock:
            container = live.container
            state = container.state
            if live.removing or state.removal_in_progress:
                raise Conflict("container is marked for removal and cannot be started")
            if state.dead:
                raise Conflict("container is marked as dead and cannot be started")
            if state.paused:
                raise Conflict("cannot start a paused container, try unpause instead")
            if state.running:
                return False
            live.reset_restart()
            container.has_been_manually_stopped = False
            await self._start_locked(live)
        return True

    async def _start_locked(self, live: Live) -> None:
        """Mount, write the bundle, start the monitor, connect waiting clients, start the
        init. On failure the state records the error and exit code, and ``--rm`` applies."""
        container = live.container
        marks = [time.perf_counter()]
        try:
            runtime = self._runtime_of(container)
            if not runtime.launcher:
                raise BerthError(
                    f"isolation runtime {runtime.name!r} cannot run containers yet (no launcher)"
                )
            rootfs = await self._blocking(self.driver.mount, container.rw_layer)
            live.mounted = True
            container.graph_driver_data.setdefault("MergedDir", str(rootfs))
            marks.append(time.perf_counter())
            oci_mounts = (
                await self._blocking(self.mounts.activate, container, Path(rootfs))
                if self.mounts is not None
                else []
            )
            netns = None
            if self.networking is not None:
                netns = await self._blocking(self.networking.attach, container)
            bundle = await self._blocking(
                self.bundles.prepare, container, Path(rootfs), oci_mounts, netns
            )
            if isinstance(runtime.driver, PreparesContainer):  # e.g. which binary runs it
                await self._blocking(runtime.driver.prepare, bundle, container.id)
            marks.append(time.perf_counter())
            log_size, log_files = self._log_limits(container)
            handle = await self.supervisor.spawn(
                container.id,
                bundle,
                runtime.launcher,
                log_path=container.log_path,
                log_max_size=log_size,
                log_max_file=log_files,
                tty=container.tty,
                open_stdin=bool(container.config.get("OpenStdin")),
                stdin_once=bool(container.config.get("StdinOnce")),
            )
            marks.append(time.perf_counter())
        except BaseException as exc:
            await self._start_failed(live, exc, None)
            raise self._start_error(container, exc) from None
        live.monitor = handle
        for attachment in list(live.attachments):
            if attachment.waiting:
                await self._connect(live, handle, attachment)
        try:
            pid = await handle.start()
        except BaseException as exc:
            await self._start_failed(live, exc, handle)
            raise self._start_error(container, exc) from None
        marks.append(time.perf_counter())
        container.mark_started(pid)
        await self._save(container)
        live.watcher = self._spawn_task(self._watch(live, handle))
        self._emit(container, "start")
        self.health.watch(container)
        marks.append(time.perf_counter())
        steps = ("mount", "bundle", "monitor", "exec", "record")
        self.log.info(
            "container.started",
            id=container.id,
            image=str(container.config.get("Image") or container.image),
            runtime=runtime.name,
            pid=pid,
            ms={
                k: round((b - a) * 1000, 1)
                for k, a, b in zip(steps, marks, marks[1:], strict=False)
            },
        )

    def _log_limits(self, container: Container) -> tuple[int, int]:
        config = container.host_config.get("LogConfig") or {}
        if config.get("Type") != "json-file":
            return -1, 1
        return parse_log_options(dict(config.get("Config") or {}))

    def _start_error(self, container: Container, exc: BaseException) -> BaseException:
        if isinstance(exc, asyncio.CancelledError):
            return exc
        if isinstance(exc, StartFailed):
            failed = StartFailed(
                f"failed to start container {container.short_id}: {exc}", exc.exit_code
            )
            failed.status = exc.status
            return failed
        if isinstance(exc, BerthError):
            return exc
        return BerthError(
            f"failed to start container {container.short_id}: {type(exc).__name__}: {exc}"
        )

    async def _start_failed(
        self, live: Live, exc: BaseException, handle: MonitorHandle | None
    ) -> None:
        """Undo a start that did not get the init running, and record why."""
        container = live.container
        live.monitor = None
        if handle is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(handle.wait(), 5.0)
        await self._blocking(self._release_run, live)
        for attachment in list(live.attachments):
            attachment.abandon()
        if isinstance(exc, asyncio.CancelledError):
            return
        code = exc.exit_code if isinstance(exc, StartFailed) else 128
        state = container.state
        was_running = state.running  # an automatic restart that failed
        state.running = state.restarting = state.paused = False
        state.pid = 0
        state.exit_code = code
        state.error = str(exc)
        if container.has_been_started_before:
            state.finished_at = now_rfc3339()
        with contextlib.suppress(Exception):
            await self._save(container)
        if was_running:  # a container that never ran did not exit: next-exit waits on
            live.wake(live.exit_waiters, (code, ""))
        if container.host_config.get("AutoRemove") and not live.removing:
            await self._remove_locked(live)

    def _release_run(self, live: Live) -> None:
        """Blocking: free what one run held — the runtime's cgroups, the root file system
        mount, the monitor's state directory."""
        container = live.container
        with contextlib.suppress(Exception):
            runtime = self._runtime_of(container)
            runtime.driver.delete(self.supervisor.state_dir(container.id), force=True)
        if self.networking is not None:
            try:
                self.networking.detach(container)
            except Exception as exc:
                self.log.error("container.network_detach_failed", id=container.id, error=str(exc))
        if self.mounts is not None:
            try:
                self.mounts.deactivate(container)
            except Exception as exc:
                self.log.error("container.volumes_release_failed", id=container.id, error=str(exc))
        if live.mounted:
            try:
                self.driver.unmount(container.rw_layer)
            except Exception as exc:
                self.log.error("container.unmount_failed", id=container.id, error=str(exc))
            live.mounted = False
        self.supervisor.remove_state(container.id)

    async def _connect(self, live: Live, handle: MonitorHandle, attachment: Attachment) -> None:
        options = attachment.options
        try:
            stream = await handle.attach(options.stdin, options.stdout, options.stderr)
        except (MonitorError, MonitorGone) as exc:
            self.log.warning("container.attach_failed", id=live.container.id, error=str(exc))
            attachment.abandon()
            return
        attachment.connect(stream)

    # --- exits ------------------------------------------------------------------------------

    async def _watch(self, live: Live, handle: MonitorHandle) -> None:
        """Hold the monitor's ``wait`` until the init exits, then handle the exit."""
        try:
            status = await handle.wait()
        except (MonitorGone, MonitorError, OSError) as exc:
            found = self.supervisor.read_exit(live.container.id)
            status = found or ExitStatus(
                LOST_EXIT_CODE, error=f"the container's monitor went away: {exc}"
            )
        await self._handle_exit(live, handle, status)

    async def _handle_exit(self, live: Live, handle: MonitorHandle, status: ExitStatus) -> None:
        async with live.lock:
            if live.monitor is not handle:
                return  # handled already (start failure, removal)
            container = live.container
            live.monitor = None
            live.watcher = None
            self.health.stop(container.id)
            started = parse_rfc3339(container.state.started_at) or time.time()
            finished = parse_rfc3339(status.finished_at) if status.finished_at else None
            finished_at = status.finished_at if finished is not None else now_rfc3339()
            ran_for = max(0.0, (finished or time.time()) - started)
            oom = status.oom_killed
            await self._blocking(self._release_run, live)
            self.execs.drop_container(container.id)
            container.exec_ids.clear()
            manually = container.has_been_manually_stopped or self._shutting_down
            restart = not live.removing and live.restart.should_restart(
                status.exit_code, manually, ran_for
            )
            if restart:
                container.restart_count += 1
                container.state.set_restarting(status.exit_code, finished_at)
                container.state.oom_killed = oom
            else:
                container.mark_exited(status.exit_code, finished_at, oom)
            container.state.error = status.error
            await self._save(container)
            if oom:
                self._emit(container, "oom")
            self._emit(
                container,
                "die",
                exitCode=str(status.exit_code),
                execDuration=str(int(ran_for)),
            )
            live.wake(live.exit_waiters, (status.exit_code, ""))
            if restart:
                live.restart_task = self._spawn_task(self._restart_later(live, live.restart.delay))
            elif (
                container.host_config.get("AutoRemove")
                and not live.manually_restarted
                and not live.removing
            ):
                await self._remove_locked(live)

    async def _restart_later(self, live: Live, delay: float) -> None:
        await asyncio.sleep(delay)
        async with live.lock:
            container = live.container
            if live.restart_task is not asyncio.current_task():
                return
            live.restart_task = None
            if live.restart.canceled or live.removing or not container.state.restarting:
                return
            try:
                await self._start_locked(live)
            except BerthError as exc:
                self.log.warning("container.restart_failed", id=container.id, error=str(exc))

    async def _wait_exit(self, live: Live, timeout: float | None) -> bool:
        """Wait until the container does not run (its exit handled); False on timeout."""
        if not live.container.state.running:
            return True
        future: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        live.exit_waiters.append(future)
        try:
            await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return not live.container.state.running
        return True

    # --- stop, kill, restart ----------------------------------------------------------------

    def _stop_signal(self, container: Container) -> int:
        text = str(container.config.get("StopSignal") or "")
        if text:
            with contextlib.suppress(BadParameter):
                return parse_signal(text)
        return int(signals.SIGTERM)

    def _stop_timeout(self, container: Container, given: int | None) -> int:
        if given is not None:
            return given
        configured = container.config.get("StopTimeout")
        if isinstance(configured, int) and not isinstance(configured, bool):
            return configured
        return DEFAULT_STOP_TIMEOUT

    async def _signal(self, live: Live, signal: int) -> None:
        """Docker's ``killWithSignal``: mark the container as stopped by the user, cancel a
        pending restart when the signal is the stop signal (or KILL), send the signal."""
        async with live.lock:
            container = live.container
            state = container.state
            if not state.running:
                raise NotRunning(container.id)
            unpause = False
            stop_signal = str(container.config.get("StopSignal") or "")
            if (
                signal == signals.SIGKILL
                or not stop_signal
                or signal == self._stop_signal(container)
            ):
                live.restart.cancel()
                unpause = state.paused
            if not self._shutting_down and not container.has_been_manually_stopped:
                container.has_been_manually_stopped = True
                await self._save(container)
            if state.restarting:
                live.cancel_restart_task()
                container.mark_exited(state.exit_code, state.finished_at, state.oom_killed)
                await self._save(container)
                live.wake(live.exit_waiters, (state.exit_code, ""))
                return
            handle = live.monitor
            if handle is None:
                raise NotRunning(container.id)
            try:
                await handle.kill(signal)
            except ProcessLookupError:
                return  # exiting already: its exit is on its way
            except (MonitorGone, MonitorError) as exc:
                # A monitor that does not answer: the runtime signals the processes itself.
                self.log.warning("container.monitor_unresponsive", id=container.id, error=str(exc))
                try:
                    await self._blocking(
                        self._runtime_of(container).driver.kill,
                        self.supervisor.state_dir(container.id),
                        signal,
                        True,
                    )
                except (OSError, BerthError):
                    return
            if unpause:
                with contextlib.suppress(Exception):
                    await self._blocking(
                        self._runtime_of(container).driver.resume,
                        self.supervisor.state_dir(container.id),
                    )
            self._emit(container, "kill", signal=str(signal))

    async def kill(self, ref: str, signal_text: str = "") -> None:
        signal = parse_signal(signal_text) if signal_text else int(signals.SIGKILL)
        live = self._lookup(ref)
        await self._signal(live, signal)
        if signal == signals.SIGKILL:
            await self._wait_killed(live)

    async def _wait_killed(self, live: Live) -> bool:
        """After a SIGKILL: wait for the exit; a monitor that does not report it within
        KILL_WAIT is itself killed (its exit is then recorded as lost, and the runtime
        cleans up what is left)."""
        if await self._wait_exit(live, KILL_WAIT):
            return True
        handle = live.monitor
        if handle is not None:
            self.log.warning("container.monitor_killed", id=live.container.id)
            await self._blocking(self.supervisor.kill_monitor, live.container.id, handle.pid)
        return await self._wait_exit(live, KILL_WAIT)

    async def _stop(self, live: Live, signal: int, timeout: int) -> None:
        try:
            await self._signal(live, signal)
        except NotRunning:
            return
        if await self._wait_exit(live, None if timeout < 0 else float(timeout)):
            return
        with contextlib.suppress(NotRunning):
            await self._signal(live, int(signals.SIGKILL))
        if not await self._wait_killed(live):
            raise BerthError(
                f"cannot stop container {live.container.short_id}: it did not exit after SIGKILL"
            )

    async def stop(self, ref: str, timeout: int | None = None, signal_text: str = "") -> bool:
        """Stop the container; False when it was not running (Docker's 304)."""
        signal = parse_signal(signal_text) if signal_text else None
        live = self._lookup(ref)
        container = live.container
        if not container.state.running:
            return False
        await self._stop(
            live,
            signal if signal is not None else self._stop_signal(container),
            self._stop_timeout(container, timeout),
        )
        self._emit(container, "stop")
        return True

    async def restart(self, ref: str, timeout: int | None = None, signal_text: str = "") -> None:
        signal = parse_signal(signal_text) if signal_text else None
        live = self._lookup(ref)
        container = live.container
        if container.state.running:
            live.manually_restarted = True
            try:
                await self._stop(
                    live,
                    signal if signal is not None else self._stop_signal(container),
                    self._stop_timeout(container, timeout),
                )
            finally:
                live.manually_restarted = False
            self._emit(container, "stop")
        async with live.lock:
            if live.removing:
                raise Conflict("container is marked for removal and cannot be started")
            if not container.state.running:
                live.reset_restart()
                container.has_been_manually_stopped = False
                await self._start_locked(live)
        self._emit(container, "restart")

    # --- wait -------------------------------------------------------------------------------

    async def wait(
        self, ref: str, condition: str = "not-running"
    ) -> asyncio.Future[tuple[int, str]]:
        """A future of ``(exit code, error)`` for the condition; the container is looked up
        now (404 before any header is sent)."""
        live = self._lookup(ref)
        container = live.container
        future: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        if condition == "not-running" and not container.state.running:
            future.set_result((container.state.exit_code, ""))
        elif condition == "removed":
            live.remove_waiters.append(future)
        else:
            live.exit_waiters.append(future)
        return future

    # --- remove -----------------------------------------------------------------------------

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        live = self._lookup(ref)
        container = live.container
        state = container.state
        if live.removing:
            raise Conflict(f"removal of container {container.id} is already in progress")
        if state.running and not force:
            what = "paused" if state.paused else "restarting" if state.restarting else "running"
            hint = "stop the container before removing or force remove"
            if state.paused:
                hint = "unpause and then stop the container before removing or force remove"
            raise Conflict(
                f'cannot remove container "{container.name}": container is {what}: {hint}'
            )
        live.removing = True
        live.remove_volumes = volumes
        try:
            if state.running:
                with contextlib.suppress(NotRunning):
                    await self._signal(live, int(signals.SIGKILL))
                if not await self._wait_killed(live):
                    raise BerthError(
                        f"cannot remove container {container.short_id}: "
                        "it did not exit after SIGKILL"
                    )
            async with live.lock:
                if self.store.get(container.id) is None:
                    return  # --rm got there first
                await self._remove_locked(live)
        except BaseException:
            if self.store.get(container.id) is not None:
                live.removing = False
            raise

    async def _remove_locked(self, live: Live) -> None:
        container = live.container
        live.removing = True
        live.cancel_restart_task()
        for attachment in list(live.attachments):
            attachment.abandon()
        container.state.removal_in_progress = True
        await self._blocking(self._delete, live)
        self._live.pop(container.id, None)
        self.execs.drop_container(container.id)
        self._emit(container, "destroy")
        result = (container.state.exit_code, "")
        live.wake(live.exit_waiters, result)
        live.wake(live.remove_waiters, result)

    def _delete(self, live: Live) -> None:
        """Blocking: the writable layer, the layer reference, the record and the monitor's
        state go."""
        container = live.container
        if live.mounted:
            self._release_run(live)
        else:
            self.supervisor.remove_state(container.id)
        if self.networking is not None:
            with contextlib.suppress(Exception):
                self.networking.forget(container)
        try:
            self.driver.remove(container.rw_layer)
        except Exception as exc:
            raise BerthError(
                f"cannot remove the writable layer of container {container.short_id}: {exc}"
            ) from None
        top_chain = str(container.extra.get("TopLayer") or "")
        if top_chain:
            try:
                self.images.layers.release(top_chain, CONTAINER_REF + container.id)
            except Exception as exc:
                self.log.error("container.layer_release_failed", id=container.id, error=str(exc))
        self.store.remove(container.id)
        if self.mounts is not None:
            anonymous_too = live.remove_volumes or bool(container.host_config.get("AutoRemove"))
            self.mounts.forget(container.id, container.mount_points, anonymous_too)

    # --- attach and logs --------------------------------------------------------------------

    async def attach(
        self, ref: str, options: AttachOptions
    ) -> tuple[bool, Callable[[ClientStream], Awaitable[None]]]:
        live = self._lookup(ref)
        container = live.container
        escape = parse_detach_keys(options.detach_keys or DEFAULT_DETACH_KEYS)
        if not container.config.get("OpenStdin"):
            options = AttachOptions(
                options.stream,
                options.logs,
                False,
                options.stdout,
                options.stderr,
                options.detach_keys,
            )
        tty = container.tty
        attachment = Attachment(options, tty, escape)
        if options.stream:
            live.attachments.append(attachment)
            handle = live.monitor
            if handle is not None and container.state.running and not container.state.restarting:
                await self._connect(live, handle, attachment)
        else:
            attachment.abandon()
        self._emit(container, "attach")

        async def replay(client: ClientStream) -> None:
            if not options.logs or not container.log_path:
                return
            query = logs.LogQuery(stdout=options.stdout, stderr=options.stderr)
            for entry in await self._blocking(
                lambda: list(logs.read_log(Path(container.log_path), query))
            ):
                await client.write(logs.render(entry, False, tty))

        async def handler(client: ClientStream) -> None:
            try:
                await attachment.run(client, replay)
            finally:
                with contextlib.suppress(ValueError):
                    live.attachments.remove(attachment)

        return tty, handler

    async def logs(self, ref: str, query: logs.LogQuery) -> tuple[bool, AsyncIterator[bytes]]:
        live = self._lookup(ref)
        container = live.container
        kind = (container.host_config.get("LogConfig") or {}).get("Type")
        if kind != "json-file" or not container.log_path:
            raise BadParameter(
                f'configured logging driver does not support reading: "{kind or "none"}"'
            )
        tty = container.tty
        path = Path(container.log_path)

        def stopped() -> bool:
            current = self._live.get(container.id)
            return current is None or not container.state.running or container.state.restarting

        async def chunks() -> AsyncIterator[bytes]:
            batch: list[bytes] = []
            async for entry in logs.follow_log(path, query, stopped):
                batch.append(logs.render(entry, query.timestamps, tty))
                if len(batch) >= 256 or query.follow:
                    yield b"".join(batch)
                    batch = []
            if batch:
                yield b"".join(batch)

        return tty, chunks()

    # --- resize, rename, pause --------------------------------------------------------------

    async def resize(self, ref: str, height: int, width: int) -> None:
        live = self._lookup(ref)
        container = live.container
        handle = live.monitor
        if not container.state.running or handle is None:
            raise NotRunning(container.id)
        try:
            await handle.resize(height, width)
        except MonitorGone:
            raise NotRunning(container.id) from None
        self._emit(container, "resize", height=str(height), width=str(width))

    async def rename(self, ref: str, new_name: str) -> None:
        if not new_name:
            raise BadParameter("Neither old nor new names may be empty")
        live = self._lookup(ref)
        container = live.container
        old = container.name
        if normalize(new_name) == old:
            raise BadParameter("Renaming a container with the same name as its current name")
        async with live.lock:
            await self._blocking(self.store.rename, container, new_name)
        self._emit(container, "rename", oldName=old)

    async def pause(self, ref: str) -> None:
        live = self._lookup(ref)
        async with live.lock:
            container = live.container
            state = container.state
            if not state.running or (live.monitor is None and not state.restarting):
                raise NotRunning(container.id)
            if state.paused:
                raise Conflict(f"Container {container.id} is already paused")
            if state.restarting:
                raise Conflict(
                    f"Container {container.id} is restarting, wait until the container is running"
                )
            runtime = self._runtime_of(container)
            await self._blocking(runtime.driver.pause, self.supervisor.state_dir(container.id))
            state.paused = True
            await self._save(container)
            self._emit(container, "pause")

    async def unpause(self, ref: str) -> None:
        live = self._lookup(ref)
        async with live.lock:
            container = live.container
            if not container.state.paused:
                raise Conflict(f"Container {container.id} is not paused")
            runtime = self._runtime_of(container)
            await self._blocking(runtime.driver.resume, self.supervisor.state_dir(container.id))
            container.state.paused = False
            await self._save(container)
            self._emit(container, "unpause")

    # --- top, stats, changes, prune ---------------------------------------------------------

    async def top(self, ref: str, ps_args: str = "") -> dict[str, Any]:
        live = self._lookup(ref)
        container = live.container
        if not container.state.running or container.state.restarting or not container.state.pid:
            raise NotRunning(container.id)
        return await self._blocking(top.top, container.state.pid, ps_args)

    async def stats(
        self, ref: str, stream: bool = True, one_shot: bool = False
    ) -> AsyncIterator[dict[str, Any]]:
        live = self._lookup(ref)
        container = live.container
        sampler = Sampler(container.name, container.id)

        def running() -> bool:
            state = container.state
            return (
                self._live.get(container.id) is live
                and state.running
                and not state.restarting
                and live.monitor is not None
            )

        async def read() -> dict[str, Any] | None:
            if not running():
                return None
            runtime = self._runtime_of(container)
            try:
                reading = await self._blocking(
                    runtime.driver.stats, self.supervisor.state_dir(container.id)
                )
            except (OSError, ValueError) as exc:
                self.log.info("container.stats_unavailable", id=container.id, error=str(exc))
                return None
            return sampler.sample(reading)

        async def samples() -> AsyncIterator[dict[str, Any]]:
            first = await read()
            if first is None:
                yield empty_sample(container.name, container.id)
                return
            if not stream and one_shot:
                yield first
                return
            if not stream:
                await asyncio.sleep(INTERVAL)
                second = await read()
                yield second if second is not None else first
                return
            yield first
            while True:
                await asyncio.sleep(INTERVAL)
                sample = await read()
                if sample is None:
                    return
                yield sample

        return samples()

    async def changes(self, ref: str) -> list[dict[str, Any]] | None:
        live = self._lookup(ref)
        container = live.container
        parent = str(container.extra.get("ParentCache") or "") or None

        def read() -> list[dict[str, Any]]:
            found = self.driver.changes(container.rw_layer, parent)
            return [{"Path": c.path, "Kind": int(c.kind)} for c in found]

        return filter_init_changes(await self._blocking(read)) or None

    async def prune(self, filters: Mapping[str, list[str]] | None = None) -> dict[str, Any]:
        wanted = listing.prune_selection(filters or {})
        deleted: list[str] = []
        reclaimed = 0
        for container in self.store.containers():
            if not wanted(container):
                continue
            live = self._live_of(container)
            async with live.lock:
                if container.state.running or live.removing or self.store.get(container.id) is None:
                    continue
                rw, _ = await self._blocking(self._sizes, container)
                try:
                    await self._remove_locked(live)
                except BerthError as exc:
                    self.log.warning("container.prune_failed", id=container.id, error=str(exc))
                    continue
            deleted.append(container.id)
            reclaimed += rw
        self.events.emit("container", "prune", "", reclaimed=str(reclaimed))
        return {"ContainersDeleted": deleted or None, "SpaceReclaimed": reclaimed}

    # --- exec -------------------------------------------------------------------------------

    def _require_running(self, container: Container) -> None:
        state = container.state
        if not state.running:
            raise NotRunning(container.id)
        if state.paused:
            raise Conflict(f"Container {container.id} is paused, unpause the container before exec")
        if state.restarting:
            raise Conflict(
                f"Container {container.id} is restarting, wait until the container is running"
            )

    async def exec_create(self, ref: str, body: Mapping[str, Any]) -> str:
        config = parse_exec_config(body)
        if config.detach_keys:
            parse_detach_keys(config.detach_keys)
        live = self._lookup(ref)
        container = live.container
        self._require_running(container)
        instance = self.execs.add(container.id, config)
        container.exec_ids.append(instance.id)
        self._emit(container, "exec_create: " + _exec_text(config), execID=instance.id)
        return instance.id

    def exec_inspect(self, exec_id: str) -> dict[str, Any]:
        return self.execs.get(exec_id).to_json()

    async def exec_resize(self, exec_id: str, height: int, width: int) -> None:
        instance = self.execs.get(exec_id)
        live = self._live.get(instance.container_id)
        if live is None or live.monitor is None or not instance.running:
            raise Conflict(f"exec {exec_id} is not running")
        await live.monitor.resize(height, width, exec_id)

    async def exec_start(
        self, exec_id: str, body: Mapping[str, Any]
    ) -> tuple[bool, Callable[[ClientStream], Awaitable[None]] | None]:
        instance = self.execs.get(exec_id)
        detach = bool(body.get("Detach"))
        live = self._live.get(instance.container_id)
        if live is None:
            raise NotRunning(instance.container_id)
        container = live.container
        self._require_running(container)
        self.execs.claim_start(exec_id)
        config = instance.config
        size = console_size(body.get("ConsoleSize"), "exec start options") or config.console_size
        tty = config.tty
        escape = parse_detach_keys(config.detach_keys or DEFAULT_DETACH_KEYS)
        options = AttachOptions(
            stream=True,
            stdin=config.attach_stdin and not detach,
            stdout=config.attach_stdout or detach,
            stderr=config.attach_stderr or detach,
        )
        if detach:
            stream = await self._run_exec(live, instance, options.stdin)
            attachment = Attachment(options, tty, None)
            attachment.connect(stream)
            self._spawn_task(self._finish_exec(live, instance, attachment, _Discard()))
            return tty, None

        async def handler(client: ClientStream) -> None:
            try:
                stream = await self._run_exec(live, instance, options.stdin)
            except StartFailed as exc:
                message = f"OCI runtime exec failed: {exc}\r\n".encode()
                await client.write(
                    message
                    if tty
                    else bytes((2, 0, 0, 0)) + len(message).to_bytes(4, "big") + message
                )
                return
            except BerthError as exc:
                message = f"{exc}\r\n".encode()
                await client.write(
                    message
                    if tty
                    else bytes((2, 0, 0, 0)) + len(message).to_bytes(4, "big") + message
                )
                return
            if tty and size and size[0] and size[1] and live.monitor is not None:
                with contextlib.suppress(Exception):
                    await live.monitor.resize(int(size[0]), int(size[1]), instance.id)
            attachment = Attachment(options, tty, escape)
            attachment.connect(stream)
            await self._finish_exec(live, instance, attachment, client)

        return tty, handler

    async def _run_exec(self, live: Live, instance: ExecInstance, stdin: bool) -> MonitorStream:
        container = live.container
        handle = live.monitor
        if handle is None:
            raise NotRunning(container.id)
        process = await self._blocking(self.bundles.exec_process, container, instance.config)
        try:
            pid, stream = await handle.exec(instance.id, process, instance.config.tty, stdin)
        except StartFailed as exc:
            instance.exit_code = exc.exit_code
            instance.running = False
            raise
        except (MonitorGone, MonitorError) as exc:
            if not container.state.running:
                raise NotRunning(container.id) from None
            raise MonitorError(
                f"cannot exec in container {container.short_id}: its monitor does not answer "
                f"({exc})"
            ) from None
        instance.pid = pid
        instance.running = True
        self._emit(container, "exec_start: " + _exec_text(instance.config), execID=instance.id)
        return stream

    async def _finish_exec(
        self, live: Live, instance: ExecInstance, attachment: Attachment, client: ClientStream
    ) -> None:
        try:
            await attachment.run(client)
        finally:
            code = _exit_code_of(attachment.system_frames)
            instance.running = False
            instance.exit_code = code if code is not None else LOST_EXIT_CODE
            self._emit(
                live.container, "exec_die", execID=instance.id, exitCode=str(instance.exit_code)
            )

    # --- healthchecks (the host side of health.HealthChecks) --------------------------------

    def health_target(self, container_id: str) -> tuple[Container, object] | None:
        live = self._live.get(container_id)
        if live is None or live.monitor is None or live.removing:
            return None
        state = live.container.state
        if not state.running or state.restarting:
            return None
        return live.container, live.monitor

    async def run_probe(self, container_id: str, command: list[str], timeout: float) -> HealthLog:
        """One probe: an exec (with Docker's exec events) whose output and exit code are kept;
        killed after ``timeout`` seconds."""
        start = now_rfc3339()
        live = self._live.get(container_id)
        if live is None:
            return HealthLog(start, now_rfc3339(), -1, f"container {container_id} is gone")
        container = live.container
        config = ExecConfig(cmd=command, attach_stdout=True, attach_stderr=True)
        instance = self.execs.add(container_id, config)
        instance.started = True
        self._emit(container, "exec_create: " + _exec_text(config), execID=instance.id)
        try:
            stream = await self._run_exec(live, instance, False)
        except Exception as exc:  # not startable: a failed probe, as Docker records it
            entry = HealthLog(start, now_rfc3339(), -1, str(exc))
        else:
            try:
                code, output = await asyncio.wait_for(health.collect_output(stream.reader), timeout)
                entry = HealthLog(start, now_rfc3339(), -1 if code is None else code, output)
            except TimeoutError:
                entry = health.timed_out(start, timeout)
                handle = live.monitor
                if handle is not None:
                    with contextlib.suppress(Exception):
                        await handle.kill(int(signals.SIGKILL), exec_id=instance.id)
            finally:
                stream.close()
        instance.running = False
        instance.exit_code = entry.exit_code
        self._emit(container, "exec_die", execID=instance.id, exitCode=str(entry.exit_code))
        self.execs.remove(instance.id)
        return entry

    async def record_health(self, container_id: str, run: object, entry: HealthLog) -> None:
        live = self._live.get(container_id)
        if live is None:
            return
        async with live.lock:
            container = live.container
            settings = health.settings_of(container)
            if live.monitor is not run or not container.state.running or settings is None:
                return  # the run it probed is over
            state = container.state
            if state.health is None:
                state.health = Health()
            changed = health.apply_result(state.health, entry, settings, state.started_at)
            status = state.health.status
            await self._save(container)
        if changed:
            self._emit(container, "health_status: " + status)

    # --- daemon start and stop --------------------------------------------------------------

    async def restore(self) -> None:
        """At daemon start: re-attach to live monitors, record the exits that happened while
        the daemon was down, apply restart policies and ``--rm``."""
        adopted: list[str] = []
        to_start: list[Live] = []
        containers = list(self.store)
        found = await asyncio.gather(*(self.supervisor.reconnect(c.id) for c in containers))
        monitors = dict(zip((c.id for c in containers), found, strict=True))
        for container in containers:
            live = self._live_of(container)
            state = container.state
            if state.running and not state.restarting:
                handle = monitors[container.id]
                live.mounted = True  # the storage driver adopted the mount it finds
                if handle is not None:
                    live.monitor = handle
                    live.watcher = self._spawn_task(self._watch(live, handle))
                    self.health.watch(container)  # probes resume where they were
                    adopted.append(container.rw_layer)
                    self.log.info("container.reattached", id=container.id)
                    continue
                if await self._blocking(self.supervisor.kill_monitor, container.id):
                    self.log.warning("container.monitor_killed", id=container.id)  # wedged
                status = self.supervisor.read_exit(container.id) or ExitStatus(
                    LOST_EXIT_CODE, error="the container's monitor ended while berthd was down"
                )
                live.monitor = _Gone(container.id)
                await self._handle_exit(live, live.monitor, status)
                self.log.info(
                    "container.exited_while_down", id=container.id, exit_code=status.exit_code
                )
                continue
            orphan = monitors[container.id]
            if orphan is not None:  # started by a daemon that died before it said so
                await self._end_orphan(live, orphan)
            if state.restarting:
                container.mark_exited(state.exit_code, state.finished_at, state.oom_killed)
                await self._save(container)
            if state.removal_in_progress or (
                container.host_config.get("AutoRemove") and container.has_been_started_before
            ):
                async with live.lock:
                    await self._remove_locked(live)
                continue
            policy = live.restart.policy
            if container.has_been_started_before and restart_at_daemon_start(
                policy,
                container.has_been_manually_stopped,
                state.exit_code,
                container.restart_count,
            ):
                to_start.append(live)
        await self._blocking(self._drop_stale_layer_references)
        restore = getattr(self.driver, "restore", None)
        if adopted and callable(restore):
            with contextlib.suppress(Exception):
                await self._blocking(restore, adopted)
        for live in to_start:
            async with live.lock:
                if live.container.state.running or live.removing:
                    continue
                try:
                    await self._start_locked(live)
                except BerthError as exc:
                    self.log.warning(
                        "container.restart_failed", id=live.container.id, error=str(exc)
                    )

    async def _end_orphan(self, live: Live, handle: MonitorHandle) -> None:
        """A monitor runs for a container its record says is not running: end it."""
        self.log.warning("container.orphan_monitor", id=live.container.id)
        with contextlib.suppress(MonitorGone, MonitorError, ProcessLookupError):
            await handle.kill(int(signals.SIGKILL), True)
        with contextlib.suppress(MonitorGone, MonitorError, OSError, TimeoutError):
            await asyncio.wait_for(handle.wait(), KILL_WAIT)
        live.mounted = True
        await self._blocking(self._release_run, live)

    def _drop_stale_layer_references(self) -> None:
        """Layer references of containers that are gone (a crash in the middle of rm)."""
        known = {c.id for c in self.store}
        for layer in self.images.layers.all():
            for ref in list(layer.references):
                if ref.startswith(CONTAINER_REF) and ref[len(CONTAINER_REF) :] not in known:
                    self.log.warning(
                        "container.stale_layer_reference", layer=layer.chain_id, ref=ref
                    )
                    self.images.layers.release(layer.chain_id, ref)

    async def shutdown(self) -> None:
        """At daemon stop: containers keep running; stop watching them."""
        self._shutting_down = True
        probes = self.health.stop_all()
        for live in self._live.values():
            live.cancel_restart_task()
            for attachment in list(live.attachments):
                attachment.abandon()
        tasks = [t for t in self._tasks if not t.done()]
        for task in tasks:
            task.cancel()
        tasks += [t for t in probes if not t.done()]
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.supervisor.zygote.close()  # the monitors it started go on


class _Discard:
    """A client that is not there (a detached exec): output goes nowhere."""

    async def read(self, n: int = 65536) -> bytes:
        await asyncio.Event().wait()
        return b""

    async def write(self, data: bytes) -> None:
        return None


class _Gone(MonitorHandle):
    """Stands for the monitor of a container that exited while the daemon was down."""

    def __init__(self, container_id: str) -> None:
        super().__init__(container_id, Path("/nonexistent"))


def _exec_text(config: ExecConfig) -> str:
    """Docker's exec event text: the program, a space, the arguments."""
    return config.cmd[0] + " " + " ".join(config.cmd[1:])


def _exit_code_of(frames: list[bytes]) -> int | None:
    for payload in reversed(frames):
        try:
            data = json.loads(payload)
        except ValueError:
            continue
        if isinstance(data, dict) and isinstance(data.get("exit_code"), int):
            return int(data["exit_code"])
    return None


def filter_init_changes(changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop the mount points the engine made (Docker keeps them in an init layer), and the
    directories (``/dev``, ``/etc``) that show only because of them."""
    kept = [c for c in changes if c["Path"] not in INIT_PATHS]
    paths = [c["Path"] for c in kept]

    def below(directory: str, candidates: Iterable[str]) -> bool:
        prefix = directory.rstrip("/") + "/"
        return any(p.startswith(prefix) for p in candidates)

    return [c for c in kept if not (below(c["Path"], INIT_PATHS) and not below(c["Path"], paths))]
