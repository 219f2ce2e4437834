"""The container service's lifecycle with real monitors (fork launcher): create, start, exit,
wait, logs, attach, stop, kill, remove, --rm, restart policies, daemon restarts."""

from __future__ import annotations

import asyncio

from .harness import Harness


def test_run_echo_logs_and_exit_code(harness: Harness) -> None:
    cid = harness.create(["echo", "hi"])
    service = harness.service
    waited = harness.run(service.wait(cid, "next-exit"))
    assert harness.run(service.start(cid)) is True
    code, error = harness.run(asyncio.wait_for(waited, 10))
    assert (code, error) == (0, "")
    data = harness.run(service.inspect(cid))
    assert data["State"]["Status"] == "exited"
    assert data["State"]["ExitCode"] == 0
    assert harness.actions(cid) == ["create", "start", "die"]


def _log_text(harness: Harness, cid: str, **query: object) -> bytes:
    from berth.engine.containers.logs import LogQuery

    async def read() -> bytes:
        _tty, chunks = await harness.service.logs(cid, LogQuery(**query))  # type: ignore[arg-type]
        return b"".join([c async for c in chunks])

    return harness.run(read())


def test_output_lands_in_the_json_log(harness: Harness) -> None:
    cid = harness.create(["sh", "-c", "echo out; echo err >&2; exit 3"])
    waited = harness.run(harness.service.wait(cid, "next-exit"))
    harness.run(harness.service.start(cid))
    assert harness.run(asyncio.wait_for(waited, 10)) == (3, "")
    framed = _log_text(harness, cid)
    assert b"\x01\x00\x00\x00\x00\x00\x00\x04out\n" in framed
    assert b"\x02\x00\x00\x00\x00\x00\x00\x04err\n" in framed
    only_err = _log_text(harness, cid, stdout=False)
    assert b"out" not in only_err and b"err\n" in only_err


def test_attach_before_start_gets_buffered_stdin_and_all_output(harness: Harness) -> None:
    from berth.engine.containers.attach import AttachOptions

    from .harness import FakeClient

    cid = harness.create(["cat"], OpenStdin=True, StdinOnce=True, AttachStdin=True)
    service = harness.service

    async def scenario() -> FakeClient:
        options = AttachOptions(stream=True, stdin=True, stdout=True, stderr=True)
        tty, handler = await service.attach(cid, options)
        assert tty is False
        client = FakeClient([b"hello ", b"world\n"])  # stdin and its end before the start
        task = asyncio.ensure_future(handler(client))
        await asyncio.sleep(0.05)
        waited = await service.wait(cid, "next-exit")
        await service.start(cid)
        await asyncio.wait_for(task, 10)
        assert await asyncio.wait_for(waited, 10) == (0, "")
        return client

    client = harness.run(scenario())
    assert client.stream(1) == b"hello world\n"
    assert harness.actions(cid) == ["create", "attach", "start", "die"]


def test_attach_with_a_tty_is_raw(harness: Harness) -> None:
    from berth.engine.containers.attach import AttachOptions

    from .harness import FakeClient

    cid = harness.create(["sh", "-c", "printf 'a\\nb\\n'"], Tty=True)

    async def scenario() -> FakeClient:
        tty, handler = await harness.service.attach(
            cid, AttachOptions(stream=True, stdout=True, stderr=True)
        )
        assert tty is True
        client = FakeClient()
        task = asyncio.ensure_future(handler(client))
        await harness.service.start(cid)
        await asyncio.wait_for(task, 10)
        return client

    client = harness.run(scenario())
    assert bytes(client.output).replace(b"\r\n", b"\n") == b"a\nb\n"
