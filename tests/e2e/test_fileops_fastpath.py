"""The lean paths of `berth cp` and `berth commit` (berth.cli.fileops_fast, through the `berth`
entry point) answer exactly as the full click CLI does — output, stderr, exit status, what
they copy or make — without loading click, and hand every other form to the full CLI."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import CLIENT, berth_ok, needs_busybox
from tests.e2e.containers import container_daemon
from tests.integration.daemon import Daemon

pytestmark = needs_busybox

FAST = [sys.executable, "-m", "berth.cli.fastpath"]
_IDS = re.compile(rb"\b(?:sha256:)?[0-9a-f]{12}(?:[0-9a-f]{52})?\b")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with container_daemon(tmp_path_factory.mktemp("fileops-fast")) as started:
        script = "mkdir -p /data/sub && echo hi > /data/sub/f && ln -s /data/sub /data/link"
        berth_ok(
            started, "run", "-d", "--name", "fc", "busybox", "sh", "-c", f"{script}; sleep 600"
        )
        berth_ok(started, "exec", "fc", "sh", "-c", "until [ -L /data/link ]; do sleep 0.05; done")
        try:
            yield started
        finally:
            subprocess.run(
                [*CLIENT, "rm", "-f", "fc"],
                env={**started.env, "BERTH_HOST": started.host},
                capture_output=True,
                timeout=60,
            )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    top = tmp_path / "tree"
    (top / "in").mkdir(parents=True)
    (top / "a.txt").write_text("alpha\n")
    (top / "in" / "b.bin").write_bytes(bytes(range(256)) * 40)
    (top / "ln").symlink_to("a.txt")
    return top


def _run(daemon: Daemon, argv: list[str], cwd: Path | None = None) -> tuple[int, bytes, bytes]:
    done = subprocess.run(
        argv,
        env={**daemon.env, "BERTH_HOST": daemon.host},
        input=b"",
        capture_output=True,
        timeout=120,
        cwd=cwd,
    )
    return done.returncode, _IDS.sub(b"<id>", done.stdout), _IDS.sub(b"<id>", done.stderr)


def _listing(daemon: Daemon, path: str) -> str:
    return berth_ok(daemon, "exec", "fc", "sh", "-c", f"cd {path} && ls -lnR . && cat a.txt")


# --- cp ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("flags", [[], ["-a"], ["-q", "--archive"]], ids=str)
def test_cp_into_a_container_as_the_full_cli(daemon: Daemon, tree: Path, flags: list[str]) -> None:
    answers = []
    for client, dest in ((FAST, "/tmp/fast"), (CLIENT, "/tmp/full")):
        answers.append(_run(daemon, [*client, "cp", *flags, str(tree), f"fc:{dest}"]))
    assert answers[0] == answers[1] == (0, b"", b"")
    assert _listing(daemon, "/tmp/fast") == _listing(daemon, "/tmp/full")
    berth_ok(daemon, "exec", "fc", "rm", "-rf", "/tmp/fast", "/tmp/full")


@pytest.mark.parametrize(
    "args",
    [
        ["fc:/data", "out"],
        ["fc:/data/sub/.", "out"],
        ["-L", "fc:/data/link", "out"],
        ["fc:/data/link", "out"],
        ["fc:/data", "-"],
    ],
    ids=lambda a: " ".join(a),
)
def test_cp_from_a_container_as_the_full_cli(
    daemon: Daemon, tmp_path: Path, args: list[str]
) -> None:
    fast_dir, full_dir = tmp_path / "fast", tmp_path / "full"
    fast_dir.mkdir()
    full_dir.mkdir()
    fast = _run(daemon, [*FAST, "cp", *args], cwd=fast_dir)
    full = _run(daemon, [*CLIENT, "cp", *args], cwd=full_dir)
    assert fast == full
    assert fast[0] == 0

    def files(top: Path) -> list[tuple[str, bytes]]:
        return sorted(
            (str(p.relative_to(top)), p.read_bytes() if p.is_file() else b"")
            for p in top.rglob("*")
        )

    assert files(fast_dir) == files(full_dir)


CP_ERRORS = [
    ["fc:/nope", "out"],
    ["nosuch:/data", "out"],
    ["a", "b"],
    ["fc:/a", "fc:/b"],
    ["", "fc:/tmp"],
    ["fc:/data", ""],
    ["/does/not/exist", "fc:/tmp"],
    ["fc:/data/sub/f", "missing/dir/"],
]


@pytest.mark.parametrize("args", CP_ERRORS, ids=lambda a: " ".join(a))
def test_cp_errors_as_the_full_cli(daemon: Daemon, tmp_path: Path, args: list[str]) -> None:
    fast = _run(daemon, [*FAST, "cp", *args], cwd=tmp_path)
    full = _run(daemon, [*CLIENT, "cp", *args], cwd=tmp_path)
    assert fast == full
    assert fast[0] != 0 and fast[2].count(b"\n") == 1 and b"Traceback" not in fast[2]


# --- commit ------------------------------------------------------------------------------------

COMMIT_PLAIN = [
    ["fc"],
    ["fc", "fastimg:one"],
    ["-m", "a message", "--author=me", "-c", "ENV A=1", "--change", "CMD [\"true\"]", "fc", "x:2"],
    ["--pause=false", "fc", "fastimg"],
    ["--no-pause", "fc"],
]  # fmt: skip
COMMIT_ERRORS = [
    ["nosuch"],
    ["fc", "bad@sha256:abc"],
    ["-c", "BOGUS x", "fc"],
    ["fc", "Not_Valid:tag"],
]
COMMIT_HANDED_OVER = [["--bogus", "fc"], [], ["fc", "a", "b"], ["-p=0", "fc"], ["--help"]]


@pytest.mark.parametrize(
    "args", COMMIT_PLAIN + COMMIT_ERRORS + COMMIT_HANDED_OVER, ids=lambda a: " ".join(a)[:40]
)
def test_commit_as_the_full_cli(daemon: Daemon, args: list[str]) -> None:
    fast = _run(daemon, [*FAST, "commit", *args])
    full = _run(daemon, [*CLIENT, "commit", *args])
    assert fast == full


def test_commit_makes_the_same_image(daemon: Daemon) -> None:
    args = ["-m", "msg", "-c", "ENV A=1", "fc"]
    fast_id = _run_id(daemon, [*FAST, "commit", *args, "fastimg:cmp"])
    full_id = _run_id(daemon, [*CLIENT, "commit", *args, "fullimg:cmp"])
    shape = "{{.Comment}} {{.Config.Env}} {{len .RootFS.Layers}}"
    assert berth_ok(daemon, "image", "inspect", "-f", shape, fast_id) == berth_ok(
        daemon, "image", "inspect", "-f", shape, full_id
    )
    assert berth_ok(daemon, "image", "inspect", "-f", "{{.Id}}", "fastimg:cmp").strip() == fast_id


def _run_id(daemon: Daemon, argv: list[str]) -> str:
    done = subprocess.run(
        argv, env={**daemon.env, "BERTH_HOST": daemon.host}, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.decode().strip()


# --- lean, or handed over ----------------------------------------------------------------------

PROBE = """
import sys
from berth.cli import fastpath
code = getattr(fastpath, sys.argv[1])(sys.argv[2:])
sys.stdout.flush()
heavy = [m for m in ("click", "json", "typing", "re", "tarfile") if m in sys.modules]
print("code", code, *heavy, file=sys.stderr)
"""


@pytest.mark.parametrize(
    "args",
    [
        ["fast_cp", "{tree}", "fc:/tmp"],
        ["fast_cp", "fc:/nope", "-"],
        ["fast_commit", "fc"],
        ["fast_commit", "-m", "m", "fc", "lean:probe"],
    ],
    ids=lambda a: " ".join(a),
)
def test_plain_forms_stay_lean(daemon: Daemon, tree: Path, args: list[str]) -> None:
    """No click, and none of the modules that cost start-up time (json, typing, re and
    tarfile: each ~5-15 ms)."""
    argv = [a.replace("{tree}", str(tree)) for a in args]
    _, _, err = _run(daemon, [sys.executable, "-c", PROBE, *argv])
    last = err.decode().splitlines()[-1].split()
    assert last[0] == "code" and last[1] != "None", err
    assert last[2:] == [], f"the lean path imported {last[2:]}"


@pytest.mark.parametrize(
    "args",
    [
        ["fast_cp", "-aL", "fc:/data", "out"],
        ["fast_cp", "--bogus", "fc:/data", "out"],
        ["fast_cp", "fc:/data"],
        ["fast_cp", "--help"],
        *(["fast_commit", *a] for a in COMMIT_HANDED_OVER),
    ],
    ids=lambda a: " ".join(a),
)
def test_other_forms_are_handed_over(daemon: Daemon, tmp_path: Path, args: list[str]) -> None:
    _, _, err = _run(daemon, [sys.executable, "-c", PROBE, *args], cwd=tmp_path)
    assert err.decode().splitlines()[-1].split()[:2] == ["code", "None"]


def test_a_daemon_that_does_not_answer_is_left_to_the_full_cli(tmp_path: Path) -> None:
    env = {"BERTH_HOST": f"unix://{tmp_path}/nobody.sock", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "fast_commit", "fc"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.stderr.decode().splitlines()[-1].split()[:2] == ["code", "None"]
