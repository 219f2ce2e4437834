"""The lean paths of `berth exec` and `berth run` (berth.cli.fastpath, the `berth` entry point)
answer exactly as the full click CLI does — output, stderr, exit status, what is left behind —
and hand every other form to it."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import CLIENT, berth_ok, needs_busybox
from tests.e2e.containers import container_daemon
from tests.integration.daemon import Daemon

pytestmark = needs_busybox

FAST = [sys.executable, "-m", "berth.cli.fastpath"]

# taken by the lean path: its answer must not need click
PLAIN = [
    ["fp", "sh", "-c", "echo out; echo err >&2; exit 3"],
    ["-e", "A=1", "--env=B=two words", "-w", "/tmp", "fp", "sh", "-c", 'echo "$A $B"; pwd'],
    ["-u", "nobody", "fp", "id", "-u"],
    ["--user=0:0", "--privileged", "fp", "id"],
    ["fp", "nope"],  # 127, the runtime's message
    ["fp", "/etc/passwd"],  # 126
    ["fp", "sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x; echo; echo done >&2"],
]
# handed to the full CLI: flags it does not parse, errors before the command starts
HANDED_OVER = [
    ["nosuch", "true"],
    ["stopped", "true"],
    ["-d", "fp", "true"],
    ["-e", "HOME", "fp", "sh", "-c", "echo $HOME"],
    ["fp"],
    ["--help"],
    ["--bogus", "fp", "true"],
]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with container_daemon(tmp_path_factory.mktemp("fastpath")) as started:
        berth_ok(started, "run", "-d", "--name", "fp", "busybox", "sleep", "600")
        berth_ok(started, "create", "--name", "stopped", "busybox", "true")
        try:
            yield started
        finally:
            subprocess.run(
                [*CLIENT, "rm", "-f", "fp", "stopped"],
                env={**started.env, "BERTH_HOST": started.host},
                capture_output=True,
                timeout=60,
            )


def _run(daemon: Daemon, argv: list[str]) -> tuple[int, bytes, bytes]:
    done = subprocess.run(
        argv,
        env={**daemon.env, "BERTH_HOST": daemon.host},
        input=b"",
        capture_output=True,
        timeout=60,
    )
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("args", PLAIN + HANDED_OVER, ids=lambda a: " ".join(a)[:40])
def test_answers_as_the_full_cli(daemon: Daemon, args: list[str]) -> None:
    assert _run(daemon, [*FAST, "exec", *args]) == _run(daemon, [*CLIENT, "exec", *args])


LEAN_PROBE = """
import sys
from berth.cli import fastpath
code = fastpath.fast_exec(sys.argv[1:])
sys.stdout.flush()
print("code", code, "click" in sys.modules, "json" in sys.modules, file=sys.stderr)
"""


@pytest.mark.parametrize("args", PLAIN, ids=lambda a: " ".join(a)[:40])
def test_plain_forms_stay_lean(daemon: Daemon, args: list[str]) -> None:
    _, _, err = _run(daemon, [sys.executable, "-c", LEAN_PROBE, *args])
    last = err.decode().splitlines()[-1].split()
    assert last[0] == "code" and last[1] != "None", err
    assert last[2:] == ["False", "False"], "the lean path imported click or json"


@pytest.mark.parametrize("args", HANDED_OVER, ids=lambda a: " ".join(a)[:40])
def test_other_forms_are_handed_over(daemon: Daemon, args: list[str]) -> None:
    _, _, err = _run(daemon, [sys.executable, "-c", LEAN_PROBE, *args])
    assert err.decode().splitlines()[-1].split()[:2] == ["code", "None"]


# --- run -----------------------------------------------------------------------------------------

RUN_PLAIN = [
    ["--rm", "--network", "none", "busybox", "sh", "-c", "echo out; echo err >&2; exit 4"],
    ["--rm", "-e", "A=1", "--env=B=x y", "-w", "/tmp", "-u", "nobody", "busybox", "sh", "-c",
     'echo "$A $B $(pwd) $(id -u)"'],
    ["--rm", "--hostname", "fast", "-l", "k=v", "--init", "busybox", "hostname"],
    ["--rm", "busybox", "nosuch"],  # 127 from the start
    ["--rm", "busybox", "/etc"],  # 126
    ["--rm", "busybox"],  # the image's command
    ["--rm", "--memory", "64m", "--pids-limit", "50", "busybox", "true"],
]  # fmt: skip
RUN_HANDED_OVER = [
    ["--rm", "nosuchimage", "true"],  # the full CLI tries a pull
    ["--rm", "--memory", "12x", "busybox", "true"],  # a flag value that does not parse
    ["--rm", "-i", "busybox", "true"],
    ["--rm", "-it", "busybox", "true"],
    ["--rm", "--bogus", "busybox", "true"],
    ["--rm", "--sig-proxy=false", "busybox", "true"],
    ["--rm"],
]

_IDS = re.compile(rb"\b[0-9a-f]{12}(?:[0-9a-f]{52})?\b")


def _masked(answer: tuple[int, bytes, bytes]) -> tuple[int, bytes, bytes]:
    code, out, err = answer
    return code, _IDS.sub(b"<id>", out), _IDS.sub(b"<id>", err)


def _containers(daemon: Daemon) -> list[str]:
    return sorted(berth_ok(daemon, "ps", "-a", "--format", "{{.Names}}").splitlines())


@pytest.mark.parametrize("args", RUN_PLAIN + RUN_HANDED_OVER, ids=lambda a: " ".join(a)[:40])
def test_run_answers_as_the_full_cli(daemon: Daemon, args: list[str]) -> None:
    before = _containers(daemon)
    fast = _masked(_run(daemon, [*FAST, "run", *args]))
    assert _containers(daemon) == before, "--rm left a container behind"
    assert fast == _masked(_run(daemon, [*CLIENT, "run", *args]))


def test_run_detached_starts_and_prints_the_id(daemon: Daemon) -> None:
    code, out, err = _run(daemon, [*FAST, "run", "-d", "--name", "fp-d", "busybox", "sleep", "60"])
    try:
        assert (code, err) == (0, b"")
        ident = out.decode().strip()
        assert re.fullmatch(r"[0-9a-f]{64}", ident)
        assert berth_ok(daemon, "inspect", "-f", "{{.State.Running}} {{.Id}}", "fp-d").split() == [
            "true",
            ident,
        ]
    finally:
        _run(daemon, [*CLIENT, "rm", "-f", "fp-d"])


RUN_PROBE = """
import sys
from berth.cli import fastpath
code = fastpath.fast_run(sys.argv[1:])
sys.stdout.flush()
print("code", code, "click" in sys.modules, file=sys.stderr)
"""


@pytest.mark.parametrize("args", RUN_PLAIN, ids=lambda a: " ".join(a)[:40])
def test_run_plain_forms_skip_click(daemon: Daemon, args: list[str]) -> None:
    _, _, err = _run(daemon, [sys.executable, "-c", RUN_PROBE, *args])
    last = err.decode().splitlines()[-1].split()
    assert last[0] == "code" and last[1] != "None", err
    assert last[2] == "False", "the lean run imported click"


@pytest.mark.parametrize("args", RUN_HANDED_OVER, ids=lambda a: " ".join(a)[:40])
def test_run_other_forms_are_handed_over(daemon: Daemon, args: list[str]) -> None:
    before = _containers(daemon)
    _, _, err = _run(daemon, [sys.executable, "-c", RUN_PROBE, *args])
    assert err.decode().splitlines()[-1].split()[:2] == ["code", "None"]
    assert _containers(daemon) == before


# --- images --------------------------------------------------------------------------------------

IMAGES_FORMS = [
    [],
    ["-q"],
    ["-a", "--digests", "--no-trunc"],
    ["--format", "{{.Repository}}:{{.Tag}} {{.ID}}"],
    ["--format=table {{.ID}}\t{{.Size}}", "busybox"],
    ["nosuch"],
    ["--format", "{{.Bad"],  # handed over: the full CLI reports the template error
    ["--filter", "dangling=true"],  # handed over: not read by the fast path
]


_AGO = re.compile(rb"(Less than a second|About an? \w+|\d+ \w+) ago")
_SPACES = re.compile(rb" {2,}")


def _timeless(answer: tuple[int, bytes, bytes]) -> tuple[int, bytes, bytes]:
    """The answer with CREATED ages (which move between two runs) and column padding evened."""
    code, out, err = answer
    return code, _SPACES.sub(b"  ", _AGO.sub(b"<ago>", out)), err


@pytest.mark.parametrize("args", IMAGES_FORMS, ids=lambda a: " ".join(a)[:40] or "plain")
def test_images_answers_as_the_full_cli(daemon: Daemon, args: list[str]) -> None:
    fast = _timeless(_run(daemon, [*FAST, "images", *args]))
    assert fast == _timeless(_run(daemon, [*CLIENT, "images", *args]))
