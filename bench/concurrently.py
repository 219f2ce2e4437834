"""Run one command N times at once and wait for all: `concurrently.py N COMMAND [ARG...]`.

The harness times this whole process, so a workload like `run-true-x20` measures the total
wall time of 20 concurrent runs. Exits 1 (saying which failed and why) when any run fails.
Standard library only.
"""

from __future__ import annotations

import subprocess
import sys


def main(argv: list[str]) -> int:
    if len(argv) < 2 or not argv[0].isdigit() or int(argv[0]) < 1:
        print("usage: concurrently.py N COMMAND [ARG...]  (N at least 1)", file=sys.stderr)
        return 2
    count, command = int(argv[0]), argv[1:]
    try:
        procs = [
            subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            for _ in range(count)
        ]
    except OSError as exc:
        print(f"concurrently.py: cannot run {command[0]}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    failures = []
    for index, proc in enumerate(procs):
        _, err = proc.communicate()
        if proc.returncode != 0:
            lines = err.decode(errors="replace").strip().splitlines()
            failures.append(
                f"run {index + 1}: exit {proc.returncode}: {lines[-1] if lines else ''}"
            )
    if failures:
        print(
            f"concurrently.py: {len(failures)} of {count} failed; " + failures[0], file=sys.stderr
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
