"""`berth build` and `berth builder prune` against the fake daemon: what is sent (query, the
context tar) and how the classic builder's JSON stream is shown (as docker 28 does)."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from berth.cli.main import cli
from click.testing import CliRunner, Result

IMAGE_ID = "sha256:" + "ab" * 32

SUCCESS = [
    {"stream": "Step 1/2 : FROM busybox\n"},
    {"stream": " ---> 5b13834cb124\n"},
    {"stream": "Step 2/2 : RUN echo hi\n"},
    {"stream": " ---> Running in 0afe2ccb38fa\n"},
    {"stream": "hi\n"},
    {"stream": " ---> abababababab\n"},
    {"aux": {"ID": IMAGE_ID}},
    {"stream": "Successfully built abababababab\n"},
    {"stream": "Successfully tagged me/app:v1\n"},
]
FAILURE = [
    {"stream": "Step 1/2 : FROM busybox\n"},
    {"stream": "Step 2/2 : RUN exit 3\n"},
    {
        "errorDetail": {
            "code": 3,
            "message": "The command '/bin/sh -c exit 3' returned a non-zero code: 3",
        },
        "error": "The command '/bin/sh -c exit 3' returned a non-zero code: 3",
    },
]


@pytest.fixture
def build_daemon(daemon: Any, fakes: ModuleType) -> Any:
    daemon.answers = SUCCESS

    def answer(request: Any) -> Any:
        return fakes.Stream(items=daemon.answers)

    daemon.routes[("POST", "/build")] = answer
    return daemon


@pytest.fixture
def run(daemon: Any) -> Callable[..., Result]:
    def invoke(*args: str, stdin: bytes | None = None) -> Result:
        return CliRunner().invoke(cli, ["-H", daemon.url, *args], input=stdin)

    return invoke


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "app"
    root.mkdir()
    (root / "Dockerfile").write_text("FROM busybox\nRUN echo hi\n")
    (root / "hello.c").write_text("int main(void) { return 0; }\n")
    (root / "notes.log").write_text("x")
    (root / ".dockerignore").write_text("*.log\n")
    monkeypatch.chdir(root)
    return root


def sent_names(daemon: Any) -> list[str]:
    body = daemon.requests[-1].body
    with tarfile.open(fileobj=io.BytesIO(body), mode="r|") as tar:
        return [member.name for member in tar]


def test_build_shows_the_stream_and_sends_docker_s_query(
    run: Any, build_daemon: Any, project: Path
) -> None:
    result = run("build", "-t", "me/app:v1", "-t", "me/app:latest", "--build-arg", "A=1", ".")
    assert result.exit_code == 0, result.output
    lines = result.output.split("\n")
    # docker writes "\r\r\n" (click's runner reads "\r\n" as a newline)
    assert lines[0] == "Sending build context to Docker daemon  4.096kB\r"
    assert lines[1:] == [m["stream"].rstrip("\n") for m in SUCCESS if "stream" in m] + [""]
    request = build_daemon.requests[-1]
    assert request.query == {
        "t": ["me/app:v1", "me/app:latest"],
        "dockerfile": ["Dockerfile"],
        "buildargs": ['{"A":"1"}'],
        "version": ["1"],
    }
    assert {k.lower(): v for k, v in request.headers.items()}["content-type"] == "application/x-tar"
    assert sent_names(build_daemon) == [".dockerignore", "Dockerfile", "hello.c"]


def test_every_flag_reaches_the_query(
    run: Any, build_daemon: Any, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FROM_ENV", "env value")
    monkeypatch.delenv("UNSET_ARG", raising=False)
    result = run(
        "build",
        "--build-arg", "FROM_ENV",
        "--build-arg", "UNSET_ARG",
        "--label", "a=b",
        "--label", "flag",
        "--target", "build",
        "--no-cache",
        "--pull",
        "--network", "host",
        "--platform", "Linux/AMD64",
        "--cache-from", "me/app:cache",
        "--rm=false",
        "--force-rm",
        ".",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert build_daemon.requests[-1].query == {
        "buildargs": ['{"FROM_ENV":"env value","UNSET_ARG":null}'],
        "labels": ['{"a":"b","flag":""}'],
        "target": ["build"],
        "nocache": ["1"],
        "pull": ["1"],
        "networkmode": ["host"],
        "platform": ["linux/amd64"],
        "cachefrom": ['["me/app:cache"]'],
        "rm": ["0"],
        "forcerm": ["1"],
        "dockerfile": ["Dockerfile"],
        "version": ["1"],
    }


def test_quiet_prints_only_the_id_and_iidfile_gets_it(
    run: Any, build_daemon: Any, project: Path, tmp_path: Path
) -> None:
    iidfile = tmp_path / "iid"
    iidfile.write_text("stale")
    result = run("build", "-q", "--iidfile", str(iidfile), ".")
    assert result.exit_code == 0, result.output
    assert result.output == IMAGE_ID + "\n"
    assert iidfile.read_text() == IMAGE_ID
    assert build_daemon.requests[-1].query["q"] == ["1"]


def test_a_failing_step_exits_with_its_code_and_message(
    run: Any, build_daemon: Any, project: Path, tmp_path: Path
) -> None:
    build_daemon.answers = FAILURE
    iidfile = tmp_path / "iid"
    iidfile.write_text("stale")
    result = run("build", "--iidfile", str(iidfile), ".")
    assert result.exit_code == 3
    assert result.stdout.endswith("Step 2/2 : RUN exit 3\n")
    assert result.stderr == "The command '/bin/sh -c exit 3' returned a non-zero code: 3\n"
    assert not iidfile.exists()  # removed before the build, not written after a failure


def test_quiet_failure_shows_the_hidden_output_on_stderr(
    run: Any, build_daemon: Any, project: Path
) -> None:
    build_daemon.answers = [{"stream": "Step 1/1 : FROM nope\n"}, {"error": "pull access denied"}]
    result = run("build", "-q", ".")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "Sending build context to Docker daemon  4.096kB",
        "Step 1/1 : FROM nope",
        "pull access denied",
    ]


def test_no_image_id_for_iidfile_is_an_error(
    run: Any, build_daemon: Any, project: Path, tmp_path: Path
) -> None:
    build_daemon.answers = [{"stream": "Step 1/1 : FROM busybox\n"}]
    result = run("build", "--iidfile", str(tmp_path / "iid"), ".")
    assert result.exit_code == 1
    assert "Server did not provide an image ID" in result.stderr


def test_stdin_contexts(run: Any, build_daemon: Any, project: Path) -> None:
    result = run("build", "-", stdin=b"FROM busybox\n")
    assert result.exit_code == 0, result.output
    assert sent_names(build_daemon) == ["Dockerfile"]
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(project / "hello.c", "src/hello.c")
        tar.add(project / "Dockerfile", "build/Dockerfile")
    result = run("build", "-f", "build/Dockerfile", "-", stdin=buffer.getvalue())
    assert result.exit_code == 0, result.output
    assert build_daemon.requests[-1].body == buffer.getvalue()
    assert build_daemon.requests[-1].query["dockerfile"] == ["build/Dockerfile"]
    result = run("build", "-f", "-", ".", stdin=b"FROM alpine\n")
    assert result.exit_code == 0, result.output
    name = build_daemon.requests[-1].query["dockerfile"][0]
    assert name.startswith(".dockerfile.")
    assert sent_names(build_daemon)[-1] == name


BAD = [
    (["build", "-t", "Bad:Tag", "."], 'invalid argument "Bad:Tag" for "-t, --tag" flag'),
    (["build", "--build-arg", "=x", "."], 'invalid argument "=x" for "--build-arg" flag'),
    (["build", "/no/such/dir"], "unable to prepare context: path '/no/such/dir' not found"),
    (["build", "-f", "nope", "."], "Cannot locate specified Dockerfile: nope"),
    (["build", "-f", "-", "-"], "can't use stdin for both build context and dockerfile"),
    (["build", "https://example.com/repo.git"], "is a remote context"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_inputs_are_one_line_and_send_nothing(
    run: Any, build_daemon: Any, project: Path, args: list[str], message: str
) -> None:
    result = run(*args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output
    assert not [r for r in build_daemon.requests if r.path == "/build"]


def test_a_daemon_error_status_is_one_line(
    run: Any, daemon: Any, fakes: ModuleType, project: Path
) -> None:
    daemon.routes[("POST", "/build")] = fakes.Reply(
        400, {"message": "Dockerfile:2: unknown instruction: FOO"}
    )
    result = run("build", ".")
    assert result.exit_code == 1
    assert result.stderr.endswith(
        "Error response from daemon: Dockerfile:2: unknown instruction: FOO\n"
    )


def test_builder_prune(run: Any, daemon: Any, fakes: ModuleType) -> None:
    daemon.routes[("POST", "/build/prune")] = fakes.Reply(
        200, {"CachesDeleted": ["abc", "def"], "SpaceReclaimed": 2048}
    )
    result = run("builder", "prune", "-f", "--all", "--filter", "until=24h", "--keep-storage", "1m")
    assert result.exit_code == 0, result.output
    assert (
        result.output
        == "Deleted build cache objects:\nabc\ndef\n\nTotal reclaimed space: 2.048kB\n"
    )
    query = daemon.requests[-1].query
    assert query["all"] == ["1"]
    assert query["keep-storage"] == [str(1 << 20)]
    assert json.loads(query["filters"][0]) == {"until": {"24h": True}}


def test_builder_prune_asks_first(run: Any, daemon: Any, fakes: ModuleType) -> None:
    daemon.routes[("POST", "/build/prune")] = fakes.Reply(
        200, {"CachesDeleted": [], "SpaceReclaimed": 0}
    )
    result = run("builder", "prune", stdin=b"n\n")
    assert result.exit_code == 0
    assert "WARNING! This will remove all dangling build cache." in result.output
    assert not [r for r in daemon.requests if r.path == "/build/prune"]
    result = run("builder", "prune", stdin=b"y\n")
    assert result.output.endswith("Total reclaimed space: 0B\n")


def test_compress_sends_a_gzipped_context(run: Any, build_daemon: Any, project: Path) -> None:
    import gzip

    result = run("build", "--compress", "--disable-content-trust=true", ".")
    assert result.exit_code == 0, result.output
    body = build_daemon.requests[-1].body
    assert body[:2] == b"\x1f\x8b"
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(body)), mode="r|") as tar:
        assert [m.name for m in tar] == [".dockerignore", "Dockerfile", "hello.c"]


# --- the lean entry point (no click), as `berth` runs it for scripts -------------------------

PARSED: list[tuple[list[str], dict[str, object]]] = [
    (["."], {"path": ".", "tags": [], "quiet": False, "remove": True, "network": "default"}),
    (
        ["-t", "a", "--tag=b", "-f", "D", "--build-arg", "K=V", "--label=l=v", "-q", "ctx"],
        {
            "path": "ctx",
            "tags": ["a", "b"],
            "dockerfile": "D",
            "build_args": ["K=V"],
            "labels": ["l=v"],
            "quiet": True,
        },
    ),
    (
        [".", "--no-cache", "--pull", "--rm=false", "--force-rm"],
        {"no_cache": True, "pull": True, "remove": False, "force_rm": True},
    ),
    (
        ["--network", "host", "--platform=linux/amd64", "--cache-from", "x", "-"],
        {"path": "-", "network": "host", "platform": "linux/amd64", "cache_from": ["x"]},
    ),
    (
        ["--disable-content-trust=false", "--compress", "--iidfile", "f", "."],
        {"iidfile": "f", "compress": True},
    ),
    (["--", "-"], {"path": "-"}),
]


@pytest.mark.parametrize(("args", "expected"), PARSED)
def test_fast_flags(args: list[str], expected: dict[str, object]) -> None:
    from berth.cli.buildrun import parse_flags

    request = parse_flags(args)
    assert request is not None
    for name, value in expected.items():
        assert getattr(request, name) == value


@pytest.mark.parametrize(
    "args",
    [
        [],
        [".", "other"],
        ["-h", "."],
        ["--help"],
        ["-qt", "x", "."],
        ["--squash", "."],
        ["-t"],
        ["--rm=maybe", "."],
        ["-H", "unix:///x", "."],
    ],
)
def test_fast_flags_leave_the_rest_to_the_full_cli(args: list[str]) -> None:
    from berth.cli.buildrun import parse_flags

    assert parse_flags(args) is None


def run_entry_point(daemon: Any, *args: str, stdin: bytes = b"") -> Any:
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-m", "berth.cli.fastpath", "build", *args],
        env={"BERTH_HOST": daemon.url, "PATH": "/usr/bin:/bin"},
        input=stdin,
        capture_output=True,
        timeout=60,
    )


def test_the_lean_path_sends_and_shows_the_same(run: Any, build_daemon: Any, project: Path) -> None:
    args = ["-t", "me/app:v1", "--build-arg", "A=1", "--label", "x=y", "--no-cache", "."]
    full = run("build", *args)
    assert full.exit_code == 0, full.output
    full_request = build_daemon.requests[-1]
    lean = run_entry_point(build_daemon, *args)
    lean_request = build_daemon.requests[-1]
    assert lean.returncode == full.exit_code == 0
    shown = "".join(m["stream"] for m in SUCCESS if "stream" in m)
    sending = "Sending build context to Docker daemon  4.096kB"
    assert lean.stdout.decode() == f"{sending}\r\r\n{shown}"
    assert full.stdout == f"{sending}\r\n{shown}"  # click's runner reads "\r\n" as "\n"
    assert lean_request.query == full_request.query
    assert sent_names(build_daemon) == [".dockerignore", "Dockerfile", "hello.c"]


def test_the_lean_path_reports_failures_as_the_full_cli(
    run: Any, build_daemon: Any, project: Path
) -> None:
    build_daemon.answers = FAILURE
    lean = run_entry_point(build_daemon, ".")
    assert lean.returncode == 3
    assert lean.stderr == b"The command '/bin/sh -c exit 3' returned a non-zero code: 3\n"
    bad = run_entry_point(build_daemon, "-t", "Bad", ".")
    assert bad.returncode == 1
    assert bad.stderr.decode() == run("build", "-t", "Bad", ".").stderr
    quiet = run_entry_point(build_daemon, "-q", "-", stdin=b"FROM busybox\n")
    assert quiet.returncode == 3
    assert quiet.stdout == b""
    assert quiet.stderr.decode().endswith("returned a non-zero code: 3\n")


# --- the same context as the docker CLI sends ----------------------------------------------

TRICKY_IGNORE = """\
# comment
*.log
!important.log
build/
!build/keep/**
**/*.tmp
docs/*.md
!docs/README.md
/secret
temp?
node_modules
**/cache
[ab].bin
sub/Dockerfile.dev
**sfx
weird\\*name
./dot/slash
x/../cleaned
"""
TRICKY_FILES = [
    "Dockerfile",
    "app.log",
    "important.log",
    "deep/app.log",
    "build/out.o",
    "build/keep/x.txt",
    "build/keep/y/z.txt",
    "src/a.tmp",
    "src/b/c.tmp",
    "src/main.c",
    "docs/guide.md",
    "docs/README.md",
    "docs/img/logo.md",
    "secret",
    "deep/secret",
    "tempa",
    "tempab",
    "web/node_modules/x.js",
    "node_modules/y.js",
    "a/b/cache/blob",
    "a.bin",
    "c.bin",
    "sub/Dockerfile.dev",
    "mysfx",
    "deep/er/mysfx",
    "weird*name",
    "weirdXname",
    "dot/slash",
    "cleaned",
]


def tar_listing(body: bytes) -> list[tuple[object, ...]]:
    listing = []
    with tarfile.open(fileobj=io.BytesIO(body), mode="r|") as tar:
        for member in tar:
            data = tar.extractfile(member) if member.isreg() else None
            content = data.read() if data is not None else b""
            header = (member.name, member.type, member.linkname, member.mode, member.size)
            listing.append((*header, int(member.mtime), member.uid, member.gid, content))
    return listing


@pytest.mark.skipif(not __import__("shutil").which("docker"), reason="no docker CLI")
@pytest.mark.parametrize("dockerfile", ["", "sub/Dockerfile.dev"])
def test_the_context_is_the_docker_cli_s(
    run: Any, build_daemon: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dockerfile: str
) -> None:
    import os
    import subprocess

    root = tmp_path / "tricky"
    for name in TRICKY_FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(f"{name}\n")
    (root / ".dockerignore").write_text(TRICKY_IGNORE)
    (root / "empty").mkdir()
    (root / "link").symlink_to("/etc/passwd")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    os.link(root / "src" / "main.c", root / "main-again.c")
    monkeypatch.chdir(root)
    flags = ["-f", dockerfile] if dockerfile else []
    docker = subprocess.run(
        ["docker", "build", *flags, "."],
        env={
            **os.environ,
            "DOCKER_HOST": build_daemon.url,
            "DOCKER_BUILDKIT": "0",
            "DOCKER_CONFIG": str(tmp_path / "docker-config"),
        },
        capture_output=True,
        timeout=60,
    )
    assert docker.returncode == 0, docker.stderr
    theirs = [r for r in build_daemon.requests if r.path == "/build"][-1]
    ours_result = run("build", *flags, ".")
    assert ours_result.exit_code == 0, ours_result.output
    ours = build_daemon.requests[-1]
    assert ours.query == theirs.query
    listing = tar_listing(ours.body)
    assert listing == tar_listing(theirs.body)
    names = {entry[0] for entry in listing}
    assert {"important.log", "build/keep/x.txt", "docs/README.md", "weirdXname"} <= names
    assert not {"app.log", "build/out.o", "mysfx", "deep/er/mysfx", "weird*name"} & names
    assert not {"dot/slash", "cleaned", "secret", "tempa", "a.bin"} & names
