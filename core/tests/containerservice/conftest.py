"""Fixtures of the container service's tests (see harness.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import MONITOR_TESTS, Harness


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    monkeypatch.syspath_prepend(str(MONITOR_TESTS))  # the fork launcher's import directory
    made = Harness(tmp_path)
    try:
        yield made
    finally:
        made.close()
