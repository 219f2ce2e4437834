"""Blobs, compression, manifests, configs, changes, patterns: the store's building blocks."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
from pathlib import Path

import pytest
import zstandard
from berth.engine.errors import BadParameter
from berth.engine.images import compression, digests, manifests, patterns
from berth.engine.images.blobs import BlobStore
from berth.engine.images.changes import apply_changes
from berth.engine.images.errors import InvalidContent, UnsupportedContent
from berth.engine.images.filters import parse_until
from berth.engine.images.imageconfig import parse_config, parse_time
from berth.engine.images.platforms import Platform

from .builders import config_for, sha

# --- blobs -------------------------------------------------------------------------------


def test_blob_written_verified_and_renamed(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = b"hello" * 1000
    with store.writer(sha(data), len(data)) as writer:
        writer.write(data)
        digest = writer.commit()
    assert digest == sha(data)
    assert store.read(digest) == data
    assert list((tmp_path / "tmp").iterdir()) == []


def test_blob_with_wrong_digest_leaves_nothing(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    wrong = sha(b"other")
    with pytest.raises(InvalidContent, match="not the expected"), store.writer(wrong) as writer:
        writer.write(b"data")
        writer.commit()
    assert not store.exists(wrong)
    assert list(store.all()) == []
    assert list((tmp_path / "tmp").iterdir()) == []


def test_blob_larger_or_shorter_than_announced(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(InvalidContent, match="larger"), store.writer(size=3) as writer:
        writer.write(b"four")
    with pytest.raises(InvalidContent, match="2 bytes"), store.writer(size=3) as writer:
        writer.write(b"ab")
        writer.commit()
    assert list(store.all()) == []


def test_blob_corrupted_on_disk_is_noticed(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    digest = store.put(b"{}")
    store.path(digest).write_bytes(b"[]")
    with pytest.raises(InvalidContent, match="corrupt"):
        store.read(digest)


def test_stale_temporary_files_go_at_start(tmp_path: Path) -> None:
    BlobStore(tmp_path)
    (tmp_path / "tmp" / "blob-left").write_bytes(b"x")
    BlobStore(tmp_path)
    assert list((tmp_path / "tmp").iterdir()) == []


# --- compression -------------------------------------------------------------------------

PAYLOAD = b"layer data " * 50_000


@pytest.mark.parametrize(
    ("packed", "kind"),
    [
        (PAYLOAD, "plain"),
        (gzip.compress(PAYLOAD, mtime=0), "gzip"),
        (zstandard.ZstdCompressor().compress(PAYLOAD), "zstd"),
        (bz2.compress(PAYLOAD), "bzip2"),
        (lzma.compress(PAYLOAD), "xz"),
    ],
)
def test_decompression_by_magic(packed: bytes, kind: str) -> None:
    reader, found = compression.decompressed(io.BytesIO(packed), "test")
    try:
        assert found == kind
        assert reader.read() == PAYLOAD
    finally:
        reader.close()


def test_truncated_gzip_is_one_clear_error() -> None:
    packed = gzip.compress(PAYLOAD)
    reader, _ = compression.decompressed(io.BytesIO(packed[: len(packed) // 2]), "layer 1")
    with pytest.raises(InvalidContent, match="layer 1 is truncated or corrupt"):
        while reader.read(65536):
            pass
    reader.close()


def test_short_streams() -> None:
    for data in (b"", b"\x1f"):
        reader, kind = compression.decompressed(io.BytesIO(data), "x")
        assert kind == "plain" and reader.read() == data


# --- manifests and configs ---------------------------------------------------------------


def descriptor(data: bytes, media: str, **extra: object) -> dict[str, object]:
    return {"mediaType": media, "digest": sha(data), "size": len(data), **extra}


def test_docker_manifest_and_oci_index() -> None:
    config = config_for([])
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": descriptor(config, "application/vnd.docker.container.image.v1+json"),
        "layers": [descriptor(b"l", "application/vnd.docker.image.rootfs.diff.tar.gzip")],
    }
    parsed = manifests.parse(json.dumps(manifest).encode())
    assert isinstance(parsed, manifests.Manifest)
    assert parsed.config.digest == sha(config)
    arm = descriptor(b"arm", manifests.mediatypes.OCI_MANIFEST)
    arm["platform"] = {"os": "linux", "architecture": "arm64"}
    amd = descriptor(b"amd", manifests.mediatypes.OCI_MANIFEST)
    amd["platform"] = {"os": "linux", "architecture": "amd64"}
    attestation = descriptor(b"att", manifests.mediatypes.OCI_MANIFEST)
    attestation["platform"] = {"os": "unknown", "architecture": "unknown"}
    attestation["annotations"] = {"vnd.docker.reference.type": "attestation-manifest"}
    index = manifests.parse(
        json.dumps({"schemaVersion": 2, "manifests": [arm, amd, attestation]}).encode()
    )
    assert isinstance(index, manifests.Index)
    entries = manifests.image_entries(index)
    assert len(entries) == 2
    chosen = manifests.select(entries, Platform("linux", "amd64"))
    assert chosen is not None and chosen.digest == sha(b"amd")
    chosen = manifests.select(entries, Platform("linux", "arm64", "v8"))
    assert chosen is not None and chosen.digest == sha(b"arm")
    assert manifests.select(entries, Platform("linux", "s390x")) is None


def test_schema1_is_refused_clearly() -> None:
    doc = {"schemaVersion": 1, "name": "x", "fsLayers": []}
    with pytest.raises(UnsupportedContent, match="schema 1 is not supported"):
        manifests.parse(json.dumps(doc).encode())


@pytest.mark.parametrize(
    "doc",
    [
        b"not json",
        b"[]",
        json.dumps({"schemaVersion": 2, "mediaType": manifests.mediatypes.OCI_MANIFEST}).encode(),
        json.dumps(
            {
                "schemaVersion": 2,
                "config": {"mediaType": "x", "digest": "sha256:abc", "size": 1},
                "layers": [],
            }
        ).encode(),
        json.dumps({"mediaType": "application/x-unknown"}).encode(),
    ],
)
def test_bad_manifests(doc: bytes) -> None:
    with pytest.raises((InvalidContent, UnsupportedContent)):
        manifests.parse(doc)


def test_config_parsing_and_times() -> None:
    layers = [b"a", b"b"]
    config = parse_config(config_for(layers, labels={"k": "v"}))
    assert config.diff_ids == (sha(b"a"), sha(b"b"))
    assert config.chain_ids[0] == sha(b"a")
    assert config.chain_ids[1] == digests.of_bytes(f"{sha(b'a')} {sha(b'b')}".encode())
    assert config.labels == {"k": "v"}
    assert config.created_unix == 1704164645
    assert parse_time("2024-01-02T03:04:05+01:00") == 1704161045
    assert parse_time("garbage") is None
    with pytest.raises(InvalidContent, match="rootfs"):
        parse_config(b'{"architecture":"amd64"}')
    with pytest.raises(InvalidContent, match="diff ID"):
        parse_config(b'{"rootfs":{"type":"layers","diff_ids":["sha256:zz"]}}')


# --- changes, patterns, until ------------------------------------------------------------


def test_changes() -> None:
    config = apply_changes(
        {},
        [
            'CMD ["/bin/sh", "-c", "echo hi"]',
            "ENTRYPOINT /init",
            'ENV A=1 B="two words"',
            "ENV A 3",
            "EXPOSE 80 53/udp 8000-8001",
            "LABEL a=b",
            "USER nobody",
            "WORKDIR /srv",
            "WORKDIR app",
            "VOLUME /data /logs",
            "STOPSIGNAL SIGINT",
            "ONBUILD RUN make",
        ],
    )
    assert config["Cmd"] == ["/bin/sh", "-c", "echo hi"]
    assert config["Entrypoint"] == ["/bin/sh", "-c", "/init"]
    assert config["Env"] == ["B=two words", "A=3"]
    assert set(config["ExposedPorts"]) == {"80/tcp", "53/udp", "8000/tcp", "8001/tcp"}
    assert config["Labels"] == {"a": "b"}
    assert config["User"] == "nobody"
    assert config["WorkingDir"] == "/srv/app"
    assert set(config["Volumes"]) == {"/data", "/logs"}
    assert config["StopSignal"] == "SIGINT"
    assert config["OnBuild"] == ["RUN make"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("RUN echo", "run is not a valid change command"),
        ("EXPOSE http", "invalid containerPort"),
        ("ENV", "at least one argument"),
        ("ONBUILD ONBUILD x", "isn't allowed"),
    ],
)
def test_bad_changes(change: str, message: str) -> None:
    with pytest.raises(BadParameter, match=message):
        apply_changes({}, [change])


def test_go_path_patterns() -> None:
    assert patterns.match("busybox*", "busybox:latest")
    assert not patterns.match("*", "me/app")
    assert patterns.match("*/*", "me/app")
    assert patterns.match("b?sybox", "busybox")
    assert patterns.match("[a-c]*", "busybox")
    assert not patterns.match("[^b]*", "busybox")
    with pytest.raises(BadParameter):
        patterns.compile_pattern("[abc")


def test_until() -> None:
    assert parse_until("1h", now=10_000) == 6_400
    assert parse_until("1h30m", now=10_000) == 4_600
    assert parse_until("1700000000") == 1_700_000_000
    assert parse_until("2024-01-02T03:04:05Z") == 1704164645
    with pytest.raises(BadParameter):
        parse_until("yesterday")
