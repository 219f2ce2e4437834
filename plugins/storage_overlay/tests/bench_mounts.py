"""Time to mount and unmount a container's layer on 10 and on 128 image layers (root only).

    .venv/bin/python plugins/storage_overlay/tests/bench_mounts.py [-n 20] [--depths 10,128]

Prints the median, min and max in milliseconds for each mount API (``fsconfig``: the new mount
API with ``lowerdir+``; ``legacy``: ``mount(2)`` in a helper process). Not a test (pytest does not
collect it); ``test_overlay_driver.py`` keeps a loose budget on the same operation.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from berth_storage_overlay.driver import OverlayDriver


def build(driver: OverlayDriver, depth: int) -> str:
    parent = None
    for i in range(depth):
        layer = f"{depth:04d}{i:060x}"
        driver.create(layer, parent)
        (driver.home / layer / "diff" / f"file{i}").write_text(str(i))
        parent = layer
    container = f"container-{depth}"
    driver.create_rw(container, parent)
    return container


def measure(driver: OverlayDriver, container: str, runs: int) -> tuple[list[float], list[float]]:
    mounts: list[float] = []
    unmounts: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        driver.mount(container)
        mounts.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        driver.unmount(container)
        unmounts.append((time.perf_counter() - started) * 1000)
    return mounts, unmounts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=20, help="runs per figure (default 20)")
    parser.add_argument("--depths", default="10,128", help="image depths (default 10,128)")
    args = parser.parse_args()
    depths = [int(d) for d in args.depths.split(",")]
    scratch = Path(tempfile.mkdtemp(prefix="berth-overlay-bench-", dir="/var/tmp"))
    print(f"{'api':<9} {'layers':>6} {'op':<8} {'median':>8} {'min':>8} {'max':>8}  (ms)")
    try:
        for api in ("fsconfig", "legacy"):
            driver = OverlayDriver(scratch / api, mount_api=api)
            try:
                for depth in depths:
                    container = build(driver, depth)
                    for op, samples in zip(
                        ("mount", "unmount"), measure(driver, container, args.n), strict=True
                    ):
                        print(
                            f"{api:<9} {depth:>6} {op:<8} {statistics.median(samples):>8.2f} "
                            f"{min(samples):>8.2f} {max(samples):>8.2f}"
                        )
            finally:
                driver.cleanup()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
