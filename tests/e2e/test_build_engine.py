"""The builder end to end: the real docker CLI (`DOCKER_BUILDKIT=0 docker build`, the classic
builder's API) and docker-py's `images.build()` against a real berthd, building FROM the seed
busybox image: RUN in real containers, COPY from the context, multi-stage builds with
COPY --from and --target, build args, the layer cache (hits, a miss after a change, a restart,
prune), and the bad inputs (a failing RUN, a Dockerfile error, COPY of a missing file or of a
path outside the context) — each one clear error, nothing tagged.

RUN steps use `--network host` so the tests do not depend on the bridge network plugin.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import json
import os
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import berth_ok, image_listing, needs_busybox, needs_docker_cli
from tests.e2e.containers import container_daemon, docker, docker_env
from tests.integration.daemon import Daemon, request

pytestmark = [needs_docker_cli, needs_busybox]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with container_daemon(tmp_path_factory.mktemp("build-engine")) as started:
        yield started


def write_context(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def docker_build(
    daemon: Daemon, context: Path, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**docker_env(daemon), "DOCKER_BUILDKIT": "0"}
    done = subprocess.run(
        ["docker", "build", "--network", "host", *args, str(context)],
        env=env,
        capture_output=True,
        timeout=timeout,
    )
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode(), done.stderr.decode()
    )


def build_ok(daemon: Daemon, context: Path, *args: str) -> str:
    done = docker_build(daemon, context, *args)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{daemon.log()[-3000:]}"
    return done.stdout


def run_output(daemon: Daemon, image: str, *command: str) -> str:
    done = docker(daemon, "run", "--rm", "--network", "host", image, *command)
    assert done.returncode == 0, done.stderr
    return done.stdout


DOCKERFILE = """\
FROM busybox
ENV GREETING=hello
RUN echo "$GREETING from run" && mkdir -p /app && echo built > /app/built.txt
COPY a.txt b.txt /app/
CMD ["cat", "/app/a.txt"]
"""


def test_run_copy_and_the_cache(daemon: Daemon, tmp_path: Path) -> None:
    context = write_context(
        tmp_path / "ctx", {"Dockerfile": DOCKERFILE, "a.txt": "file a\n", "b.txt": "b\n"}
    )
    first = build_ok(daemon, context, "-t", "be-basic:1")
    assert "Step 1/5 : FROM busybox\n" in first
    assert "Step 3/5 : RUN echo" in first
    assert "hello from run\n" in first
    assert " ---> Running in " in first
    assert " ---> Removed intermediate container " in first
    assert "Using cache" not in first
    assert "Successfully tagged be-basic:1\n" in first
    built_id = first.split("Successfully built ")[1].split()[0]
    assert run_output(daemon, "be-basic:1") == "file a\n"
    assert run_output(daemon, "be-basic:1", "cat", "/app/built.txt", "/app/b.txt") == "built\nb\n"
    history = docker(daemon, "history", "--no-trunc", "--format", "{{.CreatedBy}}", "be-basic:1")
    assert '/bin/sh -c #(nop)  CMD ["cat", "/app/a.txt"]' in history.stdout
    ids = docker(daemon, "history", "--format", "{{.ID}}", "be-basic:1").stdout.split()
    assert len(ids) == 5 and "<missing>" not in ids  # each step's image, as Docker shows
    assert ids[0] == built_id
    # the engine's mount points (/etc/hosts, /proc, ...) never reach the image
    listing = run_output(daemon, "be-basic:1", "sh", "-c", "ls /app")
    assert listing.split() == ["a.txt", "b.txt", "built.txt"]

    again = build_ok(daemon, context, "-t", "be-basic:1")
    assert again.count(" ---> Using cache\n") == 4
    assert " ---> Running in " not in again
    assert f"Successfully built {built_id}\n" in again

    os.utime(context / "a.txt", (1, 1))  # a new mtime alone changes nothing
    assert build_ok(daemon, context).count(" ---> Using cache\n") == 4

    (context / "a.txt").write_text("file a, changed\n")
    changed = build_ok(daemon, context, "-t", "be-basic:2")
    steps = changed.split("Step ")
    assert "Using cache" in steps[2] and "Using cache" in steps[3]
    assert "Using cache" not in steps[4] and "Using cache" not in steps[5]
    assert run_output(daemon, "be-basic:2") == "file a, changed\n"
    assert run_output(daemon, "be-basic:1") == "file a\n"


def test_no_cache_runs_every_step(daemon: Daemon, tmp_path: Path) -> None:
    context = write_context(
        tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo once > /once\n"}
    )
    build_ok(daemon, context)
    again = build_ok(daemon, context, "--no-cache")
    assert "Using cache" not in again
    assert " ---> Running in " in again


MULTI_STAGE = """\
FROM busybox AS compile
ARG FLAVOUR=plain
RUN mkdir /out && echo "binary $FLAVOUR" > /out/app
FROM busybox AS unused
RUN exit 7
FROM scratch
COPY --from=compile /out/app /app
COPY --from=busybox /bin/busybox /bin/busybox
ENTRYPOINT ["/bin/busybox"]
CMD ["cat", "/app"]
"""


def test_multi_stage_copy_from_and_target(daemon: Daemon, tmp_path: Path) -> None:
    context = write_context(tmp_path / "ctx", {"Dockerfile": MULTI_STAGE})
    out = build_ok(daemon, context, "-t", "be-multi", "--build-arg", "FLAVOUR=fancy")
    assert "exit 7" not in out  # a stage nothing needs is not built
    assert "Step 1/8 : FROM busybox AS compile" in out
    assert run_output(daemon, "be-multi") == "binary fancy\n"
    inspect = json.loads(docker(daemon, "image", "inspect", "be-multi").stdout)[0]
    assert len(inspect["RootFS"]["Layers"]) == 2
    assert inspect["Config"]["Entrypoint"] == ["/bin/busybox"]

    target = build_ok(daemon, context, "--target", "compile", "-t", "be-multi:compile")
    assert "FROM scratch" not in target
    assert run_output(daemon, "be-multi:compile", "cat", "/out/app") == "binary plain\n"


def test_build_args_and_config_instructions(daemon: Daemon, tmp_path: Path) -> None:
    dockerfile = """\
ARG BASE=busybox
FROM $BASE
ARG WHO=nobody
ARG UNSET
ENV PLACE=${WHO:-x}-home
LABEL org.example.who=$WHO
WORKDIR /work/$WHO
EXPOSE 8080 53/udp
USER 1000
RUN echo "who=$WHO unset=${UNSET:-none} place=$PLACE pwd=$(pwd) id=$(id -u) proxy=$http_proxy"
STOPSIGNAL SIGUSR1
"""
    context = write_context(tmp_path / "ctx", {"Dockerfile": dockerfile})
    out = build_ok(
        daemon,
        context,
        "--build-arg",
        "WHO=alice",
        "--build-arg",
        "NOPE=1",
        "--build-arg",
        "http_proxy=http://p:1",
        "-t",
        "be-args",
    )
    assert "who=alice unset=none place=alice-home pwd=/work/alice id=1000 proxy=http://p:1\n" in out
    assert "[Warning] One or more build-args [NOPE] were not consumed" in out
    config = json.loads(docker(daemon, "image", "inspect", "be-args").stdout)[0]["Config"]
    assert "PLACE=alice-home" in config["Env"]
    assert not any(e.startswith("WHO=") for e in config["Env"])  # args stay out of the image
    assert config["Labels"] == {"org.example.who": "alice"}
    assert config["WorkingDir"] == "/work/alice"
    assert set(config["ExposedPorts"]) == {"8080/tcp", "53/udp"}
    assert config["User"] == "1000"
    assert config["StopSignal"] == "SIGUSR1"
    history = docker(daemon, "history", "--no-trunc", "--format", "{{.CreatedBy}}", "be-args")
    assert "|1 WHO=alice /bin/sh -c echo" in history.stdout
    assert "http://p:1" not in history.stdout  # the predefined proxy args stay out


def test_failing_run_reports_code_and_tags_nothing(daemon: Daemon, tmp_path: Path) -> None:
    context = write_context(
        tmp_path / "ctx",
        {"Dockerfile": 'FROM busybox\nRUN echo before-failing && exit 3\nCMD ["true"]\n'},
    )
    before = image_listing(daemon)
    done = docker_build(daemon, context, "-t", "be-fails:1")
    assert done.returncode == 3  # errorDetail.code: the docker CLI exits with the step's status
    assert "before-failing\n" in done.stdout
    assert (
        "The command '/bin/sh -c echo before-failing && exit 3' returned a non-zero code: 3"
        in done.stderr
    )
    assert "Traceback" not in done.stderr + done.stdout
    after = image_listing(daemon)
    assert not any("be-fails" in line for line in after)
    assert [line for line in after if line not in before] == []


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        ("FROM busybox\nRUN true\nFROBNICATE now\n", "Dockerfile:3"),
        ("FROM busybox\nCOPY missing.txt /x\n", "missing.txt: file does not exist"),
        ("FROM busybox\nCOPY ../outside /x\n", "forbidden path outside the build context"),
        ("FROM busybox\nARG =oops\n", "Dockerfile:2"),
        ("FROM 127.0.0.1:9/no-such-image-here:1\n", "no-such-image-here"),
    ],
    ids=["unknown-instruction", "copy-missing", "copy-outside", "bad-arg", "missing-base"],
)
def test_bad_dockerfiles(daemon: Daemon, tmp_path: Path, dockerfile: str, message: str) -> None:
    context = write_context(tmp_path / "ctx", {"Dockerfile": dockerfile})
    done = docker_build(daemon, context, "-t", "be-bad:1")
    assert done.returncode == 1, done.stdout
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert len(done.stderr.strip().splitlines()[-1]) < 400
    assert not any("be-bad" in line for line in image_listing(daemon))


def test_add_extracts_a_local_archive_and_chown_chmod(daemon: Daemon, tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    write_context(
        context,
        {
            "Dockerfile": (
                "FROM busybox\n"
                "ADD bundle.tar.gz /opt/\n"
                "COPY --chown=1000:1000 --chmod=0750 tool.sh /usr/local/bin/\n"
                'CMD ["sh", "-c", "cat /opt/inside/hello.txt; stat -c \'%u:%g %a\' '
                '/usr/local/bin/tool.sh"]\n'
            ),
            "tool.sh": "#!/bin/sh\necho tool\n",
        },
    )
    data = b"hello from the archive\n"
    with tarfile.open(context / "bundle.tar.gz", "w:gz") as tar:
        info = tarfile.TarInfo("inside/hello.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    build_ok(daemon, context, "-t", "be-add")
    assert run_output(daemon, "be-add") == "hello from the archive\n1000:1000 750\n"


def test_docker_py_build(daemon: Daemon, tmp_path: Path) -> None:
    docker_sdk = pytest.importorskip("docker")
    context = write_context(
        tmp_path / "ctx",
        {"Dockerfile": "FROM busybox\nCOPY hi.txt /hi.txt\nRUN cat /hi.txt\n", "hi.txt": "hi\n"},
    )
    client = docker_sdk.DockerClient(base_url=daemon.host)
    try:
        image, logs = client.images.build(
            path=str(context), tag="be-py:1", network_mode="host", rm=True
        )
        lines = [entry.get("stream", "") for entry in logs]
        assert "Step 1/3 : FROM busybox\n" in lines
        assert "hi\n" in lines
        assert "be-py:1" in image.tags
        with pytest.raises(docker_sdk.errors.BuildError) as failed:
            client.images.build(
                fileobj=io.BytesIO(b"FROM busybox\nRUN exit 4\n"), network_mode="host"
            )
        assert "returned a non-zero code: 4" in str(failed.value)
        last = list(failed.value.build_log)[-1]
        message = "The command '/bin/sh -c exit 4' returned a non-zero code: 4"
        assert last == {"errorDetail": {"code": 4, "message": message}, "error": message}
    finally:
        client.close()


def test_prune_forgets_the_cache(daemon: Daemon, tmp_path: Path) -> None:
    context = write_context(
        tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN echo prune-me > /p\n"}
    )
    build_ok(daemon, context, "-t", "be-prune")
    assert "Using cache" in build_ok(daemon, context, "-t", "be-prune")
    status, _, body = request(daemon.sock, "POST", "/v1.44/build/prune")
    assert status == 200, body
    answer = json.loads(body)
    assert "SpaceReclaimed" in answer
    assert "Using cache" not in build_ok(daemon, context, "-t", "be-prune")
    assert berth_ok(daemon, "images", "-q", "be-prune").strip()


def test_cache_survives_a_daemon_restart(tmp_path: Path) -> None:
    context = write_context(
        tmp_path / "ctx",
        {"Dockerfile": "FROM busybox\nCOPY f /f\nRUN cat /f > /g\n", "f": "restart\n"},
    )
    (tmp_path / "seed").mkdir()
    with container_daemon(tmp_path / "seed") as own:
        first = build_ok(own, context, "-t", "be-restart")
        own.stop()
        own.start()
        again = build_ok(own, context, "-t", "be-restart")
        assert again.count(" ---> Using cache\n") == 2
        assert first.split("Successfully built ")[1] == again.split("Successfully built ")[1]


def test_cache_from_an_image_without_cache_records(daemon: Daemon, tmp_path: Path) -> None:
    context = write_context(
        tmp_path / "ctx",
        {
            "Dockerfile": 'FROM busybox\nENV K=v\nCOPY f /f\nRUN cat /f > /g\nCMD ["cat", "/g"]\n',
            "f": "from the cache source\n",
        },
    )
    build_ok(daemon, context, "-t", "be-source:1")
    status, _, _ = request(daemon.sock, "POST", "/v1.44/build/prune")
    assert status == 200
    out = build_ok(daemon, context, "--cache-from", "be-source:1", "-t", "be-from:1")
    assert out.count(" ---> Using cache\n") == 4, out
    assert run_output(daemon, "be-from:1") == "from the cache source\n"
    source = json.loads(docker(daemon, "image", "inspect", "be-source:1").stdout)[0]
    made = json.loads(docker(daemon, "image", "inspect", "be-from:1").stdout)[0]
    assert made["RootFS"] == source["RootFS"]
    assert made["Config"]["Cmd"] == ["cat", "/g"]


def test_dockerignored_change_rebuilds_nothing(daemon: Daemon, tmp_path: Path) -> None:
    context = write_context(
        tmp_path / "ctx",
        {
            "Dockerfile": "FROM busybox\nCOPY . /app/\nRUN ls -a /app > /listing\n",
            ".dockerignore": "ignored.txt\nDockerfile\n.dockerignore\n",
            "kept.txt": "kept\n",
            "ignored.txt": "one\n",
        },
    )
    build_ok(daemon, context, "-t", "be-ignore")
    (context / "ignored.txt").write_text("two\n")
    assert build_ok(daemon, context, "-t", "be-ignore").count(" ---> Using cache\n") == 2
    listing = run_output(daemon, "be-ignore", "cat", "/listing").split()
    assert "kept.txt" in listing and "ignored.txt" not in listing
    # sent by the client, then taken out of the context by the daemon (as Docker's)
    assert ".dockerignore" not in listing


def test_onbuild_quiet_stdin_and_other_dockerfile(daemon: Daemon, tmp_path: Path) -> None:
    context = write_context(
        tmp_path / "ctx",
        {
            "base.Dockerfile": (
                "FROM busybox\n"
                "ONBUILD RUN echo triggered > /trigger\n"
                'SHELL ["/bin/sh", "-ec"]\n'
                "HEALTHCHECK --interval=5s --retries=2 CMD true\n"
                "VOLUME /data\n"
                'ENTRYPOINT ["/bin/sh", "-c"]\n'
                'CMD ["echo from cmd"]\n'
            )
        },
    )
    build_ok(daemon, context, "-f", str(context / "base.Dockerfile"), "-t", "be-onbuild")
    config = json.loads(docker(daemon, "image", "inspect", "be-onbuild").stdout)[0]["Config"]
    assert config["OnBuild"] == ["RUN echo triggered > /trigger"]
    assert config["Healthcheck"] == {
        "Test": ["CMD-SHELL", "true"],
        "Interval": 5_000_000_000,
        "Retries": 2,
    }
    assert (config["Entrypoint"], config["Cmd"]) == (["/bin/sh", "-c"], ["echo from cmd"])
    assert config["Shell"] == ["/bin/sh", "-ec"] and config["Volumes"] == {"/data": {}}
    assert run_output(daemon, "be-onbuild") == "from cmd\n"

    env = {**docker_env(daemon), "DOCKER_BUILDKIT": "0"}
    done = subprocess.run(
        ["docker", "build", "-q", "--network", "host", "-t", "be-child", "-"],
        input=b"FROM be-onbuild\nRUN cat /trigger\n",
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    image_id = done.stdout.decode().strip()
    assert image_id.startswith("sha256:") and len(image_id) == 71
    assert run_output(daemon, "be-child", "cat /trigger") == "triggered\n"
    child = json.loads(docker(daemon, "image", "inspect", "be-child").stdout)[0]
    assert child["Id"] == image_id and not child["Config"].get("OnBuild")


@contextlib.contextmanager
def serving(directory: Path) -> Iterator[str]:
    """A local HTTP server for `directory` (ADD <url> is tested only against it)."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_add_url_and_chown_by_name(daemon: Daemon, tmp_path: Path) -> None:
    served = tmp_path / "www"
    served.mkdir()
    (served / "remote.txt").write_text("from the web\n")
    with serving(served) as url:
        context = write_context(
            tmp_path / "ctx",
            {
                "Dockerfile": (
                    f"FROM busybox\nADD {url}/remote.txt /downloads/\n"
                    "COPY --chown=nobody:nobody local.txt /home/\n"
                    'CMD ["sh", "-c", "cat /downloads/remote.txt; '
                    "stat -c '%a %u:%g' /downloads/remote.txt /home/local.txt\"]\n"
                ),
                "local.txt": "local\n",
            },
        )
        build_ok(daemon, context, "-t", "be-url")
        assert run_output(daemon, "be-url") == "from the web\n600 0:0\n644 65534:65534\n"
        (served / "remote.txt").write_text("changed on the web\n")
        rebuilt = build_ok(daemon, context, "-t", "be-url")
        assert "Using cache" not in rebuilt.split("Step 2/4")[1].split("Step 3/4")[0]
        assert run_output(daemon, "be-url").startswith("changed on the web\n")


def test_docker_builder_prune(daemon: Daemon, tmp_path: Path) -> None:
    context = write_context(tmp_path / "ctx", {"Dockerfile": "FROM busybox\nENV PRUNED=1\n"})
    build_ok(daemon, context)
    done = docker(daemon, "builder", "prune", "-f")
    assert done.returncode == 0, done.stderr
    assert "Total" in done.stdout
    assert "Using cache" not in build_ok(daemon, context)


def _context_tar(dockerfile: str) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile.encode())
        tar.addfile(info, io.BytesIO(dockerfile.encode()))
    return raw.getvalue()


@pytest.mark.parametrize(
    ("query", "body", "message"),
    [
        ("buildargs=not-json", b"", "invalid buildargs"),
        ("platform=linux/s390x", b"", "is not supported"),
        ("remote=https://example.invalid/repo.git", b"", "remote build contexts"),
        ("t=Bad%20Tag", b"", "invalid tag"),
        ("", b"this is no tar at all" * 40, "cannot be unpacked"),
    ],
    ids=["buildargs", "platform", "remote", "tag", "not-a-tar"],
)
def test_bad_build_requests_are_400(daemon: Daemon, query: str, body: bytes, message: str) -> None:
    status, _, answer = request(daemon.sock, "POST", f"/v1.44/build?{query}", body)
    assert status == 400, answer
    assert message in json.loads(answer)["message"]


def test_in_band_errors_of_the_json_stream(daemon: Daemon) -> None:
    status, _, answer = request(
        daemon.sock, "POST", "/v1.44/build?dockerfile=Missing", _context_tar("FROM busybox\n")
    )
    assert status == 200
    last = json.loads(answer.strip().splitlines()[-1])
    assert last["error"] == last["errorDetail"]["message"]
    assert "Cannot locate specified Dockerfile: Missing" in last["error"]
    status, _, answer = request(
        daemon.sock, "POST", "/v1.44/build?target=nope", _context_tar("FROM busybox\n")
    )
    last = json.loads(answer.strip().splitlines()[-1])
    assert last["error"] == "failed to reach build target nope in Dockerfile"


def test_workdir_is_made_in_the_image(daemon: Daemon, tmp_path: Path) -> None:
    context = write_context(
        tmp_path / "ctx", {"Dockerfile": "FROM busybox\nWORKDIR /made/here\nWORKDIR /tmp\n"}
    )
    build_ok(daemon, context, "-t", "be-workdir")
    image = json.loads(docker(daemon, "image", "inspect", "be-workdir").stdout)[0]
    base = json.loads(docker(daemon, "image", "inspect", "busybox").stdout)[0]
    assert len(image["RootFS"]["Layers"]) == len(base["RootFS"]["Layers"]) + 1  # /tmp exists
    assert image["Config"]["WorkingDir"] == "/tmp"
    # the container's working directory is /tmp: /made/here comes from the image's layer
    assert run_output(daemon, "be-workdir", "stat", "-c", "%a %u", "/made/here") == "755 0\n"


def test_run_has_the_network_by_default(daemon: Daemon, tmp_path: Path) -> None:
    context = write_context(
        tmp_path / "ctx", {"Dockerfile": "FROM busybox\nRUN cat /proc/net/dev > /interfaces\n"}
    )
    env = {**docker_env(daemon), "DOCKER_BUILDKIT": "0"}
    for network, expected in (("default", True), ("none", False)):
        # --no-cache: the network mode is not part of a step's cache key (as in Docker)
        argv = ["docker", "build", "--no-cache", "--network", network, "-t", f"be-net-{network}"]
        done = subprocess.run(
            [*argv, str(context)],
            env=env,
            capture_output=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr.decode()
        interfaces = run_output(daemon, f"be-net-{network}", "cat", "/interfaces")
        assert ("eth0" in interfaces) is expected, interfaces


def test_run_deletions_reach_the_image(daemon: Daemon, tmp_path: Path) -> None:
    context = write_context(
        tmp_path / "ctx",
        {
            "Dockerfile": (
                "FROM busybox\nRUN mkdir -p /d/sub && touch /d/sub/f /d/keep\n"
                "RUN rm -r /d/sub /bin/vi && echo changed >> /etc/passwd\n"
            )
        },
    )
    build_ok(daemon, context, "-t", "be-delete")
    out = run_output(
        daemon, "be-delete", "sh", "-c", "ls -a /d; ls /bin/vi 2>&1; tail -n 1 /etc/passwd"
    )
    assert out.splitlines()[0:3] == [".", "..", "keep"]
    assert "No such file" in out and out.endswith("changed\n")


def test_run_gets_the_build_resource_settings(daemon: Daemon, tmp_path: Path) -> None:
    context = write_context(
        tmp_path / "ctx",
        {
            "Dockerfile": (
                "FROM busybox\nRUN grep builder-host /etc/hosts && "
                "cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/memory.max "
                "2>/dev/null; true\n"
            )
        },
    )
    out = build_ok(
        daemon, context, "--no-cache", "--add-host", "builder-host:10.1.2.3", "-m", "64m"
    )
    assert "10.1.2.3" in out and "builder-host" in out
    assert str(64 * 1024 * 1024) in out
