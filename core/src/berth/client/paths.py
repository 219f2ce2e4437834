"""API paths naming one object, its name or ID percent-encoded (no imports: the fast paths
use these too)."""

from __future__ import annotations

_PATH_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:@")


def quote_segment(name: str) -> str:
    """`name` as one path segment: all but the unreserved characters (and `:`, `@`) encoded."""
    return "".join(chr(b) if b in _PATH_SAFE else f"%{b:02X}" for b in name.encode())


def container_path(ref: str, suffix: str = "") -> str:
    """`/containers/<ref>/<suffix>`, the name or ID percent-encoded."""
    return f"/containers/{quote_segment(ref)}" + (f"/{suffix}" if suffix else "")


def exec_path(exec_id: str, suffix: str = "") -> str:
    return f"/exec/{quote_segment(exec_id)}" + (f"/{suffix}" if suffix else "")
