"""`berth build` end to end: the real berth CLI against a real berthd, building FROM the seed
busybox image. What the client prepares (a directory with .dockerignore and symlinks, a tar or
a Dockerfile on stdin, `-f -`, `-f` outside the context), its output (the same bytes as
`DOCKER_BUILDKIT=0 docker build` for the same build), `-q` / `--iidfile`, the cache as the
context changes (an ignored file changes nothing), and the bad inputs: one clear line each,
nothing tagged.

RUN steps use `--network none`: nothing here needs a network.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import CLIENT, berth_ok, image_listing, needs_busybox, needs_docker_cli
from tests.e2e.containers import container_daemon, docker_env
from tests.integration.daemon import Daemon, request

pytestmark = [needs_busybox]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with container_daemon(tmp_path_factory.mktemp("build-cli")) as started:
        yield started


def write(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


LEAN_CLIENT = [sys.executable, "-m", "berth.cli.fastpath"]  # `berth` itself: click-free build


def build(
    daemon: Daemon,
    *args: str,
    stdin: bytes | None = None,
    cwd: Path | None = None,
    client: list[str] = CLIENT,
) -> subprocess.CompletedProcess[str]:
    """`berth build --network none ARGS` (stdout and stderr as text)."""
    done = subprocess.run(
        [*client, "build", "--network", "none", *args],
        env={**daemon.env, "BERTH_HOST": daemon.host},
        input=stdin or b"",
        capture_output=True,
        timeout=120,
        cwd=cwd,
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def build_ok(
    daemon: Daemon, *args: str, stdin: bytes | None = None, cwd: Path | None = None
) -> str:
    done = build(daemon, *args, stdin=stdin, cwd=cwd)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{daemon.log()[-3000:]}"
    assert done.stderr == ""
    return done.stdout


def run_in(daemon: Daemon, image: str, *command: str) -> str:
    return berth_ok(daemon, "run", "--rm", "--network", "none", image, *command)


def steps(output: str) -> list[str]:
    """The output's lines with IDs masked, the context size left out."""
    lines = [line for line in output.split("\n") if not line.startswith("Sending build context")]
    return [re.sub(r"\b[0-9a-f]{12}\b", "<id>", line) for line in lines if line]


DOCKERFILE = """\
FROM busybox
COPY . /ctx/
RUN cd /ctx && find . | sort > /listing
CMD ["cat", "/listing"]
"""


def test_directory_context_with_dockerignore_and_symlinks(daemon: Daemon, tmp_path: Path) -> None:
    outside = write(tmp_path / "outside", {"secret.txt": "outside the context\n"})
    context = write(
        tmp_path / "ctx",
        {
            "Dockerfile": DOCKERFILE,
            ".dockerignore": "# build noise\n*.log\nsecret\n!secret/keep.txt\nDockerfile\n",
            "src/main.c": "int main(void) { return 0; }\n",
            "build.log": "noise\n",
            "src/deep/debug.log": "kept: *.log is for the top level only\n",
            "secret/key.pem": "private\n",
            "secret/keep.txt": "kept\n",
        },
    )
    (context / "escape").symlink_to(outside)
    (context / "hostname").symlink_to("/etc/hostname")
    output = build_ok(daemon, "-t", "ctx-test", str(context))
    assert output.startswith("Sending build context to Docker daemon")
    assert "Successfully tagged ctx-test:latest" in output
    listing = run_in(daemon, "ctx-test").split()
    assert listing == [
        ".",
        "./.dockerignore",  # not named in .dockerignore: kept
        # ./Dockerfile is sent (the daemon reads it) but, being named in .dockerignore, the
        # daemon takes it out of the context before any COPY, as Docker's does.
        "./escape",
        "./hostname",
        "./secret",
        "./secret/keep.txt",
        "./src",
        "./src/deep",
        "./src/deep/debug.log",
        "./src/main.c",
    ]
    links = run_in(daemon, "ctx-test", "sh", "-c", "readlink /ctx/escape; readlink /ctx/hostname")
    assert links.split() == [str(outside), "/etc/hostname"]  # stored as links, not followed
    berth_ok(daemon, "rmi", "ctx-test")


def test_the_cache_follows_the_context_not_ignored_files(daemon: Daemon, tmp_path: Path) -> None:
    context = write(
        tmp_path / "ctx",
        {
            "Dockerfile": "FROM busybox\nRUN echo one > /one\nCOPY app.txt /app.txt\n"
            'CMD ["cat", "/app.txt"]\n',
            ".dockerignore": "*.log\n",
            "app.txt": "v1\n",
            "run.log": "first\n",
        },
    )
    first = build_ok(daemon, "-t", "cache-test", str(context))
    assert "Using cache" not in first.split("Step 3/4")[1]
    (context / "run.log").write_text("changed, but ignored\n")
    again = build_ok(daemon, "-t", "cache-test", str(context))
    assert again.count(" ---> Using cache") == 3  # every step after FROM
    assert steps(again)[-2:] == ["Successfully built <id>", "Successfully tagged cache-test:latest"]
    (context / "app.txt").write_text("v2\n")
    changed = build_ok(daemon, "-t", "cache-test", str(context))
    before, after = changed.split("Step 3/4")
    assert before.count("Using cache") == 1  # the RUN
    assert "Using cache" not in after  # the COPY and everything after it
    assert run_in(daemon, "cache-test") == "v2\n"
    berth_ok(daemon, "rmi", "cache-test")


def test_quiet_and_iidfile(daemon: Daemon, tmp_path: Path) -> None:
    context = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nLABEL quiet=yes\n"})
    iidfile = tmp_path / "iid"
    output = build_ok(daemon, "-q", "--iidfile", str(iidfile), "-t", "quiet-test", str(context))
    image_id = output.strip()
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", image_id), output
    assert iidfile.read_text() == image_id
    inspected = berth_ok(
        daemon, "inspect", "--format", "{{.Id}} {{.Config.Labels.quiet}}", "quiet-test"
    )
    assert inspected.split() == [image_id, "yes"]
    berth_ok(daemon, "rmi", "quiet-test")


def test_stdin_contexts_and_dockerfiles(daemon: Daemon, tmp_path: Path) -> None:
    # a Dockerfile alone on stdin
    output = build_ok(daemon, "-t", "stdin-df", "-", stdin=b"FROM busybox\nLABEL from=stdin\n")
    assert "Step 2/2 : LABEL from=stdin" in output
    # a tar on stdin, with -f naming the Dockerfile inside it
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in {
            "docker/build.Dockerfile": b"FROM busybox\nCOPY data/x.txt /x.txt\n",
            "data/x.txt": b"from the tar\n",
        }.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    build_ok(
        daemon, "-t", "stdin-tar", "-f", "docker/build.Dockerfile", "-", stdin=buffer.getvalue()
    )
    assert run_in(daemon, "stdin-tar", "cat", "/x.txt") == "from the tar\n"
    # -f - with a directory context, and -f naming a file outside the context
    context = write(tmp_path / "ctx", {"y.txt": "from the directory\n"})
    dockerfile = b"FROM busybox\nCOPY y.txt /\nCOPY . /all/\n"
    build_ok(daemon, "-t", "stdin-f", "-f", "-", str(context), stdin=dockerfile)
    assert run_in(daemon, "stdin-f", "cat", "/y.txt") == "from the directory\n"
    # the client's generated .dockerfile.<random> and .dockerignore never reach COPY
    assert run_in(daemon, "stdin-f", "ls", "-A", "/all") == "y.txt\n"
    outside = tmp_path / "elsewhere.Dockerfile"
    outside.write_text("FROM busybox\nCOPY y.txt /z.txt\n")
    build_ok(daemon, "-t", "outside-f", "-f", str(outside), str(context))
    assert run_in(daemon, "outside-f", "cat", "/z.txt") == "from the directory\n"
    # -f relative to the current directory, as docker's
    write(tmp_path / "ctx", {"sub/Dockerfile.dev": "FROM busybox\nLABEL dev=1\n"})
    build_ok(daemon, "-t", "relative-f", "-f", "sub/Dockerfile.dev", ".", cwd=context)
    berth_ok(daemon, "rmi", "stdin-df", "stdin-tar", "stdin-f", "outside-f", "relative-f")


BAD = [
    ("FROM busybox\nFOO bar\n", "Dockerfile:2: unknown instruction: FOO"),
    ("FROM busybox\nARG =oops\n", "Dockerfile:2: ARG names can not be blank"),
    ("FROM busybox\nENV\n", "Dockerfile:2: ENV requires at least one argument"),
    ("LABEL a=b\nFROM busybox\n", "Dockerfile:1: no build stage in current context"),
    ("FROM busybox\nCOPY --form=x a /\n", "Dockerfile:2: unknown flag: --form"),
    ("FROM busybox\nCOPY missing.txt /\n", "missing.txt"),
    ("FROM busybox\nCOPY ../outside /\n", "outside the build context"),
    ("FROM busybox\nRUN echo failing && exit 3\n", "returned a non-zero code: 3"),
]


@pytest.mark.parametrize(("dockerfile", "message"), BAD)
def test_bad_builds_are_one_clear_error_and_tag_nothing(
    daemon: Daemon, tmp_path: Path, dockerfile: str, message: str
) -> None:
    context = write(tmp_path / "ctx", {"Dockerfile": dockerfile, "a": "a\n"})
    before = image_listing(daemon)
    done = build(daemon, "-t", "bad-build", str(context))
    assert done.returncode != 0, done.stdout
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert image_listing(daemon) == before


def test_a_failing_run_shows_its_output(daemon: Daemon, tmp_path: Path) -> None:
    context = write(
        tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo visible-output; exit 3\n"}
    )
    done = build(daemon, str(context))
    assert done.returncode == 3  # the step's exit status, as docker build's
    assert "visible-output" in done.stdout
    assert (
        done.stderr
        == "The command '/bin/sh -c echo visible-output; exit 3' returned a non-zero code: 3\n"
    )


CLIENT_ERRORS = [
    (["-t", "Not:Valid", "."], 'invalid argument "Not:Valid" for "-t, --tag" flag'),
    (["-f", "nowhere.Dockerfile", "."], "Cannot locate specified Dockerfile: nowhere.Dockerfile"),
    (["does-not-exist"], "unable to prepare context: path 'does-not-exist' not found"),
    (["-f", "-", "-"], "can't use stdin for both build context and dockerfile"),
]


@pytest.mark.parametrize(("args", "message"), CLIENT_ERRORS)
def test_client_side_errors(daemon: Daemon, tmp_path: Path, args: list[str], message: str) -> None:
    write(tmp_path, {"Dockerfile": "FROM busybox\n"})
    done = build(daemon, *args, cwd=tmp_path)
    assert done.returncode == 1
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_builder_prune(daemon: Daemon, tmp_path: Path) -> None:
    context = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo pruned > /p\n"})
    build_ok(daemon, str(context))
    output = berth_ok(daemon, "builder", "prune", "-a", "-f")
    assert output.splitlines()[-1].startswith("Total reclaimed space: ")
    again = build_ok(daemon, str(context))
    assert "Using cache" not in again


def test_system_df_shows_the_build_cache(daemon: Daemon, tmp_path: Path) -> None:
    dockerfile = "FROM busybox\nRUN head -c 300000 /dev/zero > /df-cache\nLABEL df-cache=1\n"
    context = write(tmp_path / "ctx", {"Dockerfile": dockerfile})
    image_id = build_ok(daemon, "-q", str(context)).strip()

    def records() -> dict[str, dict[str, Any]]:
        status, _, body = request(daemon.sock, "GET", "/system/df?type=build-cache")
        assert status == 200, body
        found = json.loads(body)["BuildCache"]
        return {r["Description"].split()[-1]: r for r in found if "df-cache" in r["Description"]}

    run, label = records()["/df-cache"], records()["df-cache=1"]
    assert run["Type"] == label["Type"] == "regular"
    assert run["Size"] >= 300000 and label["Size"] == 0  # a config-only step adds nothing
    assert run["Parents"] is None and label["Parents"] == [run["ID"]]
    assert not run["Shared"] and not label["Shared"]  # untagged: builder prune would take them
    assert not run["InUse"] and run["CreatedAt"]
    summary = berth_ok(daemon, "system", "df")
    cache_line = next(line for line in summary.splitlines() if line.startswith("Build Cache"))
    assert int(cache_line.split()[2]) >= 2, summary
    if shutil.which("docker"):  # the docker CLI draws the same line from the same records
        theirs = subprocess.run(
            ["docker", "system", "df"], env=docker_env(daemon), capture_output=True, timeout=120
        )
        assert cache_line in theirs.stdout.decode().splitlines(), theirs.stdout.decode()
        verbose = subprocess.run(
            ["docker", "system", "df", "-v"],
            env=docker_env(daemon),
            capture_output=True,
            timeout=120,
        )
        assert verbose.returncode == 0, verbose.stderr.decode()
        assert run["ID"][:12] in verbose.stdout.decode()
    assert run["ID"][:12] in berth_ok(daemon, "system", "df", "-v")
    berth_ok(daemon, "tag", image_id, "df-cache-tagged")
    assert all(r["Shared"] for r in records().values())  # now kept by the tag
    berth_ok(daemon, "rmi", "df-cache-tagged")
    assert records() == {}  # the images went, and their records with them


@needs_docker_cli
def test_the_same_output_as_docker_s_classic_builder(daemon: Daemon, tmp_path: Path) -> None:
    context = write(
        tmp_path / "ctx",
        {
            "Dockerfile": "FROM busybox\nARG WHO=world\nRUN echo hello $WHO > /hello\n"
            "COPY data /data\nCMD cat /hello\n",
            "data/a.txt": "a\n",
            ".dockerignore": "*.tmp\n",
            "skip.tmp": "x\n",
        },
    )
    args = ["-t", "same-output", "--build-arg", "WHO=docker", str(context)]
    build_ok(daemon, *args)  # fill the cache; both builds below are cached, the same steps
    ours = build_ok(daemon, *args)
    theirs = subprocess.run(
        ["docker", "build", "--network", "none", *args],
        env={**docker_env(daemon), "DOCKER_BUILDKIT": "0"},
        capture_output=True,
        timeout=120,
    )
    assert theirs.returncode == 0, theirs.stderr.decode()
    assert ours == theirs.stdout.decode()  # byte for byte, context size included
    assert steps(ours)[:3] == ["Step 1/5 : FROM busybox", " ---> <id>", "Step 2/5 : ARG WHO=world"]
    berth_ok(daemon, "rmi", "same-output")


@needs_docker_cli
def test_docker_cli_failure_shapes(daemon: Daemon, tmp_path: Path) -> None:
    """The classic builder's failures as the docker CLI shows them: the message on stderr."""
    context = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nBOGUS x\n"})
    env = {**docker_env(daemon), "DOCKER_BUILDKIT": "0"}
    done = subprocess.run(
        ["docker", "build", str(context)], env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 1
    assert done.stderr.decode().endswith("unknown instruction: BOGUS\n")
    assert "Traceback" not in done.stderr.decode()
    # a failing RUN: its output on stdout, the message on stderr, its exit status the CLI's
    failing = write(tmp_path / "failing", {"Dockerfile": "FROM busybox\nRUN echo out; exit 42\n"})
    ours = build(daemon, str(failing))
    theirs = subprocess.run(
        ["docker", "build", "--network", "none", str(failing)],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert theirs.returncode == ours.returncode == 42
    message = "The command '/bin/sh -c echo out; exit 42' returned a non-zero code: 42\n"
    assert ours.stderr == message
    assert theirs.stderr.decode().endswith("\n\n" + message)  # after its deprecation notice
    assert steps(theirs.stdout.decode()) == steps(ours.stdout)
    assert "out" in steps(ours.stdout)


def test_the_lean_entry_point_behaves_as_the_full_cli(daemon: Daemon, tmp_path: Path) -> None:
    """`berth build` skips click when stdout is not a terminal: same output, status, effect."""
    context = write(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo lean > /l\n"})
    bad = write(tmp_path / "bad", {"Dockerfile": "FROM busybox\nNOPE\n"})
    failing = write(tmp_path / "failing", {"Dockerfile": "FROM busybox\nRUN echo x; exit 7\n"})
    cases: list[tuple[list[str], bytes | None]] = [
        (["-t", "lean-test", str(context)], None),
        (["-q", "--iidfile", str(tmp_path / "iid"), str(context)], None),
        ([str(bad)], None),
        ([str(failing)], None),
        (["-t", "Not:Valid", str(context)], None),
        (["-"], b"FROM busybox\nLABEL lean=1\n"),
    ]
    for args, stdin in cases:
        build(daemon, *args, stdin=stdin)  # the cache as the two compared runs will find it
        full = build(daemon, *args, stdin=stdin)
        lean = build(daemon, *args, stdin=stdin, client=LEAN_CLIENT)
        assert lean.returncode == full.returncode, (args, lean.stderr, full.stderr)
        assert steps(lean.stdout) == steps(full.stdout), args
        assert lean.stderr == full.stderr, args
    berth_ok(daemon, "rmi", "lean-test")


#: What a cached `berth build -q -t NAME:TAG DIR` must not load (each costs start-up time that
#: a fully cached rebuild, ~30 ms in all, cannot spare): the client stays on C modules.
HEAVY_MODULES = {"re", "typing", "json", "contextlib", "threading", "enum", "collections"}


def _imported(argv: list[str], env: dict[str, str]) -> tuple[set[str], str]:
    """The modules a Python command imports (-X importtime) and its stdout."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    names = {
        line.rpartition("|")[2].strip()
        for line in done.stderr.decode().splitlines()
        if line.startswith("import time:")
    }
    return names, done.stdout.decode()


def test_a_cached_build_loads_no_heavy_modules(daemon: Daemon, tmp_path: Path) -> None:
    """The lean path of `berth build` (the `berth` script's) sends the context and reads the
    answer with C modules only: no `re` (tag check, .dockerignore), typing, json, threading."""
    context = write(
        tmp_path / "ctx", {"Dockerfile": "FROM busybox\nCOPY a.txt /a.txt\n", "a.txt": "a\n"}
    )
    args = ["build", "-q", "--network", "none", "-t", "lean-imports/app:1.0", str(context)]
    build_ok(daemon, *args[1:])  # the cache the measured run finds
    env = {**daemon.env, "BERTH_HOST": daemon.host}
    script = "import sys; from berth.cli.fastpath import main; sys.argv[0] = 'berth'; main()"
    baseline, _ = _imported(["-c", "pass"], env)  # what this interpreter loads anyway
    names, out = _imported(["-c", script, *args], env)
    assert out.startswith("sha256:")
    assert (names - baseline) & HEAVY_MODULES == set()
    berth_ok(daemon, "rmi", "lean-imports/app:1.0")
