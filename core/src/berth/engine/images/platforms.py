"""Platforms (os/architecture/variant) and how well an index entry suits this host."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from berth.engine import hostinfo
from berth.engine.images.errors import InvalidReference

_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> Platform | None:
        if not isinstance(data, Mapping):
            return None
        return cls(
            str(data.get("os", "")),
            str(data.get("architecture", "")),
            str(data.get("variant", "") or ""),
        )

    def normalized(self) -> Platform:
        variant = self.variant or _DEFAULT_VARIANT.get(self.architecture, "")
        return Platform(self.os.lower(), self.architecture.lower(), variant)


@functools.cache
def host() -> Platform:
    arch = hostinfo.go_arch()
    return Platform("linux", arch, _DEFAULT_VARIANT.get(arch, ""))


def parse(text: str) -> Platform:
    """``linux/amd64`` or ``linux/arm64/v8`` (the ``--platform`` syntax)."""
    parts = text.strip().split("/")
    if not 1 <= len(parts) <= 3 or not all(parts):
        raise InvalidReference(f"invalid platform {text!r}: expected os/arch[/variant]")
    if len(parts) == 1:
        return Platform("linux", parts[0]).normalized()
    return Platform(*parts).normalized()


def score(candidate: Platform | None, wanted: Platform) -> int:
    """How well ``candidate`` matches ``wanted``: 0 not at all, 2 os+arch, 3 with variant."""
    if candidate is None:
        return 0
    have, want = candidate.normalized(), wanted.normalized()
    if have.os != want.os or have.architecture != want.architecture:
        return 0
    if have.variant == want.variant:
        return 3
    return 2 if not want.variant or not have.variant else 1
