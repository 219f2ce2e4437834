"""``docker import``: a root file system tarball becomes a one-layer image.

The tarball (plain, gzip, zstd, bzip2 or xz) is read once: its bytes go to the blob store
(kept as the image's layer blob) while the decompressed stream is unpacked by the storage
driver. The config carries the ``--change`` instructions and the message, as Docker's does.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, BinaryIO

import berth
from berth.engine.images.blobs import BlobWriter
from berth.engine.images.changes import apply_changes
from berth.engine.images.imageconfig import format_time
from berth.engine.images.platforms import Platform
from berth.engine.images.streams import Reader
from berth.engine.images.views import container_config


class TeeReader(Reader):
    """Reads ``raw`` and writes every byte read into a blob as well."""

    def __init__(self, raw: BinaryIO, sink: BlobWriter) -> None:
        super().__init__()
        self._raw = raw
        self._sink = sink

    def _read(self, size: int) -> bytes:
        data = self._raw.read(size)
        if data:
            self._sink.write(data)
        return data

    def drain(self) -> None:
        while self._read(1 << 20):
            pass


def default_message(source: str) -> str:
    return f"Imported from {source}"


def import_config(
    diff_id: str,
    platform: Platform,
    message: str,
    changes: Sequence[str],
) -> bytes:
    """The config JSON of an imported image."""
    created = format_time()
    config = container_config(apply_changes({}, changes))
    doc: dict[str, Any] = {
        "architecture": platform.architecture,
        "comment": message,
        "config": config,
        "created": created,
        "docker_version": f"berth-{berth.__version__}",
        "history": [{"created": created, "comment": message}],
        "os": platform.os,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }
    if platform.variant and platform.architecture not in ("amd64", "arm64"):
        doc["variant"] = platform.variant
    return json.dumps(doc, separators=(",", ":")).encode()
