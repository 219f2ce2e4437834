"""Content digests (``sha256:<64 hex>``), the only algorithm images use here."""

from __future__ import annotations

import hashlib
import re

from berth.engine.images.errors import InvalidContent, InvalidReference

ALGORITHM = "sha256"
_HEX64 = re.compile(r"^[a-f0-9]{64}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


def is_hex_id(text: str) -> bool:
    """Whether ``text`` is 64 lowercase hex characters (an image ID without algorithm)."""
    return bool(_HEX64.match(text))


def is_digest(text: str) -> bool:
    return text.startswith("sha256:") and is_hex_id(text[7:])


def validate(text: str) -> str:
    """``text`` if it is a sha256 digest; else InvalidReference with Docker's wording."""
    if is_digest(text):
        return text
    if not _DIGEST.match(text):
        raise InvalidReference("invalid digest format")
    algorithm, _, encoded = text.partition(":")
    if algorithm != ALGORITHM:
        raise InvalidReference(f"unsupported digest algorithm: {text}")
    if len(encoded) != 64:
        raise InvalidReference(f"invalid checksum digest length: {text}")
    raise InvalidReference(f"invalid checksum digest format: {text}")


def content_digest(text: str, what: str) -> str:
    """Like :func:`validate`, for digests found inside content (manifests, indexes)."""
    try:
        return validate(text)
    except InvalidReference as exc:
        raise InvalidContent(f"{what}: {exc}") from None


def of_bytes(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def hex_of(digest: str) -> str:
    """The encoded part: ``sha256:abc…`` → ``abc…``."""
    return digest.partition(":")[2] if ":" in digest else digest


def short_id(digest: str) -> str:
    """Docker's 12-character ID (``stringid.TruncateID``)."""
    return hex_of(digest)[:12]


def chain_id(parent_chain: str | None, diff_id: str) -> str:
    """The chain ID of a layer: its diff ID for a base layer, else sha256("parent diff")."""
    if parent_chain is None:
        return diff_id
    return of_bytes(f"{parent_chain} {diff_id}".encode())


def chain_ids(diff_ids: list[str]) -> list[str]:
    out: list[str] = []
    parent: str | None = None
    for diff_id in diff_ids:
        parent = chain_id(parent, diff_id)
        out.append(parent)
    return out
