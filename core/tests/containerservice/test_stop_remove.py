"""Stopping, killing and removing containers; --rm; what a removal leaves (nothing)."""

from __future__ import annotations

import asyncio
import contextlib
import os

import pytest
from berth.engine.containers.service import CONTAINER_REF
from berth.engine.errors import Conflict

from .harness import Harness


def _running(harness: Harness, cmd: list[str], **config: object) -> str:
    cid = harness.create(cmd, **config)
    harness.run(harness.service.start(cid))
    return cid


def test_stop_sends_term_then_records_143(harness: Harness) -> None:
    cid = _running(harness, ["sleep", "100"])
    pid = harness.service.store.get(cid).state.pid  # type: ignore[union-attr]
    assert pid > 0 and os.path.exists(f"/proc/{pid}")
    assert harness.run(harness.service.stop(cid, 5)) is True
    state = harness.run(harness.service.inspect(cid))["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 143
    assert harness.actions(cid)[-3:] == ["kill", "die", "stop"]
    kill = next(e for e in harness.events if e.action == "kill")
    assert kill.attributes["signal"] == "15" and kill.attributes["name"]
    die = next(e for e in harness.events if e.action == "die")
    assert die.attributes["exitCode"] == "143" and die.attributes["image"] == "busybox"
    assert harness.run(harness.service.stop(cid)) is False  # 304: not running


def test_stop_kills_what_ignores_the_signal_after_the_timeout(harness: Harness) -> None:
    cid = _running(harness, ["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"])
    harness.run(asyncio.sleep(0.2))  # the trap is set
    harness.run(harness.service.stop(cid, 1))
    assert harness.run(harness.service.inspect(cid))["State"]["ExitCode"] == 137
    signals = [e.attributes["signal"] for e in harness.events if e.action == "kill"]
    assert signals == ["15", "9"]


def test_remove_running_needs_force(harness: Harness) -> None:
    cid = _running(harness, ["sleep", "100"])
    with pytest.raises(Conflict, match="container is running: stop the container"):
        harness.run(harness.service.remove(cid))
    assert harness.service.store.get(cid) is not None
    harness.run(harness.service.remove(cid, force=True))
    assert harness.service.store.get(cid) is None
    assert harness.actions(cid)[-3:] == ["kill", "die", "destroy"]
    assert not harness.driver.exists(cid)
    assert harness.driver.mounts == {}
    assert not (harness.root / "run" / "containers" / cid).exists()
    for layer in harness.images.layers.all():
        assert CONTAINER_REF + cid not in layer.references


def test_auto_remove_answers_wait_removed_after_the_removal(harness: Harness) -> None:
    cid = harness.create(["sh", "-c", "exit 7"], HostConfig={"AutoRemove": True})

    async def scenario() -> tuple[int, str]:
        removed = await harness.service.wait(cid, "removed")
        await harness.service.start(cid)
        result = await asyncio.wait_for(removed, 10)
        assert harness.service.store.get(cid) is None  # gone before the answer
        return result

    assert harness.run(scenario()) == (7, "")
    assert harness.actions(cid) == ["create", "start", "die", "destroy"]
    assert not harness.driver.exists(cid)


def test_layers_are_referenced_while_the_container_exists(harness: Harness) -> None:
    from berth.engine.images.errors import ImageConflict

    cid = harness.create(["true"])
    top = harness.images.resolve("busybox").config.top_chain_id
    assert CONTAINER_REF + cid in harness.images.layers.require(top).references  # type: ignore[arg-type]
    with pytest.raises(ImageConflict, match="being used by stopped container"):
        harness.images.remove(harness.image_id, force=False)
    harness.run(harness.service.remove(cid))
    assert CONTAINER_REF + cid not in harness.images.layers.require(top).references  # type: ignore[arg-type]


def test_kill_with_a_signal_keeps_running_if_handled(harness: Harness) -> None:
    cid = _running(harness, ["sh", "-c", "trap 'echo got' USR1; while :; do sleep 0.05; done"])
    harness.run(asyncio.sleep(0.2))
    harness.run(harness.service.kill(cid, "SIGUSR1"))
    harness.run(asyncio.sleep(0.3))
    assert harness.service.store.get(cid).state.running  # type: ignore[union-attr]
    harness.run(harness.service.kill(cid))
    state = harness.run(harness.service.inspect(cid))["State"]
    assert not state["Running"] and state["ExitCode"] == 137


def test_a_wedged_monitor_does_not_block_rm_force(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal

    from berth.engine.containers import service as service_module
    from berth.engine.containers import supervisor as supervisor_module

    monkeypatch.setattr(service_module, "KILL_WAIT", 1.0)
    monkeypatch.setattr(supervisor_module, "KILL_TIMEOUT", 0.5)
    cid = _running(harness, ["sleep", "100"])
    container = harness.service.store.get(cid)
    assert container is not None
    init = container.state.pid
    monitor = int((harness.root / "run" / "containers" / cid / "monitor.pid").read_text())
    os.kill(monitor, signal.SIGSTOP)  # wedged: it answers nothing any more
    try:
        harness.run(harness.service.remove(cid, force=True))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(init, signal.SIGKILL)  # the fork launcher's init has no runtime to kill it
    assert harness.service.store.get(cid) is None
    assert ("kill", str(harness.root / "run" / "containers" / cid)) in harness.runtime.calls
    assert "container.monitor_killed" in [r["event"] for r in harness.log.records]
    assert harness.driver.mounts == {}
