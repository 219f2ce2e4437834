"""Run one benchmark workload for berth and, where they run, for docker and podman.

    python bench/harness.py version -n 20 --warmup 3
    python bench/harness.py client-startup --json
    python bench/harness.py --list

Each engine's command runs N times after W warm-up runs (output discarded); the table shows
median, min and max wall time in ms and the ratio of each median to berth's. docker and podman
are measured only when installed and answering (`docker info` / `podman info` succeed within a
few seconds). A workload may need a preparation first (setups.py: images present, an archive,
a bench berthd of its own) and a command after each run (removing what it loaded); neither is
timed. Standard library only.

`--settle SECONDS` syncs and waits after each run and its cleanup. This VM's ext4 has no
journal: for 60 s after a delete (360 s while unsynced) every new inode in that block group
first probes the recently freed ones, so a run that re-creates many files right after the
last run's cleanup deleted them (`load-100mb`, `cp-100mb`) measures that probing as much as
the engine. 65 s settles it; the table says when runs were settled.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from setups import Prepared, SetupError, prepare
from workloads import WORKLOADS, Workload

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = REPO / ".venv" / "bin"
ENGINE_PROBE_TIMEOUT = 8.0
RUN_TIMEOUT = 120.0


@dataclass
class Result:
    engine: str
    argv: list[str]
    samples_ms: list[float]
    note: str = ""  # what was prepared before the runs

    @property
    def median(self) -> float:
        return statistics.median(self.samples_ms)


@dataclass
class Skipped:
    engine: str
    reason: str


class BenchError(Exception):
    """A problem the user can fix; printed as one line."""


def placeholders() -> dict[str, str]:
    berth = VENV_BIN / "berth"
    python = VENV_BIN / "python"
    return {
        "{berth}": str(berth) if berth.exists() else (shutil.which("berth") or "berth"),
        "{python}": str(python) if python.exists() else sys.executable,
        "{concurrently}": str(Path(__file__).resolve().parent / "concurrently.py"),
    }


def resolve(argv: tuple[str, ...], values: dict[str, str] | None = None) -> list[str]:
    subst = {**placeholders(), **(values or {})}
    return [subst.get(arg, arg) for arg in argv]


def _quick(argv: list[str], timeout: float = ENGINE_PROBE_TIMEOUT) -> tuple[bool, str]:
    """Run argv quietly; (succeeded, last line of its error output)."""
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return False, f"`{' '.join(argv)}` took longer than {timeout:g} s"
    except OSError as exc:
        return False, str(exc)
    lines = [line for line in (done.stderr or done.stdout).strip().splitlines() if line.strip()]
    return done.returncode == 0, (lines[-1] if lines else f"exit status {done.returncode}")


def availability(workload: Workload, engine: str, argv: list[str]) -> str | None:
    """None when the engine can run this workload here, else why not."""
    program = argv[workload.wrapper]
    if shutil.which(program) is None and not Path(program).exists():
        return f"{program} is not installed"
    if engine == "berth" and workload.needs:
        ok, _ = _quick([program, workload.needs, "--help"])
        if not ok:
            return f"berth has no `{workload.needs}` command yet"
    if engine in ("docker", "podman") and engine not in workload.daemonless:
        ok, why = _quick([program, "info"])
        if not ok:
            return f"`{engine} info` fails ({why}); see bench/README.md to start it"
    return None


def _run_once(argv: list[str], env: dict[str, str] | None) -> float:
    """Run argv once; its wall time in ms. BenchError when it fails or hangs."""
    start = time.perf_counter_ns()
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=RUN_TIMEOUT,
            env=env,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"`{' '.join(argv)}` took longer than {RUN_TIMEOUT:g} s") from None
    elapsed = (time.perf_counter_ns() - start) / 1e6
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        why = err[-1] if err else f"exit status {done.returncode}"
        raise BenchError(f"`{' '.join(argv)}` failed: {why}")
    return elapsed


def measure(
    argv: list[str],
    runs: int,
    warmup: int,
    env: dict[str, str] | None = None,
    after: list[str] | None = None,
    settle: float = 0.0,
) -> list[float]:
    """Wall times of the timed runs; `after` (untimed) runs after every run when given, then
    the file system is synced and left `settle` seconds."""
    samples: list[float] = []
    for i in range(warmup + runs):
        elapsed = _run_once(argv, env)
        if after:
            _run_once(after, env)
        if settle:
            os.sync()
            time.sleep(settle)
        if i >= warmup:
            samples.append(elapsed)
    return samples


def _measure_prepared(
    workload: Workload,
    engine: str,
    template: tuple[str, ...],
    prepared: Prepared,
    runs: int,
    warmup: int,
    settle: float = 0.0,
) -> Result:
    argv = resolve(template, prepared.values)
    after_template = workload.after_each.get(engine)
    after = resolve(after_template, prepared.values) if after_template else None
    env = {**os.environ, **prepared.env} if prepared.env else None
    settled = f"synced and settled {settle:g} s after each run" if settle else ""
    note = "; ".join(part for part in (prepared.note, settled) if part)
    return Result(engine, argv, measure(argv, runs, warmup, env, after, settle), note)


def compile_berth() -> None:
    """Write berth's byte code first, as an install does: with PYTHONDONTWRITEBYTECODE set
    (some shells here set it) every module changed since its last .pyc would otherwise be
    compiled again by every client, monitor and daemon start, 5 ms and more each."""
    sources = [REPO / "core" / "src", *sorted(REPO.glob("plugins/*/src"))]
    python = placeholders()["{python}"]
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            [python, "-m", "compileall", "-q", *map(str, sources)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=RUN_TIMEOUT,
        )


def run_workload(
    workload: Workload,
    runs: int,
    warmup: int,
    engines: list[str] | None,
    settle: float = 0.0,
) -> tuple[list[Result], list[Skipped]]:
    results: list[Result] = []
    skipped: list[Skipped] = []
    for engine, template in workload.commands.items():
        if engines is not None and engine not in engines:
            continue
        argv = resolve(template)
        why = availability(workload, engine, argv)
        if why is not None:
            skipped.append(Skipped(engine, why))
            continue
        try:
            with prepare(workload.setup, engine, argv[workload.wrapper]) as prepared:
                results.append(
                    _measure_prepared(workload, engine, template, prepared, runs, warmup, settle)
                )
        except (BenchError, SetupError) as exc:
            skipped.append(Skipped(engine, str(exc)))
    return results, skipped


def budget_verdict(workload: Workload, results: list[Result]) -> dict[str, Any] | None:
    budget = workload.budget
    by_engine = {r.engine: r for r in results}
    if budget is None or "berth" not in by_engine or budget.reference not in by_engine:
        return None
    over = by_engine["berth"].median - by_engine[budget.reference].median
    verdict: dict[str, Any] = {
        "what": budget.what,
        "over_reference_ms": round(over, 2),
        "max_over_ms": budget.max_over_ms,
        "ok": over <= budget.max_over_ms,
    }
    if budget.limit_ms is not None:
        median = by_engine["berth"].median
        verdict.update(berth_ms=round(median, 2), limit_ms=budget.limit_ms)
        verdict["ok"] = verdict["ok"] and median <= budget.limit_ms
    return verdict


def report(
    workload: Workload,
    results: list[Result],
    skipped: list[Skipped],
    runs: int,
    warmup: int,
) -> dict[str, Any]:
    base = next((r.median for r in results if r.engine == "berth"), None)
    rows = []
    for r in results:
        rows.append(
            {
                "engine": r.engine,
                "argv": r.argv,
                "median_ms": round(r.median, 2),
                "min_ms": round(min(r.samples_ms), 2),
                "max_ms": round(max(r.samples_ms), 2),
                "ratio_vs_berth": round(r.median / base, 3) if base else None,
                "samples_ms": [round(s, 3) for s in r.samples_ms],
                "prepared": r.note,
            }
        )
    return {
        "workload": workload.name,
        "description": workload.description,
        "runs": runs,
        "warmup": warmup,
        "results": rows,
        "skipped": [{"engine": s.engine, "reason": s.reason} for s in skipped],
        "budget": budget_verdict(workload, results),
    }


def format_table(data: dict[str, Any]) -> str:
    lines = [
        f"workload: {data['workload']} — {data['description']} "
        f"(n={data['runs']}, warmup={data['warmup']})",
        "",
        f"{'engine':<8} {'median ms':>10} {'min ms':>9} {'max ms':>9} {'vs berth':>9}  command",
    ]
    for row in data["results"]:
        ratio = "-" if row["ratio_vs_berth"] is None else f"{row['ratio_vs_berth']:.2f}x"
        command = " ".join(
            Path(row["argv"][0]).name if i == 0 else a for i, a in enumerate(row["argv"])
        )
        lines.append(
            f"{row['engine']:<8} {row['median_ms']:>10.1f} {row['min_ms']:>9.1f} "
            f"{row['max_ms']:>9.1f} {ratio:>9}  {command}"
        )
    for skip in data["skipped"]:
        lines.append(f"{skip['engine']:<8} {'skipped':>10}  {skip['reason']}")
    notes = [
        f"{row['engine']}: {row['prepared']}" for row in data["results"] if row.get("prepared")
    ]
    if notes:
        lines += ["", "prepared (untimed): " + "; ".join(notes)]
    budget = data["budget"]
    if budget is not None:
        verdict = "OK" if budget["ok"] else "OVER BUDGET"
        if "limit_ms" in budget:
            line = f"berth is {budget['berth_ms']:.1f} ms (limit {budget['limit_ms']:g} ms)"
        else:
            line = (
                f"berth is {budget['over_reference_ms']:+.1f} ms "
                f"(limit +{budget['max_over_ms']:g} ms)"
            )
        lines += ["", f"budget: {budget['what']}: {line}: {verdict}"]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="harness.py",
        description="Time a workload for berth and, where running, docker and podman.",
    )
    parser.add_argument("workload", nargs="?", help="one of: " + ", ".join(WORKLOADS))
    parser.add_argument("-n", "--runs", type=int, default=10, help="timed runs (default 10)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed runs first (default 2)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--settle",
        type=float,
        default=0.0,
        help="sync and wait this many seconds after each run (see above)",
    )
    parser.add_argument(
        "--engines", help="comma-separated engines to measure (default: all that run here)"
    )
    parser.add_argument("--list", action="store_true", help="list the workloads and exit")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.list:
        for w in WORKLOADS.values():
            print(f"{w.name:<16} {w.description}")
        return 0
    if args.workload is None:
        print("harness.py: name a workload; --list shows them", file=sys.stderr)
        return 2
    workload = WORKLOADS.get(args.workload)
    if workload is None:
        print(
            f"harness.py: unknown workload {args.workload!r}; choose from: " + ", ".join(WORKLOADS),
            file=sys.stderr,
        )
        return 2
    if args.runs < 1 or args.warmup < 0 or args.settle < 0:
        print(
            "harness.py: -n must be at least 1, --warmup and --settle at least 0",
            file=sys.stderr,
        )
        return 2
    engines = args.engines.split(",") if args.engines else None
    if engines is not None:
        unknown = [e for e in engines if e not in workload.commands]
        if unknown:
            print(
                f"harness.py: workload {workload.name!r} has no engine {unknown[0]!r}; "
                "it has: " + ", ".join(workload.commands),
                file=sys.stderr,
            )
            return 2
    os.environ.setdefault("DOCKER_CLI_HINTS", "false")
    if engines is None or any(engine.startswith("berth") for engine in engines):
        compile_berth()
    results, skipped = run_workload(workload, args.runs, args.warmup, engines, args.settle)
    data = report(workload, results, skipped, args.runs, args.warmup)
    print(json.dumps(data, indent=2) if args.json else format_table(data))
    if not results:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
