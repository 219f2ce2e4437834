"""Image material for the end-to-end tests, made offline and deterministically.

- `busybox_rootfs`: a rootfs tarball from the host's static busybox (Debian's
  `busybox-static`): `bin/busybox`, one symlink per applet (`busybox --list`), `etc/passwd`,
  `etc/group`, `tmp`, `root` — what `berth import` turns into a busybox image.
- `DockerArchive`: a `docker save`-style archive (manifest.json, config, layers), with knobs to
  break it in the ways the bad-input tests need.
- `oci_layout`: an OCI image layout directory (what skopeo reads with `oci:`).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
MTIME = 1_600_000_000  # fixed times: the same rootfs gives the same layer digest every run
PASSWD = b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
GROUP = b"root:x:0:\nnobody:x:65534:\n"


def sha256_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def busybox_applets(busybox: Path = BUSYBOX) -> list[str]:
    out = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    return sorted({name for name in out.split() if name and "/" not in name} - {"busybox"})


def _member(name: str, kind: bytes, mode: int, size: int = 0, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.linkname = link
    info.mtime = MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def busybox_rootfs(path: Path, busybox: Path = BUSYBOX) -> Path:
    """Write the rootfs tarball of a busybox image to `path` (uncompressed, deterministic)."""
    applets = busybox_applets(busybox)
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, mode in (("bin", 0o755), ("etc", 0o755), ("root", 0o700), ("tmp", 0o1777)):
            tar.addfile(_member(name, tarfile.DIRTYPE, mode))
        size = busybox.stat().st_size
        with busybox.open("rb") as data:
            tar.addfile(_member("bin/busybox", tarfile.REGTYPE, 0o755, size), data)
        for applet in applets:
            tar.addfile(_member(f"bin/{applet}", tarfile.SYMTYPE, 0o777, link="busybox"))
        for name, content in (("etc/passwd", PASSWD), ("etc/group", GROUP)):
            tar.addfile(_member(name, tarfile.REGTYPE, 0o644, len(content)), io.BytesIO(content))
    return path


def layer_tar(files: dict[str, bytes], extra: Sequence[tarfile.TarInfo] = ()) -> bytes:
    """A small layer: regular files (parents are made as directories), then raw members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        made: set[str] = set()
        for name, content in files.items():
            parts = name.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                directory = "/".join(parts[:i])
                if directory not in made:
                    made.add(directory)
                    tar.addfile(_member(directory, tarfile.DIRTYPE, 0o755))
            tar.addfile(_member(name, tarfile.REGTYPE, 0o644, len(content)), io.BytesIO(content))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.size else None)
    return buffer.getvalue()


def image_config(diff_ids: Sequence[str], cmd: Sequence[str] = ("sh",)) -> bytes:
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2020-09-13T12:26:40Z",
        "config": {"Cmd": list(cmd), "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": list(diff_ids)},
        "history": [
            {"created": "2020-09-13T12:26:40Z", "created_by": f"layer {i}"}
            for i in range(len(diff_ids))
        ],
    }
    return json.dumps(config, sort_keys=True).encode()


@dataclass
class DockerArchive:
    """A docker-archive with its layers as given (bytes: plain or gzip tars).

    The knobs break it: `drop` members (a missing blob), `extra` raw members (`../evil`),
    `diff_ids` that do not match the layers (a wrong digest).
    """

    layers: list[bytes]
    repo_tags: list[str]
    diff_ids: list[str] | None = None
    drop: set[str] = field(default_factory=set)
    extra: list[tuple[str, bytes]] = field(default_factory=list)

    def _diff_id(self, layer: bytes) -> str:
        plain = gzip.decompress(layer) if layer[:2] == b"\x1f\x8b" else layer
        return sha256_bytes(plain)

    @property
    def config(self) -> bytes:
        diff_ids = self.diff_ids or [self._diff_id(layer) for layer in self.layers]
        return image_config(diff_ids)

    @property
    def image_id(self) -> str:
        return sha256_bytes(self.config)

    def members(self) -> list[tuple[str, bytes]]:
        config = self.config
        config_name = f"blobs/sha256/{sha256_bytes(config)[7:]}"
        layer_names = [f"blobs/sha256/{sha256_bytes(layer)[7:]}" for layer in self.layers]
        manifest = [{"Config": config_name, "RepoTags": self.repo_tags, "Layers": layer_names}]
        members = [(config_name, config)]
        members += list(zip(layer_names, self.layers, strict=True))
        members.append(("manifest.json", json.dumps(manifest).encode()))
        members += self.extra
        return [(name, data) for name, data in members if name not in self.drop]

    def write(self, path: Path) -> Path:
        with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
            made: set[str] = set()
            for name, data in self.members():
                directory = name.rpartition("/")[0]
                if directory and directory not in made and not directory.startswith(("/", "..")):
                    for i, _ in enumerate(directory.split("/")):
                        parent = "/".join(directory.split("/")[: i + 1])
                        if parent not in made:
                            made.add(parent)
                            tar.addfile(_member(parent, tarfile.DIRTYPE, 0o755))
                tar.addfile(_member(name, tarfile.REGTYPE, 0o644, len(data)), io.BytesIO(data))
        return path


@dataclass(frozen=True)
class OciImage:
    config_digest: str  # = the image ID once loaded
    diff_ids: list[str]
    layer_digests: list[str]  # of the gzip blobs


def oci_layout(directory: Path, layers: Sequence[bytes], ref_name: str) -> OciImage:
    """An OCI image layout with one image: gzip layers, a config, a manifest, `ref_name` in
    the index's `org.opencontainers.image.ref.name` annotation (what skopeo's `oci:DIR:REF`
    names)."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> str:
        digest = sha256_bytes(data)
        (blobs / digest[7:]).write_bytes(data)
        return digest

    diff_ids = [sha256_bytes(layer) for layer in layers]
    compressed = [gzip.compress(layer, mtime=0) for layer in layers]
    layer_digests = [put(blob) for blob in compressed]
    config = image_config(diff_ids)
    config_digest = put(config)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": digest,
                "size": len(blob),
            }
            for digest, blob in zip(layer_digests, compressed, strict=True)
        ],
    }
    manifest_bytes = json.dumps(manifest).encode()
    manifest_digest = put(manifest_bytes)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": manifest_digest,
                "size": len(manifest_bytes),
                "annotations": {"org.opencontainers.image.ref.name": ref_name},
            }
        ],
    }
    (directory / "index.json").write_text(json.dumps(index))
    (directory / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return OciImage(config_digest, diff_ids, layer_digests)


def read_archive(path: Path) -> dict[str, bytes]:
    """Every regular file of a (saved) tar archive, by name."""
    out: dict[str, bytes] = {}
    with tarfile.open(path) as tar:
        for member in tar:
            if member.isfile():
                f = tar.extractfile(member)
                assert f is not None
                out[member.name.removeprefix("./")] = f.read()
    return out


def skopeo_available() -> bool:
    return shutil.which("skopeo") is not None
