"""bench/dns_queries.py runs and prints its table (its numbers are never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "dns_queries.py"


def test_dns_bench_prints_a_row_per_query_kind() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "-n", "5", "-e", "3"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rows = [line.split()[0:2] for line in done.stdout.splitlines() if "name" in line]
    assert rows == [["local", "name"], ["forwarded", "name"]]
