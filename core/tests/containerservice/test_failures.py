"""Bad inputs and failed starts: Docker's statuses, texts and exit codes."""

from __future__ import annotations

import asyncio

import pytest
from berth.engine.errors import BadParameter, Conflict, NotFound

from .harness import Harness


def test_unknown_image_is_404_with_dockers_text(harness: Harness) -> None:
    with pytest.raises(NotFound, match=r"^No such image: nope:latest$"):
        harness.run(harness.service.create("", {"Image": "nope", "Cmd": ["true"]}))
    assert len(harness.service.store) == 0


def test_missing_command_and_image_are_400(harness: Harness) -> None:
    with pytest.raises(BadParameter):
        harness.run(harness.service.create("", {"Cmd": ["true"]}))
    with pytest.raises(BadParameter, match="unknown or invalid runtime name: foo"):
        harness.run(
            harness.service.create("", {"Image": "busybox", "HostConfig": {"Runtime": "foo"}})
        )


def test_name_conflict_is_409_and_leaves_nothing(harness: Harness) -> None:
    first = harness.create(["true"], name="web")
    layers_before = set(p.name for p in harness.driver.root.iterdir())
    with pytest.raises(Conflict, match='The container name "/web" is already in use by container'):
        harness.create(["true"], name="web")
    assert set(p.name for p in harness.driver.root.iterdir()) == layers_before
    assert [c.id for c in harness.service.store] == [first]


def test_invalid_name_and_restart_policy_are_400(harness: Harness) -> None:
    with pytest.raises(BadParameter, match="Invalid container name"):
        harness.create(["true"], name="bad name")
    with pytest.raises(BadParameter, match="unknown policy 'sometimes'"):
        harness.create(["true"], HostConfig={"RestartPolicy": {"Name": "sometimes"}})
    with pytest.raises(BadParameter, match="AutoRemove"):
        harness.create(
            ["true"], HostConfig={"AutoRemove": True, "RestartPolicy": {"Name": "always"}}
        )
    assert len(harness.service.store) == 0


@pytest.mark.parametrize(
    ("cmd", "code", "text"),
    [
        (["nope-not-here"], 127, 'exec: "nope-not-here": executable file not found in $PATH'),
        (["/etc/passwd"], 126, "permission denied"),
    ],
)
def test_start_failure_records_the_exit_code(
    harness: Harness, cmd: list[str], code: int, text: str
) -> None:
    from berth.engine.containers.supervisor import StartFailed

    cid = harness.create(cmd)
    waited = harness.run(harness.service.wait(cid, "next-exit"))
    with pytest.raises(StartFailed) as failed:
        harness.run(harness.service.start(cid))
    assert failed.value.status == 400 and failed.value.exit_code == code
    assert text in str(failed.value)
    assert not waited.done()  # it never ran, so it did not exit (Docker's next-exit waits on)
    assert harness.run(harness.service.wait(cid, "not-running")).result() == (code, "")
    state = harness.run(harness.service.inspect(cid))["State"]
    assert state["ExitCode"] == code and text in state["Error"]
    assert state["Status"] == "created" and not state["Running"]
    assert harness.driver.mounts == {}
    assert "start" not in harness.actions(cid)


def test_start_failure_with_rm_removes_the_container(harness: Harness) -> None:
    from berth.engine.containers.supervisor import StartFailed

    cid = harness.create(["nope-not-here"], HostConfig={"AutoRemove": True})
    removed = harness.run(harness.service.wait(cid, "removed"))
    with pytest.raises(StartFailed):
        harness.run(harness.service.start(cid))
    assert harness.run(asyncio.wait_for(removed, 5))[0] == 127
    assert harness.service.store.get(cid) is None
    assert harness.actions(cid)[-1] == "destroy"


def test_bad_signal_is_400_and_kill_of_a_stopped_container_409(harness: Harness) -> None:
    cid = harness.create(["true"])
    with pytest.raises(BadParameter, match=r"^Invalid signal: NOPE$"):
        harness.run(harness.service.kill(cid, "NOPE"))
    with pytest.raises(Conflict, match=f"^Container {cid} is not running$"):
        harness.run(harness.service.kill(cid, "TERM"))
    with pytest.raises(NotFound, match=r"^No such container: zzz$"):
        harness.run(harness.service.kill("zzz", "TERM"))
