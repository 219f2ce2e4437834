"""Image references as Docker parses them: ``busybox`` → ``docker.io/library/busybox:latest``.

The grammar and error texts are those of Docker's reference library (distribution/reference),
so users see the messages they know: ``invalid reference format``, ``invalid reference format:
repository name (library/UPPER) must be lowercase``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from berth.engine.images import digests
from berth.engine.images.errors import InvalidReference

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*"
REFERENCE_RE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
TAG_RE = re.compile(rf"^{_TAG}$")
IDENTIFIER_RE = re.compile(r"^[a-f0-9]{64}$")


@dataclass(frozen=True)
class Reference:
    """A normalised reference: ``domain/path`` plus an optional tag and digest."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}"

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    @property
    def familiar_name(self) -> str:
        """``docker.io/library/busybox`` → ``busybox``; ``docker.io/me/x`` → ``me/x``."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        path = self.path
        if path.startswith(OFFICIAL_PREFIX) and path.count("/") == 1:
            path = path[len(OFFICIAL_PREFIX) :]
        return path

    @property
    def familiar(self) -> str:
        """The familiar string: ``busybox:latest``, ``busybox@sha256:…``."""
        text = self.familiar_name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text

    @property
    def name_only(self) -> bool:
        return self.tag is None and self.digest is None

    def with_tag(self, tag: str) -> Reference:
        if not TAG_RE.match(tag):
            raise InvalidReference("invalid tag format")
        return Reference(self.domain, self.path, tag, None)

    def tag_or_latest(self) -> Reference:
        """Docker's TagNameOnly: a bare name gets ``:latest``; tags and digests stay."""
        if self.name_only:
            return Reference(self.domain, self.path, DEFAULT_TAG, None)
        return self


def _split_domain(name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    if not slash or (
        not (set(first) & {".", ":"}) and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == LEGACY_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def parse(text: str) -> Reference:
    """Parse and normalise a reference the way ``docker`` does (ParseNormalizedNamed)."""
    if IDENTIFIER_RE.match(text):
        raise InvalidReference(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_domain(text)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise InvalidReference(
            f"invalid reference format: repository name ({remote}) must be lowercase"
        )
    return _parse_full(f"{domain}/{remainder}", text)


def _parse_full(full: str, original: str) -> Reference:
    match = REFERENCE_RE.match(full)
    if match is None:
        if original == "":
            raise InvalidReference(
                "invalid reference format: repository name must have at least one component"
            )
        if REFERENCE_RE.match(full.lower()):
            raise InvalidReference("invalid reference format: repository name must be lowercase")
        raise InvalidReference("invalid reference format")
    name, tag, digest = match.group(1), match.group(2), match.group(3)
    if len(name) > NAME_MAX:
        raise InvalidReference(
            f"invalid reference format: repository name must not be more than {NAME_MAX} characters"
        )
    if digest is not None:
        digest = digests.validate(digest)
    domain, _, path = name.partition("/")
    return Reference(domain, path, tag, digest)


def repo_tag(repo: str, tag: str) -> Reference:
    """Docker's RepoTagReference: ``repo`` (maybe with a tag) plus ``tag`` → ``name:tag``."""
    ref = parse(repo)
    if ref.digest is not None:
        raise InvalidReference("refusing to create a tag with a digest reference")
    if tag:
        ref = ref.with_tag(tag)
    return ref.tag_or_latest()
