"""Containers for the OCI backend's tests: real runc, core's monitor, a busybox root file system.

The root file system is the host's static busybox and its applet links (made once per test
process, shared read-only); each container's ``config.json`` is what ``runc spec`` writes,
adjusted: the command, a terminal or not, a cgroup named ``berth-oci-test-*`` and the shared
root read-only. Every container, monitor and cgroup a test makes is gone at its end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from berth.monitor import client
from berth.testing.context import make_plugin_context
from berth.testing.fixtures import fake_distribution, plugin_context
from berth_isolation_oci.runtime import OciRuntime

__all__ = ["fake_distribution", "plugin_context"]

BUSYBOX = Path("/bin/busybox")
RUNC = shutil.which("runc")
LAUNCHER = "berth_isolation_oci.launcher"
CGROUP_ROOT = Path("/sys/fs/cgroup")

needs_runc = pytest.mark.skipif(
    os.geteuid() != 0 or RUNC is None or not BUSYBOX.exists(),
    reason="needs root, runc and a static /bin/busybox",
)


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # gone before or while reading
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.01)
    return False


def cgroup_dirs(name: str) -> list[Path]:
    """Every directory named ``name`` at the top of a cgroup hierarchy."""
    tops = [CGROUP_ROOT, *(p for p in CGROUP_ROOT.iterdir() if p.is_dir())]
    return [top / name for top in tops if (top / name).is_dir()]


def frames_of(sock: Any) -> list[tuple[int, bytes]]:
    """Every frame until the stream ends, consecutive frames of one stream joined."""
    joined: list[tuple[int, bytes]] = []
    with sock:
        for stream, payload in client.iter_frames(sock):
            if joined and joined[-1][0] == stream:
                joined[-1] = (stream, joined[-1][1] + payload)
            else:
                joined.append((stream, payload))
    return joined


def output(frames: list[tuple[int, bytes]], stream: int = 1) -> bytes:
    return b"".join(payload for s, payload in frames if s == stream)


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("busybox") / "rootfs"
    (root / "bin").mkdir(parents=True)
    for name in ("proc", "dev", "sys", "tmp", "etc", "root"):
        (root / name).mkdir()
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    applets = subprocess.run(
        [str(BUSYBOX), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    for applet in applets:
        if applet != "busybox":
            (root / "bin" / applet).symlink_to("busybox")
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")
    return root


@pytest.fixture(scope="session")
def runc_spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The config.json ``runc spec`` writes."""
    where = tmp_path_factory.mktemp("spec")
    subprocess.run([str(RUNC), "spec"], cwd=where, check=True)
    spec: dict[str, Any] = json.loads((where / "config.json").read_text())
    return spec


class OciBox:
    """One container: bundle, state directory, the daemon-side runtime, its monitor."""

    def __init__(self, base: Path, rootfs: Path, spec: dict[str, Any], name: str = "runc") -> None:
        self.id = f"berth-oci-test-{uuid.uuid4().hex[:10]}"
        self.base = base
        self.bundle = base / "bundle"
        self.bundle.mkdir(parents=True)
        self.state = base / "state" / self.id
        self.state.mkdir(parents=True)
        self.log = base / f"{self.id}-json.log"
        self.config = json.loads(json.dumps(spec))
        self.config["root"] = {"path": str(rootfs), "readonly": True}
        self.config["hostname"] = "oci-box"
        self.config["linux"]["cgroupsPath"] = f"/{self.id}"
        self.ctx = make_plugin_context(base, "isolation", name)
        self.runtime = OciRuntime.from_context(self.ctx)
        self.monitor_pid = 0
        self.init_pid = 0

    def write(self, args: list[str], terminal: bool = False, **process: Any) -> None:
        self.config["process"].update(args=args, terminal=terminal, **process)
        (self.bundle / "config.json").write_text(json.dumps(self.config))

    def spawn(self, args: list[str], prepare: bool = True, **options: Any) -> int:
        """Create the container (not started) through core's monitor; the monitor's PID."""
        self.write(args, terminal=bool(options.get("tty")))
        if prepare:
            self.runtime.prepare(self.state, self.id)
        options.setdefault("log_path", self.log)
        self.monitor_pid = client.spawn(self.state, self.bundle, self.id, LAUNCHER, **options)
        self.init_pid = int(client.state(self.state)["pid"])
        return self.monitor_pid

    def run(self, args: list[str], **options: Any) -> tuple[client.ExitStatus, bytes, bytes]:
        """Create, start, and wait: the exit, stdout and stderr."""
        self.spawn(args, **options)
        stream = client.attach(self.state)
        client.start(self.state)
        got = frames_of(stream)
        return client.wait(self.state, timeout=30), output(got, 1), output(got, 2)

    def finished(self) -> bool:
        return wait_gone(self.monitor_pid) and wait_gone(self.init_pid)

    def runc_list(self) -> list[str]:
        root = self.ctx.run_dir
        if not root.exists():
            return []
        done = subprocess.run(
            [str(RUNC), "--root", str(root), "list", "-q"],
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.split()

    def clean_up(self) -> None:
        if self.monitor_pid and alive(self.monitor_pid):
            with contextlib.suppress(client.MonitorError, OSError):
                client.kill(self.state, signal.SIGKILL)
            if not wait_gone(self.monitor_pid, 10):
                os.kill(self.monitor_pid, signal.SIGKILL)
        with contextlib.suppress(OSError, ValueError):
            self.runtime.delete(self.state, force=True)
        for pid in (self.monitor_pid, self.init_pid):
            if pid:
                assert wait_gone(pid), f"process {pid} is still there"
        for directory in cgroup_dirs(self.id):
            with contextlib.suppress(OSError):
                directory.rmdir()


@pytest.fixture
def make_box(tmp_path: Path, rootfs: Path, runc_spec: dict[str, Any]) -> Iterator[Any]:
    boxes: list[OciBox] = []

    def make(name: str = "runc") -> OciBox:
        box = OciBox(tmp_path / f"b{len(boxes)}", rootfs, runc_spec, name)
        boxes.append(box)
        return box

    yield make
    for box in boxes:
        box.clean_up()


@pytest.fixture
def box(make_box: Any) -> OciBox:
    made: OciBox = make_box()
    return made
