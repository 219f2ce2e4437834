"""Docker Hub's conventions: ``busybox`` → ``docker.io/library/busybox:latest``, and
``docker.io`` served by ``registry-1.docker.io``."""

from __future__ import annotations

import re

from berth.plugins import ResolvedReference

HUB = "docker.io"
HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
HUB_ENDPOINT = "https://registry-1.docker.io"
OFFICIAL = "library/"

_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG_RE = re.compile(r"^[\w][\w.-]{0,127}$")
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


def split_registry(name: str) -> tuple[str, str]:
    """``(registry, repository)`` of a name, Docker Hub's ``library/`` added."""
    first, slash, rest = name.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        registry, path = first, rest
    else:
        registry, path = HUB, name
    if registry in HUB_ALIASES:
        registry = HUB
    if registry == HUB and "/" not in path:
        path = OFFICIAL + path
    return registry, path


def resolve(reference: str) -> ResolvedReference:
    text = reference.strip()
    digest: str | None = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not _DIGEST_RE.match(digest):
            raise ValueError(f"invalid reference format: bad digest {digest!r}")
    tag: str | None = None
    slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > slash:
        text, tag = text[:colon], text[colon + 1 :]
        if not _TAG_RE.match(tag):
            raise ValueError(f"invalid reference format: bad tag {tag!r}")
    if not text:
        raise ValueError("invalid reference format: repository name must have at least one part")
    registry, path = split_registry(text)
    if not _PATH_RE.match(path):
        raise ValueError(f"invalid reference format: repository name {path!r}")
    if tag is None and digest is None:
        tag = "latest"
    return ResolvedReference(registry, path, tag, digest)


def registry_endpoint(registry: str) -> str:
    """The default base URL of a registry (before insecure-registries rules)."""
    if registry in HUB_ALIASES:
        return HUB_ENDPOINT
    return f"https://{registry}"
