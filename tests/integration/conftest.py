from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.integration.daemon import Daemon, make_daemon


@pytest.fixture(scope="module")
def berthd() -> Iterator[Daemon]:
    """One real berthd for the module's tests (they only read from it)."""
    daemon = make_daemon()
    try:
        daemon.start()
        yield daemon
        code = daemon.stop()
        assert code == 0, f"berthd did not stop cleanly ({code}):\n{daemon.log()}"
    finally:
        daemon.cleanup()


@pytest.fixture
def fresh_daemon() -> Iterator[Daemon]:
    """A daemon, not started, that the test configures and starts itself."""
    daemon = make_daemon()
    yield daemon
    daemon.cleanup()


needs_docker_cli = pytest.mark.skipif(
    shutil.which("docker") is None, reason="the docker CLI is not on PATH"
)
