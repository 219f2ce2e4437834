"""The registry contract: resolve references, move manifests and blobs, authenticate.

Credentials (``auth``) are Docker's AuthConfig keys: ``username``, ``password``,
``identitytoken``, ``registrytoken``. The engine decides which endpoint serves a reference
(mirrors first for Docker Hub) by setting :attr:`ResolvedReference.endpoint`; the client
turns the daemon's registry settings (:class:`RegistrySettings`) into connections.
Failures are :class:`RegistryError` subclasses, each one line a user can act on.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO


@dataclass(frozen=True)
class ResolvedReference:
    """``busybox`` → registry ``docker.io``, repository ``library/busybox``, tag ``latest``.

    ``endpoint`` is the base URL to ask (``https://registry-1.docker.io``, a mirror's URL);
    empty means the registry's own endpoint.
    """

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None
    endpoint: str = ""

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


@dataclass(frozen=True)
class RegistrySettings:
    """The daemon's registry configuration (``daemon.json`` keys of the same names)."""

    mirrors: tuple[str, ...] = ()
    insecure_registries: tuple[str, ...] = ()
    certs_dir: Path = Path("/etc/berth/certs.d")
    #: seconds without a byte before a transfer counts as stalled
    stall_timeout: float = 30.0
    #: attempts of one request (500s, dropped connections) before giving up
    attempts: int = 4
    #: blobs larger than this are uploaded in chunks of this size
    chunk_size: int = 32 << 20
    #: loopback registries (127.0.0.0/8, ::1, localhost) count as insecure, as in Docker
    loopback_insecure: bool = True


@dataclass(frozen=True)
class Endpoint:
    """One place a registry answers: its base URL, and whether it is a mirror."""

    url: str
    mirror: bool = False


class RegistryError(Exception):
    """A registry said no, or could not be reached; the message is one line for the user."""

    status = 500


class RegistryAuthError(RegistryError):
    """Credentials missing or refused (HTTP 401/403)."""

    status = 401


class RegistryNotFound(RegistryError):
    """The registry does not know the repository, tag, manifest or blob."""

    status = 404


class RegistryUnavailable(RegistryError):
    """The registry cannot be reached, keeps failing, or stalled."""

    status = 502


class RegistryContentError(RegistryError):
    """The registry sent content that is not what it claims (digest mismatch, bad JSON)."""

    status = 400


class RegistryClient(abc.ABC):
    settings: RegistrySettings = RegistrySettings()

    def configure(self, settings: RegistrySettings) -> None:
        """Take the daemon's registry settings (called once, before any request)."""
        self.settings = settings

    def endpoints(self, registry: str) -> list[Endpoint]:
        """Where to ask for ``registry``'s content, in order (mirrors first)."""
        return [Endpoint(f"https://{registry}")]

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
        mount_from: str | None = None,
    ) -> bool:
        """Upload a blob, or mount it from repository ``mount_from`` of the same registry;
        return whether it was mounted (nothing sent)."""

    def list_tags(self, ref: ResolvedReference, auth: Mapping[str, str] | None) -> list[str]:
        """The tags of ``ref``'s repository."""
        raise RegistryError("this registry client cannot list tags")
