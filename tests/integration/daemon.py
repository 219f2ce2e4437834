"""Start and stop a real berthd on a temporary socket, data root and exec root."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

BERTHD = [sys.executable, "-m", "berth.daemon.main"]


def ping(sock: Path, timeout: float = 1.0) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(str(sock))
            conn.sendall(b"GET /_ping HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n")
            return conn.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def request(
    sock: Path, method: str, path: str, body: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request over the socket (Connection: close); returns status, headers, body."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(10)
        conn.connect(str(sock))
        head = f"{method} {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n"
        head += f"Content-Length: {len(body)}\r\n\r\n"
        conn.sendall(head.encode() + body)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    head_bytes, _, payload = data.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if headers.get("transfer-encoding") == "chunked":
        payload = _dechunk(payload)
    return status, headers, payload


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return out


@dataclass
class Daemon:
    """A berthd subprocess; ``sock`` is its socket, ``root`` holds everything it writes."""

    root: Path
    env: dict[str, str]
    args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    network_slot: int = 0

    @property
    def sock(self) -> Path:
        return self.root / "berth.sock"

    @property
    def host(self) -> str:
        return f"unix://{self.sock}"

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def exec_root(self) -> Path:
        return self.root / "run"

    @property
    def log_path(self) -> Path:
        return self.root / "berthd.log"

    @property
    def config_file(self) -> Path:
        return self.root / "daemon.json"

    def command(self, *extra: str) -> list[str]:
        return [
            *BERTHD,
            "-H",
            self.host,
            "--data-root",
            str(self.data_root),
            "--exec-root",
            str(self.exec_root),
            "--config-file",
            str(self.config_file),
            "--log-format",
            "json",
            *self.args,
            *extra,
        ]

    def spawn(self, *extra: str) -> subprocess.Popen[bytes]:
        log = self.log_path.open("ab")
        return subprocess.Popen(
            self.command(*extra), stdout=log, stderr=log, env=self.env, start_new_session=True
        )

    def start(self, timeout: float = 20.0) -> None:
        self.proc = self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"berthd exited with {self.proc.returncode}:\n{self.log()}")
            if ping(self.sock):
                return
            time.sleep(0.05)
        raise RuntimeError(f"berthd did not answer within {timeout} s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text()
        except FileNotFoundError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        return code

    def run_client(
        self, *args: str, env: Mapping[str, str] | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        """The real `berth` CLI against this daemon."""
        full_env = {**self.env, "BERTH_HOST": self.host, **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "berth.cli.main", *args],
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def make_daemon(
    config: Mapping[str, object] | None = None,
    pythonpath: Sequence[Path] = (),
    args: Sequence[str] = (),
) -> Daemon:
    """A daemon (not started) under a short /tmp directory (UNIX socket paths are short)."""
    root = Path(tempfile.mkdtemp(prefix="berth-it-", dir="/tmp"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BERTHD_", "DOCKER_"))}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in pythonpath)
    daemon = Daemon(root, env, list(args))
    daemon.config_file.write_text(json.dumps(config or {}))
    give_own_network(daemon)
    return daemon


#: Per-daemon network slots: slot N owns bridge ``berth-tN`` and 10.N.0.0/16 while its lock
#: file is locked (by the test process that made the daemon), so daemons of parallel tests
#: never share a bridge or a subnet. The lock goes with the Daemon object.
NETWORK_SLOTS = range(20, 250)
NETWORK_LOCKS = Path(tempfile.gettempdir()) / "berth-test-network-slots"


def give_own_network(daemon: Daemon) -> int:
    """Point the daemon's default bridge and address pools at a free slot (environment, so a
    test that rewrites daemon.json keeps them); returns the slot."""
    NETWORK_LOCKS.mkdir(exist_ok=True)
    for slot in NETWORK_SLOTS:
        fd = os.open(NETWORK_LOCKS / f"{slot}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue
        weakref.finalize(daemon, os.close, fd)
        daemon.env["BERTHD_BRIDGE"] = f"berth-t{slot}"
        daemon.env["BERTHD_BIP"] = f"10.{slot}.0.1/24"
        daemon.env["BERTHD_DEFAULT_ADDRESS_POOLS"] = json.dumps(
            [{"base": f"10.{slot}.0.0/16", "size": 24}]
        )
        daemon.network_slot = slot
        return slot
    raise RuntimeError("no free test network slot: too many daemons at once")


@contextlib.contextmanager
def running_daemon(**kwargs: object):  # type: ignore[no-untyped-def]
    daemon = make_daemon(**kwargs)  # type: ignore[arg-type]
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.cleanup()
