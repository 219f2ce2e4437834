"""The daemon's life: lock the data root, start the engine, listen, serve, stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path
from typing import Any

import berth
from berth.daemon.api import Api
from berth.daemon.http import Connection
from berth.daemon.listeners import open_listeners
from berth.daemon.lock import DataRootLock
from berth.daemon.routers.build import build_router
from berth.daemon.routers.containers import containers_router
from berth.daemon.routers.distribution import distribution_router
from berth.daemon.routers.exec import exec_router
from berth.daemon.routers.fileops import fileops_router
from berth.daemon.routers.images import images_router
from berth.daemon.routers.networks import networks_router
from berth.daemon.routers.system import system_router
from berth.daemon.routers.volumes import volumes_router
from berth.engine.config import DaemonConfig, load_config
from berth.engine.core import API_VERSION, Engine
from berth.engine.errors import BerthError

COMMON_HEADERS = [
    ("Api-Version", API_VERSION),
    ("Server", f"Berth/{berth.__version__} (linux)"),
    ("Ostype", "linux"),
    ("Docker-Experimental", "false"),
]


class Daemon:
    def __init__(self, config: DaemonConfig, log: Any, reload_flags: dict[str, Any]) -> None:
        self.config = config
        self.log = log
        self._reload_flags = reload_flags
        self.engine = Engine(config, log)
        self.api = Api(log)
        self.api.mount(system_router(self.engine))
        self.api.mount(images_router(self.engine))
        self.api.mount(distribution_router(self.engine))
        self.api.mount(containers_router(self.engine))
        self.api.mount(exec_router(self.engine))
        self.api.mount(fileops_router(self.engine))
        self.api.mount(volumes_router(self.engine))
        self.api.mount(networks_router(self.engine))
        self.api.mount(build_router(self.engine))
        self._connections: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await Connection(reader, writer, self.api, lambda: COMMON_HEADERS).serve()
        except asyncio.CancelledError:
            pass
        finally:
            self._connections.discard(task)

    def _reload(self) -> None:
        """SIGHUP: re-read the configuration; apply what can change live (log level)."""
        try:
            fresh = load_config(
                self._reload_flags,
                self.config.config_file if self.config.explicit("data-root") else None,
            )
        except BerthError as exc:
            self.log.error("daemon.reload_failed", error=str(exc))
            return
        import logging

        from berth.engine.logging import _LEVELS

        logging.getLogger().setLevel(_LEVELS[fresh["log-level"]])
        self.engine.events.emit(
            "daemon",
            "reload",
            self.engine.id,
            name=os.uname().nodename,
            **{"log-level": fresh["log-level"]},
        )
        self.log.info("daemon.reloaded", log_level=fresh["log-level"])

    async def run(self) -> None:
        config = self.config
        for root in (config.data_root, config.exec_root):
            root.mkdir(parents=True, exist_ok=True)
        os.chmod(config.data_root, 0o711)
        lock = DataRootLock(config.data_root, config.pidfile)
        lock.acquire()
        servers: list[asyncio.Server] = []
        sockets: list[Path] = []
        try:
            self.engine.start()
            if self.engine.containers is not None:
                await self.engine.containers.restore()
            await self.engine.start_dns()
            servers, sockets = await open_listeners(config, self._on_client, self.log)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, self._stop.set)
            loop.add_signal_handler(signal.SIGHUP, self._reload)
            self.engine.plugins.hooks.daemon_started(self.engine.info())
            self.log.info(
                "daemon.started",
                hosts=config["hosts"],
                pid=os.getpid(),
                storage=self.engine.storage.name or "none",
                data_root=str(config.data_root),
            )
            await self._stop.wait()
            self.log.info("daemon.stopping")
            self.engine.plugins.hooks.daemon_stopping()
        finally:
            for server in servers:
                server.close()
            for task in list(self._connections):
                task.cancel()
            if self._connections:
                await asyncio.wait(self._connections, timeout=5)
            for path in sockets:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            await self.engine.stop_dns()
            if self.engine.containers is not None:
                await self.engine.containers.shutdown()
            self.engine.stop()
            lock.release()
        self.log.info("daemon.stopped")
