"""Fixtures of the client tests: a fake daemon on a temporary socket, a guarded environment."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest
from click.testing import CliRunner, Result

HERE = Path(__file__).parent
FAKE_DAEMON_SCRIPT = HERE / "fake_daemon.py"


def _load_fake_daemon() -> ModuleType:
    name = "berth_cli_tests_fake_daemon"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, FAKE_DAEMON_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


fake_daemon_module = _load_fake_daemon()

from berth.client.autostart import Autostarter  # noqa: E402

REAL_AUTOSTART_CALL = Autostarter.__call__


@pytest.fixture
def fakes() -> ModuleType:
    """The fake daemon module (FakeDaemon, Reply, Stream, SAMPLE_* data)."""
    return fake_daemon_module


@pytest.fixture(autouse=True)
def _no_real_daemon(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No test may reach, or start, the machine's real berthd: point the default elsewhere."""
    nowhere = tmp_path_factory.mktemp("nowhere") / "absent.sock"
    monkeypatch.setenv("BERTH_HOST", f"unix://{nowhere}")
    monkeypatch.delenv("DOCKER_HOST", raising=False)

    def refuse(self: Autostarter, host: object) -> None:
        raise AssertionError(f"a test tried to autostart berthd for {host}")

    monkeypatch.setattr(Autostarter, "__call__", refuse)


@pytest.fixture
def allow_autostart(monkeypatch: pytest.MonkeyPatch) -> None:
    """For the tests of autostart itself (they give it a fake daemon command)."""
    monkeypatch.setattr(Autostarter, "__call__", REAL_AUTOSTART_CALL)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A short directory for sockets (sun_path is limited to 107 bytes)."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="bcli-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def daemon(short_tmp: Path) -> Iterator[object]:
    """A fake daemon with the sample routes on a temporary UNIX socket."""
    fake = fake_daemon_module.FakeDaemon(str(short_tmp / "berth.sock")).start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def berth(daemon: object) -> Callable[..., Result]:
    """Run `berth -H <fake> ARGS...` in-process; returns click's Result."""
    from berth.cli.main import cli

    def run(*args: str, input: str | None = None) -> Result:
        return CliRunner().invoke(cli, ["-H", daemon.url, *args], input=input)  # type: ignore[attr-defined]

    return run
