"""Memory berth keeps per idle container, and its daemon's with many of them, side by side with
docker when it runs.

    python bench/container_memory.py [-n 50] [--json]

For berth: a bench berthd of its own (temporary socket, data root and exec root) with a busybox
image; N idle containers (`run -d --network none busybox sleep 1d`); then, from /proc, the
resident memory (RSS, and PSS, which shares the interpreter's pages fairly) of each container's
monitor — the only process berth keeps per container besides the container's own — and of the
daemon, idle before and with the N containers. For docker (when `docker info` answers): the
same N containers, each one's containerd-shim, and dockerd + containerd. Everything made is
removed at the end. Standard library only; prints a table (or JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from archives import BUSYBOX_IMAGE
from setups import SetupError, prepare

REPO = Path(__file__).resolve().parent.parent
BERTH = REPO / ".venv" / "bin" / "berth"
LABEL = "berth-bench=container-memory"
SETTLE_SECONDS = 2.0
BUDGET_MONITOR_MIB = 13.0  # containerd-shim's RSS per container here (issue #4)
BUDGET_DAEMON_MIB = 155.0  # dockerd + containerd with 50 idle containers here (issue #4)


def kib(pid: int, field: str = "VmRSS") -> int:
    """A memory figure of a process in KiB (VmRSS from status, Pss from smaps_rollup)."""
    path = Path(f"/proc/{pid}/smaps_rollup" if field == "Pss" else f"/proc/{pid}/status")
    try:
        for line in path.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def processes() -> Iterable[tuple[int, int, list[str]]]:
    """(pid, ppid, argv) of every process."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        yield int(entry), ppid, [os.fsdecode(a) for a in argv if a]


def _run(argv: list[str], env: dict[str, str] | None = None, timeout: float = 120) -> str:
    done = subprocess.run(
        argv,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise SetupError(f"`{' '.join(argv[:4])}` failed: {lines[-1] if lines else ''}")
    return done.stdout


def start_idle(argv0: str, count: int, env: dict[str, str] | None) -> list[str]:
    """Start `count` idle containers, a few at a time; their IDs."""
    ids: list[str] = []
    command = [argv0, "run", "-d", "--network", "none", "--label", LABEL, BUSYBOX_IMAGE]
    batch = 5
    while len(ids) < count:
        procs = [
            subprocess.Popen(
                [*command, "sleep", "86400"],
                env={**os.environ, **(env or {})},
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                stdin=subprocess.DEVNULL,
            )
            for _ in range(min(batch, count - len(ids)))
        ]
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            if proc.returncode != 0:
                lines = err.strip().splitlines()
                raise SetupError(f"{argv0} run failed: {lines[-1] if lines else ''}")
            ids.append(out.strip())
    return ids


def remove(argv0: str, ids: list[str], env: dict[str, str] | None) -> None:
    for start in range(0, len(ids), 25):
        subprocess.run(
            [argv0, "rm", "-f", *ids[start : start + 25]],
            env={**os.environ, **(env or {})},
            capture_output=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )


def _mib(value_kib: float) -> float:
    return round(value_kib / 1024, 1)


def _summary(values: list[int]) -> dict[str, float]:
    if not values:
        return {"median_mib": 0.0, "min_mib": 0.0, "max_mib": 0.0}
    return {
        "median_mib": _mib(statistics.median(values)),
        "min_mib": _mib(min(values)),
        "max_mib": _mib(max(values)),
    }


def measure_berth(count: int) -> dict[str, Any]:
    with prepare("busybox", "berth", str(BERTH)) as prepared:
        env = prepared.env
        daemon_pid = _berthd_pid(env["BERTH_HOST"])
        idle = kib(daemon_pid)
        ids = start_idle(str(BERTH), count, env)
        try:
            time.sleep(SETTLE_SECONDS)
            monitors: dict[str, list[int]] = {}
            for pid, _ppid, argv in processes():
                ident = _monitor_of(pid, argv)
                if ident:
                    monitors.setdefault(ident, []).append(pid)
            per_container = [monitors.get(i, []) for i in ids]
            rss = [sum(kib(p) for p in pids) for pids in per_container]
            pss = [sum(kib(p, "Pss") for p in pids) for pids in per_container]
            return {
                "engine": "berth",
                "containers": count,
                "processes_per_container": sorted({len(p) for p in per_container}),
                "per_container_rss": _summary(rss),
                "per_container_pss": _summary(pss),
                "daemon_idle_mib": _mib(idle),
                "daemon_with_containers_mib": _mib(kib(daemon_pid)),
                "daemon_processes": ["berthd"],
            }
        finally:
            remove(str(BERTH), ids, env)


def _monitor_of(pid: int, argv: list[str]) -> str:
    """The container a berth monitor process serves ("" for other processes): started as
    monitor/main.py with `--id`, or forked by the monitor zygote with its stderr on
    `<exec-root>/containers/<id>/monitor.log`."""
    if any(a.endswith("berth/monitor/main.py") for a in argv) and "--id" in argv:
        return argv[argv.index("--id") + 1]
    if not any(a.endswith("berth/monitor/zygote.py") for a in argv):
        return ""
    try:
        errors = Path(os.readlink(f"/proc/{pid}/fd/2"))
    except OSError:
        return ""
    return errors.parent.name if errors.name == "monitor.log" else ""


def _berthd_pid(host: str) -> int:
    for pid, _ppid, argv in processes():
        if host in argv and any(a.endswith("berthd") or a == "berth.daemon.main" for a in argv):
            return pid
    raise SetupError(f"no berthd process serving {host}")


def measure_docker(count: int) -> dict[str, Any] | str:
    docker = shutil.which("docker")
    if docker is None:
        return "docker is not installed"
    if subprocess.run([docker, "info"], capture_output=True, timeout=10).returncode != 0:
        return "`docker info` fails: dockerd is not running (see bench/README.md)"
    with prepare("busybox", "docker", docker):
        daemons = {
            name: pid
            for pid, _ppid, argv in processes()
            for name in ("dockerd", "containerd")
            if argv and os.path.basename(argv[0]) == name
        }
        before = sum(kib(pid) for pid in daemons.values())
        ids = start_idle(docker, count, None)
        try:
            time.sleep(SETTLE_SECONDS)
            shims = [
                pid
                for pid, _ppid, argv in processes()
                if argv and os.path.basename(argv[0]).startswith("containerd-shim")
                and any(i in " ".join(argv) for i in ids)
            ]  # fmt: skip
            after = sum(kib(pid) for pid in daemons.values())
            return {
                "engine": "docker",
                "containers": count,
                "processes_per_container": [1] if len(shims) == count else [len(shims)],
                "per_container_rss": _summary([kib(p) for p in shims]),
                "per_container_pss": _summary([kib(p, "Pss") for p in shims]),
                "daemon_idle_mib": _mib(before),
                "daemon_with_containers_mib": _mib(after),
                "daemon_processes": sorted(daemons),
            }
        finally:
            remove(docker, ids, None)


def format_table(rows: list[dict[str, Any]], skipped: dict[str, str], count: int) -> str:
    lines = [
        f"idle containers: {count} (`run -d --network none busybox sleep 1d`)",
        "",
        f"{'engine':<8} {'per container RSS MiB':>22} {'PSS MiB':>8} {'daemon idle MiB':>16} "
        f"{'daemon with N MiB':>18}  daemon",
    ]
    for row in rows:
        rss, pss = row["per_container_rss"], row["per_container_pss"]
        lines.append(
            f"{row['engine']:<8} {rss['median_mib']:>10.1f} ({rss['min_mib']}-{rss['max_mib']})"
            f"{'':>1} {pss['median_mib']:>8.1f} {row['daemon_idle_mib']:>16.1f} "
            f"{row['daemon_with_containers_mib']:>18.1f}  {' + '.join(row['daemon_processes'])}"
        )
    for engine, why in skipped.items():
        lines.append(f"{engine:<8} skipped: {why}")
    berth = next((r for r in rows if r["engine"] == "berth"), None)
    if berth is not None:
        per = berth["per_container_rss"]["median_mib"]
        daemon = berth["daemon_with_containers_mib"]
        per_ok = "OK" if per <= BUDGET_MONITOR_MIB else "OVER BUDGET"
        daemon_ok = "OK" if daemon <= BUDGET_DAEMON_MIB else "OVER BUDGET"
        lines += [
            "",
            f"budget: per container {per} MiB RSS (containerd-shim here: ~{BUDGET_MONITOR_MIB:g} "
            f"MiB): {per_ok}",
            f"budget: daemon with {count} containers {daemon} MiB (dockerd + containerd here: "
            f"~{BUDGET_DAEMON_MIB:g} MiB): {daemon_ok}",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="container_memory.py", description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--containers", type=int, default=50, help="idle containers (50)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--engines", default="berth,docker", help="berth,docker (default both)")
    args = parser.parse_args(argv)
    if args.containers < 1:
        print("container_memory.py: -n must be at least 1", file=sys.stderr)
        return 2
    engines = args.engines.split(",")
    unknown = [e for e in engines if e not in ("berth", "docker")]
    if unknown:
        print(f"container_memory.py: unknown engine {unknown[0]!r}", file=sys.stderr)
        return 2
    rows: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    try:
        if "berth" in engines:
            rows.append(measure_berth(args.containers))
        if "docker" in engines:
            docker = measure_docker(args.containers)
            if isinstance(docker, str):
                skipped["docker"] = docker
            else:
                rows.append(docker)
    except SetupError as exc:
        print(f"container_memory.py: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"containers": args.containers, "results": rows, "skipped": skipped},
                         indent=2))  # fmt: skip
    else:
        print(format_table(rows, skipped, args.containers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
