"""Restart policies (with Docker's back-off), and what a daemon restart finds: live monitors
re-attached, exits during the outage recorded, policies and --rm applied."""

from __future__ import annotations

import asyncio
import os
import time

from berth.engine.containers.service import ContainerService

from .harness import Harness


def _restart_daemon(harness: Harness) -> ContainerService:
    harness.run(harness.service.shutdown())
    harness.service = harness.open()
    harness.run(harness.service.restore())
    return harness.service


def _state(harness: Harness, cid: str) -> dict[str, object]:
    return harness.run(harness.service.inspect(cid))["State"]  # type: ignore[no-any-return]


def test_on_failure_restarts_up_to_the_count(harness: Harness) -> None:
    policy = {"Name": "on-failure", "MaximumRetryCount": 2}
    cid = harness.create(["sh", "-c", "exit 3"], HostConfig={"RestartPolicy": policy})
    began = time.monotonic()
    harness.run(harness.service.start(cid))
    harness.wait_until(lambda: harness.actions(cid).count("die") == 3)
    harness.run(asyncio.sleep(0.5))  # no fourth run comes
    assert harness.actions(cid).count("start") == 3
    assert time.monotonic() - began >= 0.3  # back-off: 0.1 s, then 0.2 s
    data = harness.run(harness.service.inspect(cid))
    assert data["RestartCount"] == 2
    assert data["State"]["Status"] == "exited" and data["State"]["ExitCode"] == 3


def test_on_failure_does_not_restart_a_success(harness: Harness) -> None:
    cid = harness.create(["true"], HostConfig={"RestartPolicy": {"Name": "on-failure"}})
    harness.run(harness.service.start(cid))
    harness.wait_until(lambda: "die" in harness.actions(cid))
    harness.run(asyncio.sleep(0.3))
    assert harness.actions(cid).count("start") == 1


def test_always_restarts_until_stopped(harness: Harness) -> None:
    cid = harness.create(
        ["sh", "-c", "sleep 0.05"], HostConfig={"RestartPolicy": {"Name": "always"}}
    )
    harness.run(harness.service.start(cid))
    harness.wait_until(lambda: harness.actions(cid).count("start") >= 3)
    harness.run(harness.service.stop(cid, 1))
    starts = harness.actions(cid).count("start")
    harness.run(asyncio.sleep(0.6))
    assert harness.actions(cid).count("start") == starts
    state = _state(harness, cid)
    assert state["Status"] == "exited" and not state["Restarting"]


def test_live_restore_reattaches_a_running_container(harness: Harness) -> None:
    cid = harness.create(["sh", "-c", "echo before; sleep 100"])
    harness.run(harness.service.start(cid))
    pid = _state(harness, cid)["Pid"]
    service = _restart_daemon(harness)
    state = _state(harness, cid)
    assert state["Running"] and state["Pid"] == pid
    assert os.path.exists(f"/proc/{pid}")
    harness.run(service.stop(cid, 1))
    assert _state(harness, cid)["ExitCode"] == 143


def test_an_exit_during_the_outage_is_recorded(harness: Harness) -> None:
    cid = harness.create(["sh", "-c", "sleep 0.3; exit 5"])
    harness.run(harness.service.start(cid))
    harness.run(harness.service.shutdown())
    time.sleep(0.8)  # the daemon is "down" while the container exits
    harness.service = harness.open()
    harness.run(harness.service.restore())
    state = _state(harness, cid)
    assert state["Status"] == "exited" and state["ExitCode"] == 5
    assert harness.actions(cid)[-1] == "die"
    assert harness.driver.mounts == {}


def test_rm_and_policies_apply_to_exits_during_the_outage(harness: Harness) -> None:
    gone = harness.create(["sh", "-c", "sleep 0.3"], HostConfig={"AutoRemove": True})
    back = harness.create(
        ["sh", "-c", "sleep 0.3; exit 1"],
        HostConfig={"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 1}},
    )
    for cid in (gone, back):
        harness.run(harness.service.start(cid))
    harness.run(harness.service.shutdown())
    time.sleep(0.8)
    harness.service = harness.open()
    harness.run(harness.service.restore())
    assert harness.service.store.get(gone) is None
    harness.wait_until(lambda: harness.actions(back).count("start") == 2)


def test_unless_stopped_stays_down_after_a_manual_stop_but_always_comes_back(
    harness: Harness,
) -> None:
    stays = harness.create(
        ["sleep", "100"], HostConfig={"RestartPolicy": {"Name": "unless-stopped"}}
    )
    comes = harness.create(["sleep", "100"], HostConfig={"RestartPolicy": {"Name": "always"}})
    for cid in (stays, comes):
        harness.run(harness.service.start(cid))
        harness.run(harness.service.stop(cid, 1))
    _restart_daemon(harness)
    assert _state(harness, stays)["Status"] == "exited"
    assert _state(harness, comes)["Status"] == "running"


def test_restore_ends_orphan_monitors_and_drops_stale_layer_references(harness: Harness) -> None:
    from berth.engine.containers.service import CONTAINER_REF

    cid = harness.create(["sleep", "100"])
    harness.run(harness.service.start(cid))
    container = harness.service.store.get(cid)
    assert container is not None
    pid = container.state.pid
    harness.run(harness.service.shutdown())
    container.state.running, container.state.pid = False, 0  # as if the start was never saved
    harness.service.store.save(container)
    top = harness.images.resolve("busybox").config.top_chain_id
    assert top is not None
    stale = CONTAINER_REF + "f" * 64
    harness.images.layers.acquire(top, stale)
    harness.service = harness.open()
    harness.run(harness.service.restore())
    harness.wait_until(lambda: not os.path.exists(f"/proc/{pid}/cmdline") or _zombie(pid))
    assert harness.driver.mounts == {}
    assert stale not in harness.images.layers.require(top).references
    assert CONTAINER_REF + cid in harness.images.layers.require(top).references


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True
