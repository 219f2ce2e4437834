"""A container service wired to real parts where they need no isolation: the real container
store, image service, bundle maker (OCI spec), supervisor and monitor processes. The monitor
runs the fork-and-exec test launcher of the monitor's tests (``core/tests/monitor/
forklauncher.py``: host commands, no namespaces) and the daemon-side runtime is a recorder.
So ``echo hi`` in a container is the host's echo, and everything around it is berthd's.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import tarfile
import time
from collections.abc import Awaitable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from berth.engine.containers.bundle import BundleMaker
from berth.engine.containers.hostconfig import HostFacts
from berth.engine.containers.service import ContainerService, Runtime
from berth.engine.containers.store import ContainerStore
from berth.engine.containers.supervisor import Supervisor
from berth.engine.errors import BadParameter
from berth.engine.events import Event, EventBus
from berth.engine.images.service import ImageService
from berth.plugins import Change, IsolationRuntime, StorageDriver
from berth.plugins.contracts.isolation import RuntimeState
from berth.testing.logger import RecordingLogger

MONITOR_TESTS = Path(__file__).resolve().parent.parent / "monitor"
T = TypeVar("T")

PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
GROUP = b"root:x:0:\nnobody:x:65534:\n"


class DirDriver(StorageDriver):
    """Layers as plain directories holding their whole tree (copies); records mounts."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.mounts: dict[str, int] = {}
        self.cleaned = 0

    def _dir(self, layer_id: str) -> Path:
        return self.root / layer_id

    def create(
        self, layer_id: str, parent: str | None, opts: Mapping[str, str] | None = None
    ) -> None:
        import shutil

        target = self._dir(layer_id)
        if parent is not None:
            shutil.copytree(self._dir(parent), target, symlinks=True)
        else:
            target.mkdir()

    def create_rw(
        self, layer_id: str, parent: str | None, opts: Mapping[str, str] | None = None
    ) -> None:
        self.create(layer_id, parent, opts)
        (self._dir(layer_id) / ".rw").write_text(parent or "")

    def remove(self, layer_id: str) -> None:
        import shutil

        if self.mounts.get(layer_id):
            raise OSError(f"layer {layer_id} is mounted")
        shutil.rmtree(self._dir(layer_id), ignore_errors=True)

    def mount(self, layer_id: str, mount_label: str = "") -> Path:
        self.mounts[layer_id] = self.mounts.get(layer_id, 0) + 1
        return self._dir(layer_id)

    def unmount(self, layer_id: str) -> None:
        count = self.mounts.get(layer_id, 0)
        if count <= 1:
            self.mounts.pop(layer_id, None)
        else:
            self.mounts[layer_id] = count - 1

    def exists(self, layer_id: str) -> bool:
        return self._dir(layer_id).is_dir()

    def diff(self, layer_id: str, parent: str | None) -> BinaryIO:
        raise NotImplementedError

    def changes(self, layer_id: str, parent: str | None) -> Sequence[Change]:
        from berth.plugins.layers import tree_changes

        base = self._dir(parent) if parent else None
        found = tree_changes(self._dir(layer_id), base) if base else []
        return [c for c in found if c.path != "/.rw"]

    def apply_diff(self, layer_id: str, parent: str | None, diff: BinaryIO) -> int:
        size = 0
        with tarfile.open(fileobj=diff, mode="r|") as tar:
            for member in tar:
                tar.extract(member, self._dir(layer_id), filter="fully_trusted")
                size += member.size
        return size

    def diff_size(self, layer_id: str, parent: str | None) -> int:
        return sum(len(c.path) for c in self.changes(layer_id, parent))

    def status(self) -> Sequence[tuple[str, str]]:
        return []

    def cleanup(self) -> None:
        self.cleaned += 1


class RecordingRuntime(IsolationRuntime):
    """The daemon side of the fork launcher: signals the init by its PID, records the rest."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.paused: set[str] = set()

    def state(self, state_dir: Path) -> RuntimeState:
        return RuntimeState("running")

    def kill(self, state_dir: Path, signal: int, all: bool = False) -> None:
        self.calls.append(("kill", str(state_dir)))

    def pause(self, state_dir: Path) -> None:
        self.calls.append(("pause", str(state_dir)))
        self.paused.add(str(state_dir))

    def resume(self, state_dir: Path) -> None:
        self.calls.append(("resume", str(state_dir)))
        self.paused.discard(str(state_dir))

    def stats(self, state_dir: Path) -> Mapping[str, Any]:
        self.calls.append(("stats", str(state_dir)))
        return {
            "cpu_stats": {"cpu_usage": {"total_usage": 1000}},
            "memory_stats": {"usage": 4096, "limit": 1 << 30},
            "pids_stats": {"current": 1},
        }

    def oom_killed(self, state_dir: Path) -> bool:
        return False

    def delete(self, state_dir: Path, force: bool = False) -> None:
        self.calls.append(("delete", str(state_dir)))


def rootfs_tar(files: Mapping[str, bytes] | None = None) -> bytes:
    buffer = io.BytesIO()
    content = {"etc/passwd": PASSWD, "etc/group": GROUP, **(files or {})}
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in ("bin", "etc", "tmp"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for name, data in content.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class Harness:
    """One service on its own event loop; ``run`` drives a coroutine to its end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.loop = asyncio.new_event_loop()
        self.log = RecordingLogger()
        self.events: list[Event] = []
        self.bus = EventBus(on_event=self.events.append)
        self.driver = DirDriver(root / "layers")
        self.runtime = RecordingRuntime()
        self.images = ImageService(
            root / "image", self.driver, "dir", self.log, self.bus.emit, durable=False
        )
        self.image_id = self.images.import_image(
            io.BytesIO(rootfs_tar()), "busybox", "latest", "", ['CMD ["sh"]'], None
        )
        self.service = self.open()

    def open(self) -> ContainerService:
        """A service on the harness's state (again, for a daemon restart)."""
        store = ContainerStore(self.root / "data" / "containers", self.log)
        supervisor = Supervisor(self.root / "run", self.log)

        def init_pid_of(ref: str) -> int:
            return self.service.init_pid_of(ref)

        bundles = BundleMaker(supervisor.root, store.dir_of, init_pid_of, HostFacts.detect())

        def runtimes(name: str) -> Runtime:
            if name not in ("", "fake"):
                raise BadParameter(f"unknown or invalid runtime name: {name}")
            return Runtime("fake", self.runtime, "forklauncher")

        return ContainerService(
            store,
            self.images,
            self.driver,
            "dir",
            runtimes,
            supervisor,
            bundles,
            self.bus,
            self.log,
        )

    def run(self, coro: Awaitable[T]) -> T:
        async def main() -> T:
            return await coro

        return self.loop.run_until_complete(main())

    def actions(self, container_id: str | None = None) -> list[str]:
        return [
            e.action
            for e in self.events
            if e.type == "container" and (container_id is None or e.actor_id == container_id)
        ]

    def create(self, cmd: list[str], **config: Any) -> str:
        body: dict[str, Any] = {"Image": "busybox", "Cmd": cmd, **config}
        name = body.pop("name", "")
        created = self.run(self.service.create(name, body))
        return str(created["Id"])

    def wait_until(self, check: Any, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            self.run(asyncio.sleep(0.02))
        raise AssertionError("condition not met in time")

    def close(self) -> None:
        """Remove every container (killing what runs), stop watching, close the loop."""
        service = self.service
        for container in list(service.store):
            with contextlib.suppress(Exception):
                self.run(service.remove(container.id, force=True))
        self.run(service.shutdown())
        # a monitor left by a test that broke: no process may outlive the test
        for state in (self.root / "run" / "containers").glob("*/monitor.pid"):
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(state.read_text()), signal.SIGKILL)
        self.loop.close()


def sync(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class FakeClient:
    """A hijacked API connection: stdin fed by the test (b"" = half-close), output collected."""

    def __init__(self, stdin: Sequence[bytes] = (), close_input: bool = True) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()
        for chunk in stdin:
            self.queue.put_nowait(chunk)
        if close_input:
            self.queue.put_nowait(b"")
        self.output = bytearray()

    def feed(self, data: bytes) -> None:
        self.queue.put_nowait(data)

    async def read(self, n: int = 65536) -> bytes:
        return await self.queue.get()

    async def write(self, data: bytes) -> None:
        self.output += data

    def frames(self) -> list[tuple[int, bytes]]:
        return self.frames_of(bytes(self.output))

    @staticmethod
    def frames_of(data: bytes) -> list[tuple[int, bytes]]:
        out = []
        while data:
            length = int.from_bytes(data[4:8], "big")
            out.append((data[0], data[8 : 8 + length]))
            data = data[8 + length :]
        return out

    def stream(self, number: int) -> bytes:
        return b"".join(payload for kind, payload in self.frames() if kind == number)
