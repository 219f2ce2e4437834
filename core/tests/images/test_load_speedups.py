"""What makes ``load`` fast without weakening it: blobs whose fsync runs in the background
(found at once, under their name only once on disk, waited for before records name them),
the tar reader's data chunks, and ext4's top-directory hint for drivers' homes."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest
from berth.engine.images import digests
from berth.engine.images.blobs import BlobStore
from berth.engine.images.errors import InvalidContent
from berth.plugins.hostfs import EXTFS_MAGIC, fs_magic, mark_top_directory
from berth.plugins.layers.errors import LayerError
from berth.plugins.layers.tarreader import TarReader


def test_a_blob_synced_later_is_there_at_once_and_in_place_after_the_wait(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    data = b"layer bytes " * 10_000
    expected = digests.of_bytes(data)
    with store.writer(expected, len(data), "a layer", sync_later=True) as writer:
        writer.write(data)
        assert writer.commit() == expected
    assert store.exists(expected) and store.size(expected) == len(data)
    with store.open(expected) as handle:
        assert handle.read() == data
    store.wait_durable()
    assert store.path(expected).read_bytes() == data
    assert list(store.all()) == [expected]
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []


def test_the_same_blob_twice_and_a_delete_while_syncing(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    data = b"twice"
    for _ in range(2):
        with store.writer(None, None, "a blob", sync_later=True) as writer:
            writer.write(data)
            digest = writer.commit()
    store.delete(digest)  # waits for the fsync, then removes it
    store.wait_durable()
    assert not store.exists(digest)
    assert list((tmp_path / "blobs" / "tmp").iterdir()) == []


def test_a_wrong_digest_is_refused_before_any_background_work(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    writer = store.writer(digests.of_bytes(b"other"), None, "a blob", sync_later=True)
    with pytest.raises(InvalidContent, match="not the expected"), writer:
        writer.write(b"this")
        writer.commit()
    store.wait_durable()
    assert list(store.all()) == [] and list((tmp_path / "blobs" / "tmp").iterdir()) == []


def _tar(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_tar_reader_chunks_give_each_entry_whole() -> None:
    big = bytes(range(256)) * 20_000  # larger than the reader's buffer
    raw = _tar({"a": b"small", "b": big, "c": b""})
    reader = TarReader(io.BytesIO(raw), bufsize=64 * 1024)
    seen = {}
    while (entry := reader.next()) is not None:
        seen[entry.name] = b"".join(bytes(chunk) for chunk in reader.chunks())
    assert seen == {b"a": b"small", b"b": big, b"c": b""}


def test_tar_reader_chunks_of_a_truncated_tar() -> None:
    raw = _tar({"b": b"x" * 100_000})[:50_000]
    reader = TarReader(io.BytesIO(raw))
    entry = reader.next()
    assert entry is not None
    with pytest.raises(LayerError, match="truncated"):
        for _ in reader.chunks():
            pass


def test_top_directory_hint(tmp_path: Path) -> None:
    target = tmp_path / "home"
    target.mkdir()
    if fs_magic(target) != EXTFS_MAGIC:
        assert mark_top_directory(target) is False
        return
    assert mark_top_directory(target) is True
    assert mark_top_directory(target) is True  # again: nothing changes
    flags = subprocess.run(
        ["lsattr", "-d", str(target)], capture_output=True, text=True, check=False
    ).stdout.split()
    if flags:
        assert "T" in flags[0]
    assert mark_top_directory(tmp_path / "missing") is False
