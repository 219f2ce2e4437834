"""Pull and push of a multi-layer image from a local registry, berth side by side with docker.

    .venv/bin/python bench/registry_bench.py                 # ~170 MB compressed, 6 layers
    .venv/bin/python bench/registry_bench.py --mb 40 -n 2    # smaller, quicker
    .venv/bin/python bench/registry_bench.py --settle 65     # sync and wait after each rmi (below)

It starts Debian's docker-registry twice on 127.0.0.1 (a source registry holding the image,
and an empty one pushes go to, wiped after every push), makes a gzip image of about ``--mb``
MB compressed in six layers of many files (half random, half repetitive: it compresses about
2:1) and uploads it. Then, for berth (a bench berthd of its own) and for docker (when its
daemon answers), each run is: ``pull`` timed, ``rmi`` untimed; then ``push`` timed to the empty
registry. It prints medians, MB/s (compressed bytes over time) and the budgets of the
registries issue: pull <= 0.33 x docker pull, push <= docker push. For berth it also prints
where a pull's time went, from the daemon's ``pull.finished`` log lines. With overlay (layers
unpacked at once by worker processes): the downloads (summed over the parallel ones: transfer,
sha256, write), download plus unpack per layer (summed), the workers' CPU (inflate, diff ID
hash, tar apply), the wait for the blobs' background fsyncs, the daemon's own CPU and the
wall time. With other drivers: the first layer downloaded and unpacked in one pass
(``streamed_s``), the other layers' downloads, their unpacking one after another
(``unpack_s``) and the time the unpacker waited for a download.

This VM's ext4 has no journal. Without one, ext4 avoids reusing an inode deleted less than 60 s
ago (360 s while its inode-table block is still dirty), and it finds out by probing every such
free inode each time it allocates one in that block group (``recently_deleted`` in the kernel):
creating N files in a group where M were just deleted costs N x M probes. Orlov's allocator
puts a new tree where the old one was freed, so a pull right after ``rmi`` of a 3,000-file
image spends much of its time there, whichever engine it is. ``--settle SECONDS`` syncs after
each ``rmi`` and waits (65 s clears the window), so runs start from settled trees; the report
says which it was.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import http.client
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "core" / "src"))

from archives import write_layer
from berth.testing.registry import LocalRegistry, registry_unavailable, start_registry
from setups import bench_daemon

REPO = Path(__file__).resolve().parent.parent
BERTH = str(REPO / ".venv" / "bin" / "berth")
LAYERS = 6
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"


# --- the image --------------------------------------------------------------------------------


def _files(rng: random.Random, size: int, count: int, index: int) -> Iterator[tuple[str, bytes]]:
    left = size
    for n in range(count):
        piece = min(left, max(1, int(left / (count - n) * rng.uniform(0.5, 1.5))))
        if n == count - 1:
            piece = left
        left -= piece
        half = piece // 2
        text = (f"layer {index} file {n} " * (half // 20 + 1)).encode()[:half]
        yield f"layer{index}/d{n % 41:02d}/f{n:05d}.bin", rng.randbytes(piece - half) + text


def make_image(work: Path, compressed_mb: int) -> list[tuple[Path, str, str, int]]:
    """Six gzip layers of about ``compressed_mb`` MB in all: (blob path, digest, diff ID, size)."""
    rng = random.Random(2026)
    total = compressed_mb * 2_000_000  # about 2:1
    shares = [0.35, 0.25, 0.15, 0.12, 0.08, 0.05]
    out = []
    for index, share in enumerate(shares[:LAYERS]):
        tar = work / f"layer{index}.tar"
        files = _files(rng, int(total * share), max(50, int(3000 * share)), index)
        layer = write_layer(tar, files)
        blob = work / f"layer{index}.tar.gz"
        with (
            tar.open("rb") as src,
            blob.open("wb") as raw,
            gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as dst,
        ):
            shutil.copyfileobj(src, dst, 1 << 20)
        tar.unlink()
        digest = hashlib.sha256()
        with blob.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        out.append((blob, "sha256:" + digest.hexdigest(), layer.diff_id, blob.stat().st_size))
    return out


def _upload(registry: LocalRegistry, repo: str, digest: str, data: bytes | Path) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", registry.port, timeout=120)
    conn.request("POST", f"/v2/{repo}/blobs/uploads/", body=b"")
    answer = conn.getresponse()
    answer.read()
    location = answer.getheader("Location", "")
    path = location.split(registry.host, 1)[-1]
    size = len(data) if isinstance(data, bytes) else data.stat().st_size
    body = data if isinstance(data, bytes) else data.open("rb")
    headers = {"Content-Length": str(size), "Content-Type": "application/octet-stream"}
    conn.request("PUT", f"{path}&digest={digest}", body=body, headers=headers)
    answer = conn.getresponse()
    answer.read()
    conn.close()
    if answer.status != 201:
        raise SystemExit(f"upload of {digest} failed: {answer.status}")


def upload_image(
    registry: LocalRegistry, repo: str, layers: list[tuple[Path, str, str, int]]
) -> None:
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [diff for _, _, diff, _ in layers]},
        }
    ).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    _upload(registry, repo, config_digest, config)
    for blob, digest, _, _ in layers:
        _upload(registry, repo, digest, blob)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [
                {"mediaType": DOCKER_LAYER, "digest": digest, "size": size}
                for _, digest, _, size in layers
            ],
        }
    ).encode()
    conn = http.client.HTTPConnection("127.0.0.1", registry.port, timeout=60)
    conn.request(
        "PUT",
        f"/v2/{repo}/manifests/latest",
        body=manifest,
        headers={"Content-Type": DOCKER_MANIFEST},
    )
    answer = conn.getresponse()
    answer.read()
    conn.close()
    if answer.status != 201:
        raise SystemExit(f"manifest upload failed: {answer.status}")


# --- running ----------------------------------------------------------------------------------


def run(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.monotonic()
    done = subprocess.run(
        argv, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=900
    )
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {(done.stderr or done.stdout).strip()}")
    return elapsed


def docker_running() -> bool:
    if shutil.which("docker") is None:
        return False
    with contextlib.suppress(subprocess.TimeoutExpired):
        done = subprocess.run(["docker", "info"], capture_output=True, timeout=10)
        return done.returncode == 0
    return False


def wipe(registry: LocalRegistry) -> None:
    shutil.rmtree(registry.directory / "storage", ignore_errors=True)


def measure(
    engine: str,
    argv0: str,
    env: dict[str, str],
    source: str,
    target: str,
    push_registry: LocalRegistry,
    runs: int,
    settle: float,
) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"pull": [], "push": []}
    for _ in range(runs):
        with contextlib.suppress(SystemExit):
            run([argv0, "rmi", "-f", source, target], env)
        if settle:
            os.sync()  # clean inode-table blocks count as recently deleted for 60 s, dirty 360 s
            time.sleep(settle)
        times["pull"].append(run([argv0, "pull", "-q", source], env))
        run([argv0, "tag", source, target], env)
        wipe(push_registry)
        times["push"].append(run([argv0, "push", "-q", target], env))
    with contextlib.suppress(SystemExit):
        run([argv0, "rmi", "-f", source, target], env)
    print(f"  {engine}: pull {times['pull']}, push {times['push']}", file=sys.stderr)
    return times


def berth_breakdown(log: Path) -> list[dict[str, float]]:
    found = []
    with contextlib.suppress(OSError):
        for line in log.read_text().splitlines():
            if '"pull.finished"' in line:
                found.append(json.loads(line))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=170, help="compressed size (MB)")
    parser.add_argument("-n", "--runs", type=int, default=3)
    parser.add_argument("--settle", type=float, default=0.0, help="seconds to wait after rmi")
    parser.add_argument("--engines", default="berth,docker")
    args = parser.parse_args()
    missing = registry_unavailable()
    if missing:
        print(f"registry_bench: {missing}", file=sys.stderr)
        return 1
    engines = args.engines.split(",")
    work = Path(tempfile.mkdtemp(prefix="berth-bench-registry."))
    source_reg = start_registry(work / "source")
    push_reg = start_registry(work / "push")
    try:
        print(f"making a {args.mb} MB six-layer image ...", file=sys.stderr)
        layers = make_image(work, args.mb)
        size = sum(s for _, _, _, s in layers)
        upload_image(source_reg, "bench/image", layers)
        for blob, *_ in layers:
            blob.unlink()
        os.sync()  # the first engine measured does not pay for writing back the upload
        source = f"{source_reg.host}/bench/image:latest"
        target = f"{push_reg.host}/bench/pushed:latest"
        results: dict[str, dict[str, list[float]]] = {}
        breakdown: list[dict[str, float]] = []
        if "berth" in engines:
            with bench_daemon() as host:
                sock = Path(host.removeprefix("unix://"))
                results["berth"] = measure(
                    "berth",
                    BERTH,
                    {"BERTH_HOST": host},
                    source,
                    target,
                    push_reg,
                    args.runs,
                    args.settle,
                )
                breakdown = berth_breakdown(sock.parent / "berthd.log")
        if "docker" in engines and docker_running():
            results["docker"] = measure(
                "docker", "docker", {}, source, target, push_reg, args.runs, args.settle
            )
        report(results, size, breakdown, args.settle)
    finally:
        source_reg.cleanup()
        push_reg.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def report(
    results: dict[str, dict[str, list[float]]],
    size: int,
    breakdown: list[dict[str, float]],
    settle: float,
) -> None:
    mb = size / 1_000_000
    when = f"waited {settle:g} s after each rmi" if settle else "pulls right after rmi (fresh)"
    print(f"image: {mb:.0f} MB compressed, {LAYERS} layers; {when}")
    print(f"{'engine':8} {'op':5} {'median s':>9} {'MB/s':>7} {'vs docker':>10}")
    medians = {(e, op): statistics.median(t) for e, ops in results.items() for op, t in ops.items()}
    for (engine, op), median in sorted(medians.items()):
        ref = medians.get(("docker", op))
        ratio = f"{median / ref:.2f}x" if ref else "-"
        print(f"{engine:8} {op:5} {median:9.2f} {mb / median:7.1f} {ratio:>10}")
    for op, limit in (("pull", 0.33), ("push", 1.0)):
        if ("berth", op) in medians and ("docker", op) in medians:
            ratio = medians[("berth", op)] / medians[("docker", op)]
            verdict = "OK" if ratio <= limit else "OVER"
            print(f"budget {op}: berth/docker = {ratio:.2f} (<= {limit}) {verdict}")
    for item in breakdown:
        parts = ", ".join(
            f"{k} {item[k]}"
            for k in (
                "wall_s",
                "streamed_s",
                "download_s",
                "waiting_for_download_s",
                "unpack_s",
                "download_unpack_s",
                "unpack_cpu_s",
                "durable_wait_s",
                "daemon_cpu_s",
            )
            if k in item
        )
        print(f"berth pull: {parts}")


if __name__ == "__main__":
    raise SystemExit(main())
