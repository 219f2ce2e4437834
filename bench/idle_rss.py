"""Resident memory of an idle berthd, against its budget (60 MiB by default).

    python bench/idle_rss.py [--idle 2] [--budget-mib 60] [--json]

Starts a berthd of this checkout on a temporary socket, data root and exec root, waits until
`/_ping` answers, lets it sit idle, reads VmRSS of the daemon process from /proc, then stops
it (SIGTERM, then SIGKILL after 10 s) and removes the temporary directory. Exits 1 when the
RSS is over budget or the daemon would not start. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def berthd_path() -> str:
    local = REPO / ".venv" / "bin" / "berthd"
    if local.exists():
        return str(local)
    found = shutil.which("berthd")
    if found is None:
        raise SystemExit("idle_rss.py: berthd not found; run sudo ./install.sh first")
    return found


def ping(sock_path: Path, timeout: float = 1.0) -> bool:
    """True when the daemon answers GET /_ping with 200 on its UNIX socket."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(str(sock_path))
            s.sendall(b"GET /_ping HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n")
            head = s.recv(64)
    except OSError:
        return False
    return head.startswith(b"HTTP/1.") and head[9:12] == b"200"


def vm_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def mounts_under(root: Path) -> list[str]:
    prefix = str(root) + "/"
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split(" ")[4]
        if point.startswith(prefix):
            points.append(point)
    return points


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def measure(idle: float) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="berth-idle-rss."))
    sock = work / "berth.sock"
    log_path = work / "berthd.log"
    argv = [
        berthd_path(),
        "-H",
        f"unix://{sock}",
        "--data-root",
        str(work / "data"),
        "--exec-root",
        str(work / "exec"),
    ]
    process: subprocess.Popen[bytes] | None = None
    try:
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        started = time.monotonic()
        while not ping(sock):
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace").strip().splitlines()[-5:]
                raise RuntimeError(
                    f"berthd exited with status {process.returncode}: " + " | ".join(tail)
                )
            if time.monotonic() - started > START_TIMEOUT:
                raise RuntimeError(f"berthd did not answer /_ping within {START_TIMEOUT:g} s")
            time.sleep(0.05)
        ready_s = time.monotonic() - started
        time.sleep(idle)
        rss = vm_rss_kib(process.pid)
        return {"pid": process.pid, "ready_s": round(ready_s, 3), "rss_kib": rss, "argv": argv}
    finally:
        if process is not None:
            stop(process)
        left = mounts_under(work)
        if left:
            print(f"idle_rss.py: not removing {work}: still mounted: {left}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="idle_rss.py", description="Idle resident memory of berthd against its budget."
    )
    parser.add_argument("--idle", type=float, default=2.0, help="seconds idle before reading")
    parser.add_argument("--budget-mib", type=float, default=60.0, help="budget in MiB")
    parser.add_argument("--json", action="store_true", help="print JSON")
    args = parser.parse_args(argv)
    if args.idle < 0 or args.budget_mib <= 0:
        print("idle_rss.py: --idle must be >= 0 and --budget-mib > 0", file=sys.stderr)
        return 2
    try:
        data = measure(args.idle)
    except (RuntimeError, OSError) as exc:
        print(f"idle_rss.py: {exc}", file=sys.stderr)
        return 1
    rss_mib = data["rss_kib"] / 1024
    data.update(
        rss_mib=round(rss_mib, 1), budget_mib=args.budget_mib, ok=rss_mib <= args.budget_mib
    )
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        verdict = "OK" if data["ok"] else "OVER BUDGET"
        print(
            f"berthd idle RSS after {args.idle:g} s: {rss_mib:.1f} MiB "
            f"(budget {args.budget_mib:g} MiB): {verdict}  [ready in {data['ready_s']:.2f} s]"
        )
    return 0 if data["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
