"""Fixtures of the container-model tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from berth.plugins.layers import rootfs

from .kit import GROUP, PASSWD, write_rootfs


class RecordingLog:
    """A structlog-like logger that remembers events."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, object]]] = []

    def __getattr__(self, level: str) -> Callable[..., None]:
        def log(event: str, **kw: object) -> None:
            self.events.append((level, event, kw))

        return log

    def names(self) -> list[str]:
        return [event for _, event, _ in self.events]


@pytest.fixture
def log() -> RecordingLog:
    return RecordingLog()


@pytest.fixture
def image_root(tmp_path: Path) -> Path:
    """A root file system with an /etc/passwd and /etc/group."""
    return write_rootfs(tmp_path / "rootfs", PASSWD, GROUP)


@pytest.fixture(params=["openat2", "python"])
def resolver(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a test with the kernel's openat2 and with the component-by-component fallback."""
    old = rootfs.use_openat2(request.param == "openat2")
    if request.param == "openat2" and not old:
        rootfs.use_openat2(old)
        pytest.skip("this kernel has no openat2")
    try:
        yield str(request.param)
    finally:
        rootfs.use_openat2(old)
