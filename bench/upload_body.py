"""Daemon CPU per 100 MB request body: how much the HTTP layer costs an upload.

Starts a bench berthd (see setups.bench_daemon) and sends it bodies over its UNIX socket,
reading berthd's user+system CPU from /proc before and after each upload:

- ``drain``: ``PUT /containers/<none>/archive`` — the daemon answers 404 at once and then reads
  the body to its end to keep the connection: the body path alone.
- ``load``: ``POST /images/load`` of a ~100 MB three-layer archive (bench/archives.py): the
  body path plus unpacking.

Each is sent chunked with 32 KiB chunks (as the docker CLI sends) and with 1 MiB chunks (as
the berth client sends), and with a Content-Length.

    .venv/bin/python bench/upload_body.py -n 5
    .venv/bin/python bench/upload_body.py --targets drain --mb 100 --json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from archives import big_archive
from setups import bench_daemon

FRAMINGS = {"chunked-32k": 32 * 1024, "chunked-1m": 1 << 20, "length": 0}
SEND_BLOCK = 1 << 20


def daemon_pid(sock: str) -> int:
    """The berthd serving ``sock`` (found by its command line)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"unix://{sock}".encode() in argv and any(b"berthd" in a for a in argv[:2]):
            return int(entry.name)
    raise SystemExit(f"upload_body.py: no berthd found for {sock}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


def blocks(path: Path | None, size: int) -> Iterator[bytes]:
    """``size`` bytes: the file at ``path``, or zeros."""
    if path is not None:
        with open(path, "rb") as f:
            while block := f.read(SEND_BLOCK):
                yield block
        return
    zeros = bytes(SEND_BLOCK)
    left = size
    while left:
        n = min(left, SEND_BLOCK)
        yield zeros[:n]
        left -= n


def send(sock_path: str, method: str, target: str, body: Path | None, size: int, chunk: int) -> int:
    """One request; the response's status."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.connect(sock_path)
        framing = "Transfer-Encoding: chunked" if chunk else f"Content-Length: {size}"
        head = f"{method} {target} HTTP/1.1\r\nHost: berth\r\n{framing}\r\n"
        conn.sendall(head.encode() + b"Content-Type: application/x-tar\r\n\r\n")
        for block in blocks(body, size):
            if not chunk:
                conn.sendall(block)
                continue
            view = memoryview(block)
            for start in range(0, len(view), chunk):
                piece = view[start : start + chunk]
                conn.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
        if chunk:
            conn.sendall(b"0\r\n\r\n")
        data = b""
        while b"\r\n" not in data:
            more = conn.recv(4096)
            if not more:
                break
            data += more
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.") else 0


def measure(sock: str, pid: int, target: str, archive: Path, mb: int, n: int) -> dict[str, Any]:
    method, path, body = (
        ("PUT", "/containers/no-such-container/archive?path=/", None)
        if target == "drain"
        else ("POST", "/images/load?quiet=1", archive)
    )
    size = mb * 1_000_000 if body is None else body.stat().st_size
    results: dict[str, Any] = {}
    for framing, chunk in FRAMINGS.items():
        cpu, wall = [], []
        for _ in range(n):
            before, started = cpu_seconds(pid), time.perf_counter()
            status = send(sock, method, path, body, size, chunk)
            time.sleep(0.2)  # let the daemon finish the body after an early answer
            cpu.append((cpu_seconds(pid) - before) * 100e6 / size)
            wall.append(time.perf_counter() - started - 0.2)
        results[framing] = {
            "status": status,
            "cpu_ms_per_100mb": round(statistics.median(cpu) * 1000),
            "cpu_ms_min": round(min(cpu) * 1000),
            "wall_ms": round(statistics.median(wall) * 1000),
        }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5, help="uploads per framing (default 5)")
    parser.add_argument("--mb", type=int, default=100, help="body size in MB (default 100)")
    parser.add_argument("--targets", default="drain,load", help="drain,load (default both)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="berth-bench-upload.") as work:
        archive = Path(work) / "image.tar"
        if "load" in args.targets:
            big_archive(archive, args.mb)
        with bench_daemon() as host:
            sock = host.removeprefix("unix://")
            pid = daemon_pid(sock)
            for target in args.targets.split(","):
                report[target] = measure(sock, pid, target, archive, args.mb, args.n)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    header = ("target", "framing", "status", "cpu ms/100MB", "min", "wall ms")
    print("{:8} {:12} {:>6} {:>13} {:>6} {:>8}".format(*header))
    for target, rows in report.items():
        for framing, row in rows.items():
            print(
                f"{target:8} {framing:12} {row['status']:>6} {row['cpu_ms_per_100mb']:>13}"
                f" {row['cpu_ms_min']:>6} {row['wall_ms']:>8}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
