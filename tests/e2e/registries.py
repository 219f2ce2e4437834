"""Helpers of the registry tests: a real docker-registry per module, a berthd configured for
it, raw uploads (to put content berth would never push: indexes for other platforms), and
skopeo."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import http.client
import json
import random
import subprocess
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from berth.testing.registry import LocalRegistry, registry_unavailable, start_registry

from tests.e2e.archives import image_config, layer_tar
from tests.e2e.conftest import berth, berth_ok
from tests.integration.daemon import Daemon, make_daemon

needs_registry = pytest.mark.skipif(
    registry_unavailable() is not None, reason=str(registry_unavailable())
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """A plain-HTTP docker-registry for the module."""
    reg = start_registry(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.cleanup()


def daemon_with(config: Mapping[str, Any]) -> Daemon:
    daemon = make_daemon(config=dict(config))
    daemon.env["BERTH_CONFIG"] = str(daemon.root / "berth-config")
    daemon.env["DOCKER_CONFIG"] = str(daemon.root / "docker-config")
    try:
        daemon.start()
    except BaseException:
        daemon.cleanup()
        raise
    return daemon


@contextlib.contextmanager
def daemon_on_tmpfs(config: Mapping[str, Any], size: str = "24m") -> Iterator[Daemon]:
    """A started berthd whose data root is a tmpfs of ``size``: a disk that fills."""
    daemon = make_daemon(config=dict(config))
    daemon.env["BERTH_CONFIG"] = str(daemon.root / "berth-config")
    daemon.data_root.mkdir(parents=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "berth-test-full", str(daemon.data_root)],
        check=True,
    )
    try:
        daemon.start()
        yield daemon
    finally:
        daemon.stop()
        subprocess.run(["umount", "-l", str(daemon.data_root)], check=False)
        daemon.cleanup()


def stop(daemon: Daemon) -> None:
    code = daemon.stop()
    log = daemon.log()
    daemon.cleanup()
    assert code == 0, f"berthd did not stop cleanly ({code}):\n{log[-3000:]}"


def fails(daemon: Daemon, *args: str) -> str:
    """Run berth; it must fail with one clear line on stderr (no traceback); that line."""
    done = berth(daemon, *args)
    err = done.stderr.decode()
    assert done.returncode != 0, f"berth {' '.join(args)} succeeded: {done.stdout.decode()}"
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"more than one line of error: {err}"
    return lines[0]


def import_busybox(daemon: Daemon, rootfs: Path, ref: str) -> str:
    return berth_ok(daemon, "import", str(rootfs), ref).strip()


def inspect(daemon: Daemon, name: str) -> dict[str, Any]:
    (data,) = json.loads(berth_ok(daemon, "image", "inspect", name))
    assert isinstance(data, dict)
    return data


def store_counts(daemon: Daemon) -> tuple[int, int, int]:
    """(blobs, temporary blobs, layer records) in the daemon's image store: to see that a
    failed pull left nothing behind."""
    image_root = daemon.data_root / "image"
    blobs = sum(1 for _ in image_root.glob("*/blobs/sha256/*"))
    partial = sum(1 for _ in image_root.glob("*/blobs/tmp/*"))
    layers = sum(1 for _ in image_root.glob("*/layerdb/sha256/*.json"))
    return blobs, partial, layers


def skopeo(*args: str) -> str:
    done = subprocess.run(
        ["skopeo", "--insecure-policy", *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"skopeo {' '.join(args)} failed: {done.stderr}"
    return done.stdout


# --- raw uploads ------------------------------------------------------------------------------


def _request(
    url: str, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def upload_blob(url: str, repo: str, data: bytes) -> str:
    digest = sha256(data)
    status, headers, _ = _request(url, "POST", f"/v2/{repo}/blobs/uploads/")
    assert status == 202, status
    location = urlsplit(headers["Location"])
    path = f"{location.path}?{location.query}&digest={digest}"
    status, _, body = _request(url, "PUT", path, data, {"Content-Type": "application/octet-stream"})
    assert status == 201, body
    return digest


def upload_manifest(url: str, repo: str, ref: str, data: bytes, media_type: str) -> str:
    status, _, body = _request(
        url, "PUT", f"/v2/{repo}/manifests/{ref}", data, {"Content-Type": media_type}
    )
    assert status == 201, body
    return sha256(data)


def upload_image(
    url: str,
    repo: str,
    tag: str,
    layers: Sequence[bytes],
    architecture: str = "amd64",
) -> tuple[str, bytes]:
    """A gzip-layered OCI image (its config says ``architecture``); (manifest digest, bytes)."""
    compressed = [gzip.compress(layer, mtime=0) for layer in layers]
    config_doc = json.loads(image_config([sha256(layer) for layer in layers]))
    config_doc["architecture"] = architecture
    config = json.dumps(config_doc).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": upload_blob(url, repo, config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": upload_blob(url, repo, blob),
                "size": len(blob),
            }
            for blob in compressed
        ],
    }
    data = json.dumps(manifest).encode()
    return upload_manifest(url, repo, tag, data, OCI_MANIFEST), data


def upload_index(url: str, repo: str, tag: str, entries: Sequence[tuple[str, bytes, str]]) -> str:
    """An OCI index of (manifest digest, manifest bytes, architecture) entries under ``tag``."""
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": digest,
                "size": len(data),
                "platform": {"architecture": arch, "os": "linux"},
            }
            for digest, data, arch in entries
        ],
    }
    return upload_manifest(url, repo, tag, json.dumps(index).encode(), OCI_INDEX)


def small_layers(text: str) -> list[bytes]:
    return [layer_tar({"etc/motd": text.encode()}), layer_tar({"data/one": b"1" * 5000})]


def big_layer(seed: int) -> bytes:
    """A layer of 400 kB that gzip cannot shrink (so a cut lands inside it)."""
    return layer_tar({"data/blob": random.Random(seed).randbytes(400_000)})


def layer_digest(registry: LocalRegistry, repo: str, tag: str) -> str:
    request = urllib.request.Request(
        f"{registry.url}/v2/{repo}/manifests/{tag}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        manifest = json.loads(answer.read())
    return str(manifest["layers"][-1]["digest"])


def berth_ok_or_error(daemon: Daemon, *args: str) -> str:
    """A pull whose failure comes in the progress stream: the error line on stderr."""
    done = berth(daemon, *args)
    assert done.returncode == 1, done.stdout.decode()
    err = done.stderr.decode().strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err
