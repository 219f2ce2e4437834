from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from berth.engine.images.service import ImageService

from .fakedriver import FakeDriver


class NullLog:
    def __getattr__(self, name: str) -> Callable[..., None]:
        return lambda *args, **kwargs: None


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, dict[str, str]]] = []

    def __call__(self, type_: str, action: str, actor: str, **attributes: str) -> None:
        self.seen.append((type_, action, actor, attributes))

    def actions(self) -> list[str]:
        return [action for _, action, _, _ in self.seen]


@pytest.fixture
def driver(tmp_path: Path) -> FakeDriver:
    return FakeDriver(tmp_path / "driver")


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
def open_service(tmp_path: Path, driver: FakeDriver, events: Events) -> Callable[[], ImageService]:
    def make() -> ImageService:
        return ImageService(tmp_path / "image" / "fake", driver, "fake", NullLog(), events)

    return make


@pytest.fixture
def service(open_service: Callable[[], ImageService]) -> ImageService:
    return open_service()


def state_of(root: Path) -> dict[str, Any]:
    """Every file under an image root (relative path -> size), for before/after checks."""
    return {
        str(p.relative_to(root)): p.stat().st_size for p in sorted(root.rglob("*")) if p.is_file()
    }
