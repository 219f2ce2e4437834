"""Unpacking a layer: berth's ``apply_layer`` against ``tar -xf`` of the same file.

    .venv/bin/python bench/unpack.py                      # a generated 100 MB, many-file layer
    .venv/bin/python bench/unpack.py --source /usr/share  # or a tar of a real directory
    .venv/bin/python bench/unpack.py -n 9 --json

The layer tar is written once into the work directory (``--dir``, default under /var/tmp, so on
the data root's usual file system); every run unpacks it into a fresh directory there, tar and
berth alternating (which goes first alternates too), timing the wall clock of each: ``tar -xf``
as a child process, ``apply_layer`` in this process as the daemon calls it. The table shows
median, min and max of each and the ratio of the medians; the budget (issue #3) is berth within
1.5x of tar. Exit status 1 when over budget.

``--libarchive PYTHON`` adds a third contender, for the record of why berth has its own tar
reader: libarchive (Debian's libarchive13) through the ``libarchive-c`` binding installed in
the interpreter PYTHON, with its secure extraction flags, entries iterated from Python as a layer
unpacker must (to see whiteouts). It runs in a child process because libarchive extracts
relative to the working directory, which a threaded daemon cannot change; the child times
itself, so its start-up is not counted.

Where the runs unpack matters as much as who unpacks. On this machine's ext4, creating files
after a large delete is several times slower for a minute or more (/work/shared/ENVIRONMENT.md:
ext4 skips recently freed inodes, scanning inode tables to do so), and other programs' deletes
on the same file system count too. So by default (``--fs loop``, as root) the runs unpack into a
fresh ext4 made for the occasion (no journal, as the root file system here) on a sparse file in
``--image-dir`` (default /dev/shm: in memory, so that other programs' disk traffic and the
write-back of earlier runs do not disturb the timings; unpacking costs CPU in ext4 all the
same), mounted on a loop device, where nothing was ever deleted; every run's trees are kept
until the end. ``--fs dir`` unpacks into the work directory itself, on whatever
file system it is, keeping the trees until the end too; ``--delete-between`` deletes both trees
after each round instead, then waits ``--settle`` seconds: the numbers then show the slowdown.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "core" / "src"))

from berth.plugins.layers import apply_layer  # noqa: E402

BUDGET_RATIO = 1.5


def generate_layer(path: Path, total_bytes: int, seed: int = 3) -> dict[str, int]:
    """A layer shaped like a distribution's base layer: ~10 files per directory, sizes from a
    log-normal (median ~4 KiB, a few of several MiB), some symlinks and hard links, pax
    headers where needed (long names, xattrs)."""
    rng = random.Random(seed)
    counts = {"files": 0, "dirs": 0, "symlinks": 0, "hardlinks": 0}
    block = rng.randbytes(1 << 20) * 8  # 8 MiB to slice file contents from
    now = 1_700_000_000
    written = 0
    dirs: list[str] = []
    files: list[str] = []

    def header(name: str, kind: bytes, mode: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.mtime = now - rng.randrange(10**7)
        return info

    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        while written < total_bytes:
            depth = rng.randrange(1, 5)
            parent = rng.choice(dirs) if dirs and rng.random() < 0.7 else ""
            name = f"{parent}/d{len(dirs)}" if parent else f"usr/d{len(dirs)}"
            if name.count("/") > depth + 1:
                name = f"usr/d{len(dirs)}"
            if not dirs:
                tar.addfile(header("usr", tarfile.DIRTYPE, 0o755))
            tar.addfile(header(name, tarfile.DIRTYPE, 0o755))
            dirs.append(name)
            counts["dirs"] += 1
            for _ in range(rng.randrange(2, 20)):
                size = min(int(rng.lognormvariate(8.3, 1.6)), 6 << 20)
                fname = f"{name}/f{counts['files']}"
                if rng.random() < 0.01:
                    fname += "-" + "x" * 120  # a long name: a pax header
                info = header(fname, tarfile.REGTYPE, rng.choice((0o644, 0o755, 0o600)))
                info.size = size
                if rng.random() < 0.005:
                    info.pax_headers = {"SCHILY.xattr.user.bench": "yes"}
                start = rng.randrange(len(block) - size)
                tar.addfile(info, _Bytes(block[start : start + size]))
                files.append(fname)
                counts["files"] += 1
                written += size
                if rng.random() < 0.04:
                    link = header(f"{name}/l{counts['symlinks']}", tarfile.SYMTYPE, 0o777)
                    link.linkname = "../" + fname.rsplit("/", 1)[1]
                    tar.addfile(link)
                    counts["symlinks"] += 1
                if rng.random() < 0.01:
                    hard = header(f"{name}/h{counts['hardlinks']}", tarfile.LNKTYPE, 0o644)
                    hard.linkname = rng.choice(files)
                    tar.addfile(hard)
                    counts["hardlinks"] += 1
    return counts


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        end = len(self.data) if n < 0 else self.pos + n
        chunk = bytes(self.data[self.pos : end])
        self.pos += len(chunk)
        return chunk


def source_layer(path: Path, source: Path) -> dict[str, int]:
    subprocess.run(
        ["tar", "-cf", str(path), "-C", str(source.parent), source.name],
        check=True,
        stderr=subprocess.DEVNULL,
    )
    return {}


def time_tar(layer: Path, dest: Path) -> float:
    dest.mkdir()
    start = time.perf_counter()
    subprocess.run(["tar", "-xf", str(layer), "-C", str(dest)], check=True)
    return time.perf_counter() - start


def time_berth(layer: Path, dest: Path) -> float:
    dest.mkdir()
    start = time.perf_counter()
    with layer.open("rb") as stream:
        apply_layer(stream, dest)
    return time.perf_counter() - start


_LIBARCHIVE_CHILD = """
import os, sys, time
import libarchive
from libarchive import ffi
from libarchive.extract import (
    EXTRACT_OWNER, EXTRACT_PERM, EXTRACT_TIME, EXTRACT_XATTR, EXTRACT_UNLINK,
    EXTRACT_SECURE_NODOTDOT, EXTRACT_SECURE_SYMLINKS, EXTRACT_SECURE_NOABSOLUTEPATHS)
flags = (EXTRACT_OWNER | EXTRACT_PERM | EXTRACT_TIME | EXTRACT_XATTR | EXTRACT_UNLINK
         | EXTRACT_SECURE_NODOTDOT | EXTRACT_SECURE_SYMLINKS | EXTRACT_SECURE_NOABSOLUTEPATHS)
start = time.perf_counter()
disk = ffi.write_disk_new()
ffi.write_disk_set_options(disk, flags)
with libarchive.file_reader(sys.argv[1]) as archive:
    for entry in archive:
        if "/.wh." in "/" + entry.pathname:
            continue
        ffi.write_header(disk, entry._entry_p)
        for block in entry.get_blocks():
            ffi.write_data(disk, block, len(block))
        ffi.write_finish_entry(disk)
ffi.write_free(disk)
print(time.perf_counter() - start)
"""


def time_libarchive(python: str, layer: Path, dest: Path) -> float:
    dest.mkdir()
    done = subprocess.run(
        [python, "-c", _LIBARCHIVE_CHILD, str(layer)],
        cwd=dest,
        check=True,
        capture_output=True,
        text=True,
    )
    return float(done.stdout.strip())


def remove(paths: list[Path]) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)
    os.sync()


@contextlib.contextmanager
def loop_ext4(work: Path, image_dir: Path, size: int) -> Iterator[Path]:
    """A fresh ext4 (no journal) on a sparse file in ``image_dir``, mounted on ``work/fs``."""
    image = Path(tempfile.mkdtemp(prefix="berth-unpack-", dir=image_dir)) / "fs.img"
    mount_point = work / "fs"
    mount_point.mkdir()
    with image.open("wb") as handle:
        handle.truncate(size)
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-O", "^has_journal", "-E", "nodiscard", str(image)],
        check=True,
    )
    subprocess.run(["mount", "-o", "loop,nodiscard", str(image), str(mount_point)], check=True)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)
        image.unlink()
        image.parent.rmdir()


def run(args: argparse.Namespace) -> dict[str, Any]:
    args.dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="unpack-", dir=args.dir))
    try:
        with contextlib.ExitStack() as stack:
            where = work
            if args.fs == "loop":
                rounds = args.warmup + args.runs
                size = max(4 << 30, (args.megabytes << 20) * 4 * rounds)
                where = stack.enter_context(loop_ext4(work, args.image_dir, size))
            return measure(args, work, where)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def measure(args: argparse.Namespace, work: Path, where: Path) -> dict[str, Any]:
    layer = work / "layer.tar"
    if args.source:
        counts = source_layer(layer, args.source)
    else:
        counts = generate_layer(layer, args.megabytes << 20)
    layer_bytes = layer.stat().st_size
    with tarfile.open(layer) as tar:
        entries = sum(1 for _ in tar)
    os.sync()
    samples: dict[str, list[float]] = {"tar -xf": [], "berth apply_layer": []}
    contenders: list[tuple[str, Callable[[Path, Path], float]]] = [
        ("tar -xf", time_tar),
        ("berth apply_layer", time_berth),
    ]
    if args.libarchive:
        samples["libarchive-c"] = []
        contenders.append(("libarchive-c", partial(time_libarchive, args.libarchive)))
    kept: list[Path] = []
    for i in range(args.warmup + args.runs):
        pair = contenders[i % len(contenders) :] + contenders[: i % len(contenders)]
        done: list[Path] = []
        for name, timer in pair:
            dest = where / f"run{i}-{name.split()[0].split('-')[0]}"
            elapsed = timer(layer, dest)
            done.append(dest)
            os.sync()  # twice: the loop device's writes land in the image's file system
            os.sync()
            if i >= args.warmup:
                samples[name].append(elapsed)
        if args.delete_between:
            remove(done)
            time.sleep(args.settle)
        else:
            kept.extend(done)
    if where == work:  # a loop file system goes away whole
        remove(kept)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    ratio = medians["berth apply_layer"] / medians["tar -xf"]
    return {
        "layer_bytes": layer_bytes,
        "entries": entries,
        "counts": counts,
        "runs": args.runs,
        "fs": args.fs,
        "delete_between": args.delete_between,
        "samples_s": samples,
        "median_s": medians,
        "ratio": ratio,
        "budget_ratio": BUDGET_RATIO,
        "ok": ratio <= BUDGET_RATIO,
    }


def format_table(data: dict[str, Any]) -> str:
    lines = [
        f"layer: {data['layer_bytes'] / 1e6:.0f} MB, {data['entries']} entries "
        f"{data['counts'] or ''}".rstrip(),
        f"{'':20} {'median':>8} {'min':>8} {'max':>8}  (s, {data['runs']} runs, fs: "
        f"{data['fs']}{', deleting between runs' if data['delete_between'] else ''})",
    ]
    for name, values in data["samples_s"].items():
        lines.append(
            f"{name:20} {statistics.median(values):8.3f} {min(values):8.3f} {max(values):8.3f}"
        )
    verdict = "OK" if data["ok"] else "OVER BUDGET"
    if "libarchive-c" in data["median_s"]:
        other = data["median_s"]["libarchive-c"] / data["median_s"]["tar -xf"]
        lines.append(f"ratio libarchive-c/tar: {other:.2f}")
    lines.append(
        f"ratio berth/tar: {data['ratio']:.2f} (budget <= {data['budget_ratio']}): {verdict}"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=7, help="timed runs (default 7)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs first (default 1)")
    parser.add_argument("--megabytes", type=int, default=100, help="generated layer size")
    parser.add_argument("--source", type=Path, help="tar this directory instead of generating")
    parser.add_argument(
        "--dir", type=Path, default=Path("/var/tmp/berth-bench"), help="work directory"
    )
    parser.add_argument(
        "--fs",
        choices=("loop", "dir"),
        default="loop" if os.geteuid() == 0 and shutil.which("mkfs.ext4") else "dir",
        help="unpack into a fresh loop-mounted ext4 (default as root) or into --dir itself",
    )
    parser.add_argument(
        "--image-dir",
        type=Path,
        default=Path("/dev/shm"),
        help="where the loop file system's image lives (default /dev/shm)",
    )
    parser.add_argument("--delete-between", action="store_true", help="delete after each run")
    parser.add_argument("--settle", type=float, default=0.0, help="seconds to wait after deletes")
    parser.add_argument(
        "--libarchive", metavar="PYTHON", help="also time libarchive-c installed in PYTHON"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    data = run(args)
    print(json.dumps(data, indent=2) if args.json else format_table(data))
    return 0 if data["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
