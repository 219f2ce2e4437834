"""Registry failures as engine errors: the plugin's one line, with its HTTP status."""

from __future__ import annotations

from berth.engine.errors import BerthError
from berth.plugins import RegistryError


class DistributionError(BerthError):
    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.status = status


def from_registry(exc: RegistryError) -> DistributionError:
    return DistributionError(str(exc), exc.status)


class NoMatchingPlatform(BerthError):
    status = 404


class Cancelled(Exception):
    """Another part of the pull failed: stop this download."""
