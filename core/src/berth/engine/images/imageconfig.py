"""Image configs (the JSON whose sha256 is the image ID): parsing, times, chain IDs."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from berth.engine.images import digests
from berth.engine.images.errors import InvalidContent
from berth.engine.images.manifests import load_json

_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")


@dataclass(frozen=True)
class ImageConfig:
    """A parsed image config; ``raw`` are its exact bytes (``id`` is their digest)."""

    id: str
    raw: bytes
    doc: dict[str, Any]
    diff_ids: tuple[str, ...]

    @property
    def chain_ids(self) -> list[str]:
        return digests.chain_ids(list(self.diff_ids))

    @property
    def top_chain_id(self) -> str | None:
        chain = self.chain_ids
        return chain[-1] if chain else None

    @property
    def container_config(self) -> dict[str, Any]:
        value = self.doc.get("config")
        return value if isinstance(value, dict) else {}

    @property
    def labels(self) -> dict[str, str]:
        labels = self.container_config.get("Labels")
        if not isinstance(labels, dict):
            return {}
        return {str(k): str(v) for k, v in labels.items()}

    @property
    def created(self) -> str:
        value = self.doc.get("created")
        return value if isinstance(value, str) else ""

    @property
    def created_unix(self) -> int:
        stamp = parse_time(self.created)
        return int(stamp) if stamp is not None else 0

    @property
    def history(self) -> list[dict[str, Any]]:
        value = self.doc.get("history")
        return [h for h in value if isinstance(h, dict)] if isinstance(value, list) else []

    def text(self, key: str) -> str:
        value = self.doc.get(key)
        return value if isinstance(value, str) else ""


def parse_config(raw: bytes, what: str = "image config") -> ImageConfig:
    doc = load_json(raw, what)
    rootfs = doc.get("rootfs")
    if not isinstance(rootfs, dict):
        raise InvalidContent(f"{what} has no rootfs")
    if rootfs.get("type") != "layers":
        raise InvalidContent(f"{what} has rootfs type {rootfs.get('type')!r}, not 'layers'")
    diff_ids = rootfs.get("diff_ids") or []
    if not isinstance(diff_ids, list):
        raise InvalidContent(f"{what} has rootfs.diff_ids that is not a list")
    checked = tuple(digests.content_digest(str(d), f"{what} diff ID") for d in diff_ids)
    return ImageConfig(digests.of_bytes(raw), raw, doc, checked)


def parse_time(text: str) -> float | None:
    """Seconds since the epoch of an RFC 3339 time with up to nanoseconds; None if absent."""
    match = _TIME.match(text or "")
    if match is None:
        return None
    base, fraction, zone = match.groups()
    zone = "+00:00" if zone == "Z" else zone
    try:
        stamp = datetime.fromisoformat(base + zone)
    except ValueError:
        return None
    return stamp.timestamp() + (float(fraction) if fraction else 0.0)


def format_time(seconds: float | None = None) -> str:
    """RFC 3339 with nanoseconds in UTC, as Docker writes times (``…T12:00:00.123456789Z``)."""
    nanos = time.time_ns() if seconds is None else int(seconds * 1e9)
    whole, frac = divmod(nanos, 1_000_000_000)
    base = datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z"
