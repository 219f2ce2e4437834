"""The registry contract: resolve references, move manifests and blobs, authenticate."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import BinaryIO


@dataclass(frozen=True)
class ResolvedReference:
    """``busybox`` → registry ``docker.io``, repository ``library/busybox``, tag ``latest``."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


@dataclass(frozen=True)
class Manifest:
    media_type: str
    digest: str
    content: bytes


class RegistryClient(abc.ABC):
    @abc.abstractmethod
    def resolve(self, reference: str) -> ResolvedReference:
        """Normalise a user's reference; raise ``ValueError`` with a clear message if invalid."""

    @abc.abstractmethod
    def authenticate(self, registry: str, credentials: Mapping[str, str] | None) -> str:
        """Check credentials against the registry; return its status line (``Login Succeeded``)."""

    @abc.abstractmethod
    def get_manifest(
        self, ref: ResolvedReference, accept: tuple[str, ...], auth: Mapping[str, str] | None
    ) -> Manifest:
        """Fetch a manifest or index by tag or digest."""

    @abc.abstractmethod
    def put_manifest(
        self, ref: ResolvedReference, manifest: Manifest, auth: Mapping[str, str] | None
    ) -> str:
        """Upload a manifest under ``ref``'s tag; return its digest."""

    @abc.abstractmethod
    def blob_exists(
        self, ref: ResolvedReference, digest: str, auth: Mapping[str, str] | None
    ) -> bool:
        """Whether the repository already has the blob."""

    @abc.abstractmethod
    def open_blob(
        self, ref: ResolvedReference, digest: str, auth: Mapping[str, str] | None
    ) -> BinaryIO:
        """A stream of the blob's bytes; the caller verifies the digest as it reads."""

    @abc.abstractmethod
    def put_blob(
        self,
        ref: ResolvedReference,
        digest: str,
        data: BinaryIO,
        size: int,
        auth: Mapping[str, str] | None,
    ) -> None:
        """Upload a blob (or mount it from another repository of the same registry)."""
