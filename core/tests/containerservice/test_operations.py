"""exec, pause/unpause, rename, resize, logs (follow, tail, timestamps), changes, top, stats,
listing filters, prune, counts."""

from __future__ import annotations

import asyncio
import json

import pytest
from berth.engine.containers.logs import LogQuery
from berth.engine.errors import BadParameter, Conflict, NotFound

from .harness import FakeClient, Harness


def _running(harness: Harness, cmd: list[str], **config: object) -> str:
    cid = harness.create(cmd, **config)
    harness.run(harness.service.start(cid))
    return cid


def test_exec_runs_and_reports_its_exit_code(harness: Harness) -> None:
    cid = _running(harness, ["sleep", "100"])
    service = harness.service
    exec_id = harness.run(
        service.exec_create(
            cid,
            {
                "Cmd": ["sh", "-c", "echo out; echo err >&2; exit 4"],
                "AttachStdout": True,
                "AttachStderr": True,
            },
        )
    )
    assert service.exec_inspect(exec_id)["Running"] is False
    assert harness.run(service.inspect(cid))["ExecIDs"] == [exec_id]

    async def scenario() -> FakeClient:
        tty, handler = await service.exec_start(exec_id, {})
        assert tty is False and handler is not None
        client = FakeClient()
        await asyncio.wait_for(handler(client), 10)
        return client

    client = harness.run(scenario())
    assert client.stream(1) == b"out\n" and client.stream(2) == b"err\n"
    data = service.exec_inspect(exec_id)
    assert data["ExitCode"] == 4 and data["Running"] is False and data["Pid"] > 0
    actions = harness.actions(cid)
    assert "exec_create: sh -c echo out; echo err >&2; exit 4" in actions
    assert actions[-1] == "exec_die"
    with pytest.raises(Conflict, match="has already run"):
        harness.run(service.exec_start(exec_id, {}))


def test_exec_with_stdin_and_a_missing_program(harness: Harness) -> None:
    cid = _running(harness, ["sleep", "100"])
    service = harness.service
    exec_id = harness.run(
        service.exec_create(cid, {"Cmd": ["cat"], "AttachStdin": True, "AttachStdout": True})
    )

    async def run_exec(exec_id: str, stdin: list[bytes]) -> FakeClient:
        _tty, handler = await service.exec_start(exec_id, {})
        assert handler is not None
        client = FakeClient(stdin)
        await asyncio.wait_for(handler(client), 10)
        return client

    assert harness.run(run_exec(exec_id, [b"abc"])).stream(1) == b"abc"
    assert service.exec_inspect(exec_id)["ExitCode"] == 0
    missing = harness.run(
        service.exec_create(cid, {"Cmd": ["no-such-program"], "AttachStdout": True})
    )
    client = harness.run(run_exec(missing, []))
    assert b"executable file not found" in client.stream(2)
    assert service.exec_inspect(missing)["ExitCode"] == 127


def test_exec_needs_a_running_container_and_a_command(harness: Harness) -> None:
    cid = harness.create(["true"])
    with pytest.raises(Conflict, match="is not running"):
        harness.run(harness.service.exec_create(cid, {"Cmd": ["true"]}))
    with pytest.raises(BadParameter, match="No exec command specified"):
        harness.run(harness.service.exec_create(cid, {"Cmd": []}))
    with pytest.raises(NotFound, match="No such exec instance: nope"):
        harness.service.exec_inspect("nope")


def test_detached_exec_finishes_on_its_own(harness: Harness) -> None:
    cid = _running(harness, ["sleep", "100"])
    exec_id = harness.run(harness.service.exec_create(cid, {"Cmd": ["sh", "-c", "exit 9"]}))
    _tty, handler = harness.run(harness.service.exec_start(exec_id, {"Detach": True}))
    assert handler is None
    harness.wait_until(lambda: harness.service.exec_inspect(exec_id)["ExitCode"] == 9)


def test_pause_and_unpause(harness: Harness) -> None:
    cid = _running(harness, ["sleep", "100"])
    service = harness.service
    harness.run(service.pause(cid))
    state = harness.run(service.inspect(cid))["State"]
    assert state["Status"] == "paused" and state["Paused"]
    with pytest.raises(Conflict, match="is already paused"):
        harness.run(service.pause(cid))
    with pytest.raises(Conflict, match="is paused"):
        harness.run(service.exec_create(cid, {"Cmd": ["true"]}))
    listed = harness.run(service.list_containers(filters={"status": ["paused"]}))
    assert [c["Id"] for c in listed] == [cid] and listed[0]["Status"].endswith("(Paused)")
    assert service.counts()["ContainersPaused"] == 1
    harness.run(service.unpause(cid))
    with pytest.raises(Conflict, match="is not paused"):
        harness.run(service.unpause(cid))
    assert [c[0] for c in harness.runtime.calls if c[0] in ("pause", "resume")] == [
        "pause",
        "resume",
    ]
    assert harness.actions(cid)[-2:] == ["pause", "unpause"]


def test_rename(harness: Harness) -> None:
    cid = harness.create(["true"], name="old")
    harness.create(["true"], name="taken")
    with pytest.raises(Conflict, match='"/taken" is already in use'):
        harness.run(harness.service.rename("old", "taken"))
    with pytest.raises(BadParameter, match="same name"):
        harness.run(harness.service.rename("old", "old"))
    with pytest.raises(BadParameter, match="may be empty"):
        harness.run(harness.service.rename("old", ""))
    harness.run(harness.service.rename("old", "new"))
    assert harness.run(harness.service.inspect("new"))["Id"] == cid
    with pytest.raises(NotFound):
        harness.run(harness.service.inspect("old"))
    event = next(e for e in harness.events if e.action == "rename")
    assert event.attributes["oldName"] == "/old" and event.attributes["name"] == "new"


def _logs(harness: Harness, cid: str, query: LogQuery) -> bytes:
    async def read() -> bytes:
        _tty, chunks = await harness.service.logs(cid, query)
        return b"".join([c async for c in chunks])

    return harness.run(read())


def test_logs_tail_timestamps_and_follow(harness: Harness) -> None:
    cid = _running(harness, ["sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.1; done"])
    followed = _logs(harness, cid, LogQuery(follow=True))  # ends when the container stops
    assert [p for _, p in FakeClient.frames_of(followed)] == [b"line1\n", b"line2\n", b"line3\n"]
    tail = _logs(harness, cid, LogQuery(tail=1, timestamps=True))
    ((stream, payload),) = FakeClient.frames_of(tail)
    stamp, _, text = payload.partition(b" ")
    assert stream == 1 and text == b"line3\n" and stamp.endswith(b"Z") and len(stamp) == 30
    assert _logs(harness, cid, LogQuery(tail=0)) == b""
    with pytest.raises(BadParameter, match="does not support reading"):
        none = harness.create(["true"], HostConfig={"LogConfig": {"Type": "none"}})
        _logs(harness, none, LogQuery())


def test_changes_hide_the_engines_mount_points(harness: Harness) -> None:
    cid = _running(harness, ["sh", "-c", "true"])
    harness.wait_until(lambda: not harness.service.store.get(cid).state.running)  # type: ignore[union-attr]
    (harness.driver.root / cid / "tmp" / "made").write_text("x")
    (harness.driver.root / cid / "etc" / "hostname").write_text("x")
    changes = harness.run(harness.service.changes(cid))
    assert changes == [{"Path": "/tmp", "Kind": 0}, {"Path": "/tmp/made", "Kind": 1}]


def test_stats_of_running_and_stopped_containers(harness: Harness) -> None:
    cid = _running(harness, ["sleep", "100"], name="st")

    async def one(stream: bool, one_shot: bool) -> list[dict[str, object]]:
        samples = await harness.service.stats(cid, stream, one_shot)
        out = []
        async for sample in samples:
            out.append(sample)
            if len(out) == 2:
                break
        return out

    (sample,) = harness.run(one(False, True))
    assert sample["name"] == "/st" and sample["id"] == cid
    assert sample["memory_stats"] == {"usage": 4096, "limit": 1 << 30}
    assert sample["cpu_stats"]["online_cpus"] >= 1  # type: ignore[index]
    assert sample["preread"] == "0001-01-01T00:00:00Z"
    harness.run(harness.service.kill(cid))
    (stopped,) = harness.run(one(False, True))
    assert stopped["read"] == "0001-01-01T00:00:00Z"


def test_top_lists_the_init(harness: Harness) -> None:
    cid = _running(harness, ["sleep", "100"])
    pid = harness.service.store.get(cid).state.pid  # type: ignore[union-attr]
    found = harness.run(harness.service.top(cid))
    assert "PID" in found["Titles"]
    index = found["Titles"].index("PID")
    assert str(pid) in [row[index] for row in found["Processes"]]
    assert any(row[-1] == "sleep 100" for row in found["Processes"])


def test_listing_filters_and_prune(harness: Harness) -> None:
    service = harness.service
    one = harness.create(["true"], name="one", Labels={"tier": "web"})
    two = _running(harness, ["sleep", "100"], name="two")
    three = _running(harness, ["sh", "-c", "exit 2"], name="three")
    harness.wait_until(lambda: not service.store.get(three).state.running)  # type: ignore[union-attr]

    def ids(**kwargs: object) -> list[str]:
        return [c["Id"] for c in harness.run(service.list_containers(**kwargs))]  # type: ignore[arg-type]

    assert ids() == [two]
    assert ids(all_containers=True) == [three, two, one]
    assert ids(limit=1) == [three]
    assert ids(filters={"status": ["created"]}) == [one]
    assert ids(filters={"exited": ["2"]}) == [three]
    assert ids(filters={"label": ["tier=web"]}, all_containers=True) == [one]
    assert ids(filters={"name": ["^/t"]}, all_containers=True) == [three, two]
    assert ids(filters={"ancestor": ["busybox"]}, all_containers=True) == [three, two, one]
    assert ids(filters={"before": ["three"]}, all_containers=True) == [two, one]
    assert ids(filters={"since": ["one"]}, all_containers=True) == [three, two]
    with pytest.raises(BadParameter, match="invalid filter 'status=nap'"):
        ids(filters={"status": ["nap"]})
    with pytest.raises(BadParameter, match="invalid filter 'bogus'"):
        ids(filters={"bogus": ["x"]})
    summary = harness.run(service.list_containers(all_containers=True, size=True))[0]
    assert summary["Names"] == ["/three"] and summary["Image"] == "busybox"
    assert summary["Status"].startswith("Exited (2) ") and "SizeRw" in summary
    assert service.counts() == {
        "Containers": 3,
        "ContainersRunning": 1,
        "ContainersPaused": 0,
        "ContainersStopped": 2,
    }
    pruned = harness.run(service.prune({"label": ["tier=web"]}))
    assert pruned["ContainersDeleted"] == [one]
    pruned = harness.run(service.prune())
    assert pruned["ContainersDeleted"] == [three]
    assert ids(all_containers=True) == [two]


def test_wait_conditions(harness: Harness) -> None:
    cid = harness.create(["sh", "-c", "exit 6"])
    service = harness.service
    now = harness.run(service.wait(cid, "not-running"))
    assert now.done() and now.result() == (0, "")  # created: not running
    nxt = harness.run(service.wait(cid, "next-exit"))
    removed = harness.run(service.wait(cid, "removed"))
    harness.run(service.start(cid))
    assert harness.run(asyncio.wait_for(nxt, 10)) == (6, "")
    assert not removed.done()
    harness.run(service.remove(cid))
    assert harness.run(asyncio.wait_for(removed, 10)) == (6, "")


def test_resize_needs_a_running_container(harness: Harness) -> None:
    cid = harness.create(["true"], Tty=True)
    with pytest.raises(Conflict, match="is not running"):
        harness.run(harness.service.resize(cid, 20, 80))
    running = _running(harness, ["sleep", "100"], Tty=True)
    harness.run(harness.service.resize(running, 20, 80))
    event = next(e for e in harness.events if e.action == "resize")
    assert event.attributes["height"] == "20" and event.attributes["width"] == "80"
    json.dumps(harness.run(harness.service.inspect(running)))
