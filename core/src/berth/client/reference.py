"""Image references as the docker CLI reads them: `busybox`, `host:5000/a/b:tag`, `x@sha256:…`.

The grammar and the error messages are those of Docker's reference library (its
`ParseNormalizedNamed`, `ParseAnyReference` and `FamiliarName`), so that berth refuses what
docker refuses, in the same words. `busybox` is short for `docker.io/library/busybox`; the
"familiar" form drops those parts again for display.
"""

from __future__ import annotations

import re

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
NAME_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"

_REFERENCE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
_IDENTIFIER = re.compile(r"[a-f0-9]{64}")
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


class ReferenceError(ValueError):
    """Not a valid reference; the message is Docker's."""


class Reference:
    """A parsed, normalised reference: domain, path, and a tag and/or digest (or neither)."""

    __slots__ = ("digest", "domain", "path", "tag")

    def __init__(self, domain: str, path: str, tag: str = "", digest: str = "") -> None:
        self.domain = domain
        self.path = path
        self.tag = tag
        self.digest = digest

    @property
    def name(self) -> str:
        """The full name: `docker.io/library/busybox`."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The name as people type it: `busybox`, `me/app`, `host:5000/app`."""
        if self.domain == DEFAULT_DOMAIN:
            rest = self.path
            if rest.startswith(OFFICIAL_PREFIX) and "/" not in rest[len(OFFICIAL_PREFIX) :]:
                rest = rest[len(OFFICIAL_PREFIX) :]
            return rest
        return self.name

    def familiar(self) -> str:
        """The whole reference in familiar form: `busybox:latest`, `me/app@sha256:…`."""
        text = self.familiar_name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def with_default_tag(self) -> Reference:
        """`busybox` becomes `busybox:latest` (a digest reference stays as it is)."""
        if self.tag or self.digest:
            return self
        return Reference(self.domain, self.path, "latest")

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text

    def __repr__(self) -> str:
        return f"Reference({str(self)!r})"


def _check_digest(digest: str) -> None:
    algorithm, _, encoded = digest.partition(":")
    want = _DIGEST_LENGTHS.get(algorithm)
    if want is None:
        raise ReferenceError("unsupported digest algorithm")
    if len(encoded) != want:
        raise ReferenceError("invalid checksum digest length")
    if not re.fullmatch(r"[a-f0-9]+", encoded):
        raise ReferenceError("invalid checksum digest format")


def _split_docker_domain(name: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if not sep or (
        not any(c in first for c in ".:") and first != "localhost" and first.lower() == first
    ):
        domain, remainder = DEFAULT_DOMAIN, name
    else:
        domain, remainder = first, rest
    if domain == LEGACY_DEFAULT_DOMAIN:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in remainder:
        remainder = OFFICIAL_PREFIX + remainder
    return domain, remainder


def _parse(text: str) -> tuple[str, str, str]:
    match = _REFERENCE.fullmatch(text)
    if match is None:
        if not text:
            raise ReferenceError("repository name must have at least one component")
        if _REFERENCE.fullmatch(text.lower()) is not None:
            raise ReferenceError("invalid reference format: repository name must be lowercase")
        raise ReferenceError("invalid reference format")
    name, tag, digest = match.group(1), match.group(2) or "", match.group(3) or ""
    if len(name) > NAME_MAX:
        raise ReferenceError(f"repository name must not be more than {NAME_MAX} characters")
    if digest:
        _check_digest(digest)
    return name, tag, digest


def parse_normalized(text: str) -> Reference:
    """Docker's ParseNormalizedNamed: `busybox` -> docker.io/library/busybox (no default tag)."""
    if _IDENTIFIER.fullmatch(text):
        raise ReferenceError(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_docker_domain(text)
    colon = remainder.find(":")
    remote = remainder[:colon] if colon >= 0 else remainder
    if remote.lower() != remote:
        raise ReferenceError(
            f"invalid reference format: repository name ({remote}) must be lowercase"
        )
    name, tag, digest = _parse(f"{domain}/{remainder}")
    domain, _, path = name.partition("/")
    return Reference(domain, path, tag, digest)


def is_image_id(text: str) -> bool:
    """A full image ID (64 hex digits, with or without `sha256:`)."""
    return _IDENTIFIER.fullmatch(text.removeprefix("sha256:")) is not None


def check_any(text: str) -> None:
    """Docker's ParseAnyReference: an ID, a digest or a name; ReferenceError when none."""
    if _IDENTIFIER.fullmatch(text):
        return
    try:
        _check_digest(text)
    except ReferenceError:
        parse_normalized(text)


def familiar_string(text: str) -> str:
    """A reference the daemon printed (`docker.io/library/busybox:1`) in familiar form; text
    that is not a reference comes back unchanged."""
    try:
        return parse_normalized(text).familiar()
    except ReferenceError:
        return text
