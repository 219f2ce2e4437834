"""Errors of the image store, each one line with Docker's wording and HTTP status."""

from __future__ import annotations

from berth.engine.errors import BadParameter, BerthError, Conflict, NotFound


class InvalidReference(BadParameter):
    """A name, tag or digest that does not parse (Docker: ``invalid reference format``)."""


class ImageNotFound(NotFound):
    """No image answers to the name or ID (Docker: ``No such image: busybox:latest``)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"No such image: {what}")
        self.what = what


class ImageConflict(Conflict):
    """The image cannot be removed as asked (children, containers, several repositories)."""


class InvalidContent(BadParameter):
    """Content that is not what it claims: a digest or diff ID mismatch, a broken tar, a bad
    manifest, a truncated stream."""


class InvalidArchive(BadParameter):
    """An image archive (docker-archive or OCI layout) that cannot be loaded."""


class UnsupportedContent(BadParameter):
    """Well-formed content berth refuses: schema 1 manifests, unknown media types."""


class StoreUnavailable(BerthError):
    """No storage driver is usable, so there is no image store."""

    status = 503
