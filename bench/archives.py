"""Image archives for the image benchmarks, made here (standard library only, deterministic).

- `many_images_archive`: one `docker save`-style archive holding N small distinct images
  (`berth-bench/img-000:latest` ...), so that one `load` puts N images into any engine.
- `big_archive`: one image of three layers, many files each, about `total_mb` MB in all
  (incompressible content, as real binaries mostly are), for `load` timings.

Layers are written to temporary files and hashed on the way, so nothing large is held in memory.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

MTIME = 1_600_000_000
BENCH_REPO = "berth-bench"


def _info(name: str, kind: bytes, size: int = 0, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mode, info.mtime = kind, size, mode, MTIME
    return info


class _HashingWriter(io.RawIOBase):
    """A file that hashes what is written to it."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._file = path.open("wb")
        self.digest = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self._file.write(data)

    def close(self) -> None:
        self._file.close()
        super().close()


@dataclass(frozen=True)
class Layer:
    path: Path  # an uncompressed tar
    diff_id: str


def write_layer(path: Path, files: Iterator[tuple[str, bytes]]) -> Layer:
    """A layer tar of (path, content) pairs; parent directories are added as needed."""
    writer = _HashingWriter(path)
    made: set[str] = set()
    with tarfile.open(fileobj=writer, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for name, content in files:
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                directory = "/".join(parts[:i])
                if directory not in made:
                    made.add(directory)
                    tar.addfile(_info(directory, tarfile.DIRTYPE, mode=0o755))
            tar.addfile(_info(name, tarfile.REGTYPE, len(content)), io.BytesIO(content))
    writer.close()
    return Layer(path, "sha256:" + writer.digest.hexdigest())


def _config(diff_ids: Sequence[str], label: str) -> bytes:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2020-09-13T12:26:40Z",
        "config": {"Cmd": ["sh"], "Labels": {"berth.bench": label}},
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [{"created": "2020-09-13T12:26:40Z"} for _ in diff_ids],
    }
    return json.dumps(config, sort_keys=True).encode()


@dataclass(frozen=True)
class ImageSpec:
    layers: list[Layer]
    repo_tags: list[str]
    label: str


def write_archive(path: Path, images: Sequence[ImageSpec]) -> list[str]:
    """A docker-archive of `images` (layers shared by path are written once); their IDs."""
    manifest = []
    ids = []
    written: set[str] = set()
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(_info("blobs", tarfile.DIRTYPE, mode=0o755))
        tar.addfile(_info("blobs/sha256", tarfile.DIRTYPE, mode=0o755))
        for image in images:
            config = _config([layer.diff_id for layer in image.layers], image.label)
            config_id = hashlib.sha256(config).hexdigest()
            ids.append("sha256:" + config_id)
            config_name = f"blobs/sha256/{config_id}"
            tar.addfile(_info(config_name, tarfile.REGTYPE, len(config)), io.BytesIO(config))
            names = []
            for layer in image.layers:
                name = f"blobs/sha256/{layer.diff_id[7:]}"
                names.append(name)
                if name not in written:
                    written.add(name)
                    tar.add(str(layer.path), arcname=name)
            manifest.append({"Config": config_name, "RepoTags": image.repo_tags, "Layers": names})
        data = json.dumps(manifest).encode()
        tar.addfile(_info("manifest.json", tarfile.REGTYPE, len(data)), io.BytesIO(data))
    return ids


def bench_tags(count: int) -> list[str]:
    return [f"{BENCH_REPO}/img-{i:03d}:latest" for i in range(count)]


def many_images_archive(path: Path, count: int) -> list[str]:
    """`count` distinct small images (one 4 KiB layer each) in one archive; their tags."""
    tags = bench_tags(count)
    with tempfile.TemporaryDirectory(prefix="berth-bench-layers.") as work:
        images = []
        for i, tag in enumerate(tags):
            content = random.Random(i).randbytes(4096)
            layer = write_layer(Path(work) / f"{i}.tar", iter([(f"data/img-{i:03d}", content)]))
            images.append(ImageSpec([layer], [tag], f"img-{i}"))
        write_archive(path, images)
    return tags


BIG_TAG = f"{BENCH_REPO}/load:latest"


def big_archive(path: Path, total_mb: int = 100) -> str:
    """One three-layer image of about `total_mb` MB (50% / 30% / 20%, many files); its tag."""
    rng = random.Random(2026)
    shares = ((0.5, 2_000), (0.3, 400), (0.2, 40))  # (share of the bytes, number of files)
    with tempfile.TemporaryDirectory(prefix="berth-bench-layers.") as work:
        layers = []
        for index, (share, count) in enumerate(shares):
            size = int(total_mb * 1_000_000 * share)

            def files(
                index: int = index, size: int = size, count: int = count
            ) -> Iterator[tuple[str, bytes]]:
                left = size
                for n in range(count):
                    piece = left // (count - n)
                    piece = max(1, int(piece * rng.uniform(0.5, 1.5))) if n < count - 1 else left
                    piece = min(piece, left)
                    left -= piece
                    yield f"layer{index}/d{n % 37:02d}/f{n:05d}.bin", rng.randbytes(piece)

            layers.append(write_layer(Path(work) / f"layer{index}.tar", files()))
        write_archive(path, [ImageSpec(layers, [BIG_TAG], "load")])
    return BIG_TAG


def archive_size_mb(path: Path) -> float:
    return os.path.getsize(path) / 1_000_000


BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static
BUSYBOX_IMAGE = "busybox:latest"


def busybox_rootfs(path: Path, busybox: Path = BUSYBOX) -> Path:
    """The root file system of a busybox image as a tarball (the host's static busybox, a link
    per applet, /etc/passwd and /etc/group): what `import -c 'CMD ["sh"]'` makes an image of."""
    import subprocess

    listed = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True, timeout=30
    ).stdout.split()
    applets = sorted({name for name in listed if name and "/" not in name} - {"busybox"})
    files = {
        "etc/passwd": b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n",
        "etc/group": b"root:x:0:\nnobody:x:65534:\n",
    }
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, mode in (("bin", 0o755), ("etc", 0o755), ("root", 0o700), ("tmp", 0o1777)):
            tar.addfile(_info(name, tarfile.DIRTYPE, mode=mode))
        with busybox.open("rb") as binary:
            tar.addfile(
                _info("bin/busybox", tarfile.REGTYPE, busybox.stat().st_size, 0o755), binary
            )
        for applet in applets:
            link = _info(f"bin/{applet}", tarfile.SYMTYPE, mode=0o777)
            link.linkname = "busybox"
            tar.addfile(link)
        for name, data in files.items():
            tar.addfile(_info(name, tarfile.REGTYPE, len(data)), io.BytesIO(data))
    return path
