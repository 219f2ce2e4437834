"""How long the linux launcher takes to run ``/bin/true`` in a busybox container, side by side
with ``runc run`` of the same bundle. Run as root from the repository::

    .venv/bin/python plugins/isolation_linux/tools/bench_launch.py [--runs 20] [--gap 0.2]

Each run is create → start → the init's exit (what ``berth run --rm busybox true`` needs from
the backend), timed in a small process like a container's monitor; ``delete`` is timed apart.
``--gap`` is the pause between runs: after ~20 ms of quiet the kernel makes the next cgroup
move wait for an RCU grace period, so back-to-back runs (``--gap 0``) are faster than single
ones. Prints one table row per variant, medians in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve()
REPO = HERE.parents[3]
sys.path[:0] = [str(REPO / "core" / "src"), str(HERE.parents[1] / "src")]

from berth.testing.busybox import make_busybox_rootfs  # noqa: E402
from berth.testing.ocispec import docker_like_config, write_bundle  # noqa: E402

#: Runs in a fresh interpreter (-I -S, stdlib + the launcher), as the monitor does.
CHILD = r"""
import json, os, sys, time
sys.path[:0] = json.loads(sys.argv[1])
from berth_isolation_linux import launcher
bundle, runs, gap = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
null = os.open(os.devnull, os.O_RDWR)
out = []
for i in range(runs):
    state = f"{bundle}/state-{i}"
    os.mkdir(state)
    t0 = time.perf_counter()
    pid = launcher.create(bundle, state, (null, null, null), None)
    t1 = time.perf_counter()
    launcher.start(state)
    t2 = time.perf_counter()
    _, status = os.waitpid(pid, 0)
    t3 = time.perf_counter()
    launcher.delete(state)
    t4 = time.perf_counter()
    assert os.waitstatus_to_exitcode(status) == 0, status
    out.append([t1 - t0, t2 - t1, t3 - t2, t3 - t0, t4 - t3])
    time.sleep(gap)
print(json.dumps(out))
"""

#: exec of /bin/true into a running container, from a monitor-like process.
EXEC_CHILD = r"""
import json, os, sys, time
sys.path[:0] = json.loads(sys.argv[1])
from berth_isolation_linux import launcher
bundle, runs, gap = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
null = os.open(os.devnull, os.O_RDWR)
state = f"{bundle}/state-exec"
os.mkdir(state)
init = launcher.create(bundle, state, (null, null, null), None)
launcher.start(state)
caps = ["CAP_KILL"]
process = {"args": ["/bin/true"], "env": ["PATH=/bin"], "cwd": "/",
           "user": {"uid": 0, "gid": 0}, "capabilities": {k: caps for k in ("bounding",
           "effective", "permitted")}}
out = []
for _ in range(runs):
    t0 = time.perf_counter()
    pid = launcher.exec(bundle, state, process, (null, null, null), None)
    os.waitpid(pid, 0)
    out.append(time.perf_counter() - t0)
    time.sleep(gap)
launcher.delete(state)
os.waitpid(init, 0)
print(json.dumps(out))
"""


def median_ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.1f}"


def launcher_runs(
    bundle: Path, runs: int, gap: float, config: dict[str, object]
) -> list[list[float]]:
    write_bundle(bundle, config)
    paths = json.dumps([str(HERE.parents[1] / "src")])
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", CHILD, paths, str(bundle), str(runs), str(gap)],
        capture_output=True,
        text=True,
        check=True,
    )
    for state in bundle.glob("state-*"):
        shutil.rmtree(state)
    result: list[list[float]] = json.loads(done.stdout)
    return result


def exec_runs(bundle: Path, runs: int, gap: float, config: dict[str, object]) -> list[float]:
    write_bundle(bundle, config)
    paths = json.dumps([str(HERE.parents[1] / "src")])
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", EXEC_CHILD, paths, str(bundle), str(runs), str(gap)],
        capture_output=True,
        text=True,
        check=True,
    )
    shutil.rmtree(bundle / "state-exec")
    result: list[float] = json.loads(done.stdout)
    return result


def runc_runs(bundle: Path, runs: int, gap: float, config: dict[str, object]) -> list[float] | None:
    runc = shutil.which("runc")
    if runc is None:
        return None
    write_bundle(bundle, config)
    times = []
    for _ in range(runs):
        name = f"bench-{uuid.uuid4().hex[:8]}"
        started = time.perf_counter()
        subprocess.run(
            [runc, "run", "--bundle", str(bundle), name],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            check=True,
        )
        times.append(time.perf_counter() - started)
        time.sleep(gap)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--gap", type=float, default=0.2, help="seconds between runs")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_launch.py: run as root", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="berth-bench-") as tmp:
        bundle = Path(tmp) / "bundle"
        bundle.mkdir()
        make_busybox_rootfs(bundle / "rootfs")
        plain = docker_like_config(["/bin/true"], cgroups_path="/berth-bench/plain")
        memory = docker_like_config(["/bin/true"], cgroups_path="/berth-bench/memory")
        memory["linux"]["resources"]["memory"] = {"limit": 64 << 20, "swap": 64 << 20}
        print(f"/bin/true in a busybox container, medians of {args.runs}, {args.gap}s apart (ms)")
        print(f"{'variant':34} {'create':>7} {'start':>7} {'->exit':>7} {'total':>7} {'delete':>7}")
        for label, config in (("linux launcher", plain), ("linux launcher, --memory 64m", memory)):
            rows = launcher_runs(bundle, args.runs, args.gap, config)
            cols = [median_ms([r[i] for r in rows]) for i in range(5)]
            print(f"{label:34} {cols[0]} {cols[1]} {cols[2]} {cols[3]} {cols[4]}")
        for label, config in (("runc run", plain), ("runc run, --memory 64m", memory)):
            times = runc_runs(bundle, args.runs, args.gap, config)
            if times is not None:
                print(f"{label:34} {'':7} {'':7} {'':7} {median_ms(times)}")
        sleeper = docker_like_config(["sleep", "600"], cgroups_path="/berth-bench/exec")
        times = exec_runs(bundle, args.runs, args.gap, sleeper)
        print(f"{'exec /bin/true (linux launcher)':34} {'':7} {'':7} {'':7} {median_ms(times)}")
    for hierarchy in [Path("/sys/fs/cgroup"), *Path("/sys/fs/cgroup").iterdir()]:
        if (hierarchy / "berth-bench").is_dir():
            (hierarchy / "berth-bench").rmdir()  # runc leaves the parent behind
    return 0


if __name__ == "__main__":
    sys.exit(main())
