"""`docker cp`, `docker export`, `docker diff` and `docker commit` with the real docker CLI
against berthd: both directions of cp (also `-` tar streams, also stopped containers),
escapes through symlinks and `..` refused, bad inputs as one clear line."""

from __future__ import annotations

import io
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import needs_busybox, needs_docker_cli
from tests.e2e.containers import container_daemon, docker
from tests.integration.daemon import Daemon

pytestmark = [needs_docker_cli, needs_busybox]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with container_daemon(tmp_path_factory.mktemp("fileops-cli")) as started:
        yield started


def docker_ok(daemon: Daemon, *args: str, stdin: bytes | None = None) -> str:
    done = docker(daemon, *args, stdin=stdin)
    assert done.returncode == 0, (
        f"docker {' '.join(args)} failed ({done.returncode}): {done.stderr}\n"
        f"daemon log tail:\n{daemon.log()[-3000:]}"
    )
    return done.stdout


def docker_bytes(daemon: Daemon, *args: str, stdin: bytes = b"") -> bytes:
    from tests.e2e.containers import docker_env

    done = subprocess.run(
        ["docker", *args], env=docker_env(daemon), input=stdin, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout


def running(daemon: Daemon, setup: str = "true") -> str:
    name = "fo-" + uuid.uuid4().hex[:8]
    docker_ok(
        daemon,
        "run",
        "-d",
        "--network",
        "none",
        "--name",
        name,
        "busybox",
        "sh",
        "-c",
        f"{setup}; sleep 600",
    )
    return name


def stopped(daemon: Daemon, setup: str = "true") -> str:
    name = "fo-" + uuid.uuid4().hex[:8]
    docker_ok(daemon, "run", "--network", "none", "--name", name, "busybox", "sh", "-c", setup)
    return name


def inside(daemon: Daemon, name: str, script: str) -> str:
    return docker_ok(daemon, "exec", name, "sh", "-c", script)


def test_cp_file_and_dir_into_a_running_container(daemon: Daemon, tmp_path: Path) -> None:
    name = running(daemon)
    (tmp_path / "hello.txt").write_text("hello\n")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "deep.txt").write_text("deep\n")
    (tree / "top.txt").write_text("top\n")
    (tree / "link").symlink_to("top.txt")
    docker_ok(daemon, "cp", str(tmp_path / "hello.txt"), f"{name}:/tmp/")
    docker_ok(daemon, "cp", str(tmp_path / "hello.txt"), f"{name}:/tmp/renamed.txt")
    docker_ok(daemon, "cp", str(tree), f"{name}:/tmp/")  # into an existing directory
    docker_ok(daemon, "cp", str(tree), f"{name}:/newdir")  # as a new directory
    docker_ok(daemon, "cp", f"{tree}/.", f"{name}:/tmp/")  # the content only
    out = inside(
        daemon,
        name,
        "cat /tmp/hello.txt /tmp/renamed.txt /tmp/tree/sub/deep.txt /newdir/top.txt "
        "/tmp/top.txt; readlink /newdir/link",
    )
    assert out == "hello\nhello\ndeep\ntop\ntop\ntop.txt\n"


def test_cp_out_of_a_running_container(daemon: Daemon, tmp_path: Path) -> None:
    name = running(daemon, "mkdir -p /data/sub && echo one > /data/one && echo two > /data/sub/two")
    docker_ok(daemon, "cp", f"{name}:/data/one", str(tmp_path / "one"))
    docker_ok(daemon, "cp", f"{name}:/data", str(tmp_path))
    docker_ok(daemon, "cp", f"{name}:/data/.", str(tmp_path / "content"))
    assert (tmp_path / "one").read_text() == "one\n"
    assert (tmp_path / "data" / "sub" / "two").read_text() == "two\n"
    assert (tmp_path / "content" / "sub" / "two").read_text() == "two\n"


def test_cp_with_tar_streams(daemon: Daemon) -> None:
    name = running(daemon, "mkdir /data && echo streamed > /data/s.txt")
    data = docker_bytes(daemon, "cp", f"{name}:/data", "-")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        names = sorted(tar.getnames())
        member = tar.extractfile("data/s.txt")
        assert member is not None and member.read() == b"streamed\n"
    assert names == ["data", "data/s.txt"]
    upload = io.BytesIO()
    with tarfile.open(fileobj=upload, mode="w") as tar:
        info = tarfile.TarInfo("from-stdin.txt")
        info.size = 6
        tar.addfile(info, io.BytesIO(b"stdin\n"))
    docker_bytes(daemon, "cp", "-", f"{name}:/tmp", stdin=upload.getvalue())
    assert inside(daemon, name, "cat /tmp/from-stdin.txt") == "stdin\n"


def test_cp_with_a_stopped_container(daemon: Daemon, tmp_path: Path) -> None:
    name = stopped(daemon, "echo before > /kept")
    (tmp_path / "in.txt").write_text("put while stopped\n")
    docker_ok(daemon, "cp", str(tmp_path / "in.txt"), f"{name}:/in.txt")
    docker_ok(daemon, "cp", f"{name}:/kept", str(tmp_path / "kept"))
    assert (tmp_path / "kept").read_text() == "before\n"
    docker_ok(daemon, "start", name)
    docker_ok(daemon, "wait", name)
    out = docker_bytes(daemon, "cp", f"{name}:/in.txt", "-")
    with tarfile.open(fileobj=io.BytesIO(out)) as tar:
        member = tar.extractfile("in.txt")
        assert member is not None and member.read() == b"put while stopped\n"


# --- escapes ------------------------------------------------------------------------------------


def test_symlinks_to_root_and_dotdot_stay_inside(daemon: Daemon, tmp_path: Path) -> None:
    marker = "berth-escape-" + uuid.uuid4().hex[:8]
    name = running(
        daemon,
        f"ln -s / /hostroot && ln -s ../../../../.. /up && ln -s /etc /etclink "
        f"&& echo inside > /{marker}",
    )
    (tmp_path / "payload").write_text("payload\n")
    # As destinations: the container's / and /etc, never the host's.
    docker_ok(daemon, "cp", str(tmp_path / "payload"), f"{name}:/hostroot/{marker}-a")
    docker_ok(daemon, "cp", str(tmp_path / "payload"), f"{name}:/up/{marker}-b")
    docker_ok(daemon, "cp", str(tmp_path / "payload"), f"{name}:/etclink/")
    docker_ok(daemon, "cp", str(tmp_path / "payload"), f"{name}:../../../{marker}-c")
    for suffix in ("-a", "-b", "-c"):
        assert not Path(f"/{marker}{suffix}").exists()
    assert not Path("/etc/payload").exists()
    out = inside(daemon, name, f"cat /{marker}-a /{marker}-b /{marker}-c /etc/payload")
    assert out == "payload\n" * 4
    # As sources: what the container has, never the host's.
    for source in (f"/hostroot/{marker}", f"/up/{marker}", f"../../{marker}", f"/up/../{marker}"):
        data = docker_bytes(daemon, "cp", f"{name}:{source}", "-")
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            member = tar.extractfile(marker)
            assert member is not None and member.read() == b"inside\n", source
    data = docker_bytes(daemon, "cp", f"{name}:/hostroot/etc/hostname", "-")
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        member = tar.extractfile("hostname")
        assert member is not None
        assert member.read() != Path("/etc/hostname").read_bytes()


def test_symlink_swapped_during_copies_never_reaches_the_host(
    daemon: Daemon, tmp_path: Path
) -> None:
    marker = "berth-swap-" + uuid.uuid4().hex[:8]
    name = running(
        daemon,
        "mkdir -p /race/d; while true; do rm -rf /race/d; ln -s / /race/d; "
        "rm -f /race/d; mkdir /race/d; done &",
    )
    (tmp_path / marker).write_text("swap\n")
    for _ in range(15):
        docker(daemon, "cp", str(tmp_path / marker), f"{name}:/race/d/")
        docker(daemon, "cp", f"{name}:/race/d/etc/passwd", str(tmp_path / "out"))
        assert not Path("/" + marker).exists()
    docker_ok(daemon, "rm", "-f", name)
    assert not Path("/" + marker).exists()


# --- bad inputs ---------------------------------------------------------------------------------


def test_missing_paths_and_bad_destinations(daemon: Daemon, tmp_path: Path) -> None:
    name = running(daemon)
    done = docker(daemon, "cp", f"{name}:/nonexistent", str(tmp_path))
    assert done.returncode == 1
    assert "Could not find the file /nonexistent in container" in done.stderr
    assert done.stderr.count("\n") == 1
    (tmp_path / "f").write_text("x")
    done = docker(daemon, "cp", str(tmp_path / "f"), f"{name}:/no/such/dir/f")
    assert done.returncode == 1
    assert "Could not find the file /no/such/dir in container" in done.stderr
    (tmp_path / "adir").mkdir()
    done = docker(daemon, "cp", str(tmp_path / "adir"), f"{name}:/etc/passwd")
    assert done.returncode == 1
    assert "cannot copy directory" in done.stderr
    done = docker(daemon, "cp", str(tmp_path / "f"), "nosuchcontainer:/tmp")
    assert done.returncode == 1
    assert "No such container: nosuchcontainer" in done.stderr
    # Nothing stored was lost.
    assert inside(daemon, name, "head -1 /etc/passwd").startswith("root:")


# --- export, diff, commit -----------------------------------------------------------------------


def test_export(daemon: Daemon, tmp_path: Path) -> None:
    name = stopped(daemon, "echo exported > /exported.txt && rm /bin/yes")
    docker_ok(daemon, "export", "-o", str(tmp_path / "fs.tar"), name)
    with tarfile.open(tmp_path / "fs.tar") as tar:
        names = set(tar.getnames())
        member = tar.extractfile("exported.txt")
        assert member is not None and member.read() == b"exported\n"
    assert "bin/busybox" in names
    assert "bin/yes" not in names
    data = docker_bytes(daemon, "export", name)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert set(tar.getnames()) == names


def test_diff(daemon: Daemon) -> None:
    name = stopped(
        daemon, "mkdir /newdir && touch /newdir/f && echo x >> /etc/passwd && rm /bin/yes"
    )
    lines = docker_ok(daemon, "diff", name).splitlines()
    for line in ("A /newdir", "A /newdir/f", "C /etc", "C /etc/passwd", "C /bin", "D /bin/yes"):
        assert line in lines
    assert not any("hostname" in line or "resolv.conf" in line for line in lines)


def test_commit_then_run_the_new_image(daemon: Daemon) -> None:
    name = running(daemon, "echo committed > /hello")
    image_id = docker_ok(
        daemon,
        "commit",
        "-c",
        'CMD ["cat", "/hello"]',
        "-c",
        "ENV GREETING=hi",
        "-m",
        "a message",
        "-a",
        "Someone <s@example.com>",
        name,
        "fo-committed:1",
    ).strip()
    assert image_id.startswith("sha256:")
    assert docker_ok(daemon, "run", "--rm", "--network", "none", "fo-committed:1") == "committed\n"
    assert (
        docker_ok(
            daemon,
            "run",
            "--rm",
            "--network",
            "none",
            "fo-committed:1",
            "sh",
            "-c",
            "echo $GREETING",
        )
        == "hi\n"
    )
    fmt = "{{.Comment}}|{{.Author}}|{{json .Config.Cmd}}|{{len .RootFS.Layers}}"
    assert docker_ok(daemon, "image", "inspect", "-f", fmt, "fo-committed:1") == (
        'a message|Someone <s@example.com>|["cat","/hello"]|2\n'
    )
    # The container was paused and is running again.
    state = docker_ok(daemon, "inspect", "-f", "{{.State.Status}}", name)
    assert state == "running\n"
    history = docker_ok(
        daemon, "history", "--no-trunc", "--format", "{{.Comment}}", "fo-committed:1"
    )
    assert history.splitlines()[0] == "a message"


def test_commit_bad_inputs(daemon: Daemon) -> None:
    name = stopped(daemon)
    done = docker(daemon, "commit", "-c", "BOGUS x", name)
    assert done.returncode == 1
    assert "bogus is not a valid change command" in done.stderr
    done = docker(daemon, "commit", name, "Bad:Name:x")
    assert done.returncode == 1
    done = docker(daemon, "commit", "nosuchcontainer")
    assert done.returncode == 1
    assert "No such container: nosuchcontainer" in done.stderr


def test_cp_through_a_volume_running_and_stopped(daemon: Daemon, tmp_path: Path) -> None:
    volume = "fo-vol-" + uuid.uuid4().hex[:8]
    name = "fo-" + uuid.uuid4().hex[:8]
    docker_ok(
        daemon, "run", "-d", "--network", "none", "--name", name, "-v", f"{volume}:/vol",
        "busybox", "sleep", "600",
    )  # fmt: skip
    try:
        (tmp_path / "in-volume").write_text("kept\n")
        docker_ok(daemon, "cp", str(tmp_path / "in-volume"), f"{name}:/vol/")
        docker_ok(daemon, "stop", "-t", "0", name)
        (tmp_path / "while-stopped").write_text("stopped\n")
        docker_ok(daemon, "cp", str(tmp_path / "while-stopped"), f"{name}:/vol/")
        data = docker_bytes(daemon, "cp", f"{name}:/vol", "-")
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            assert sorted(tar.getnames()) == ["vol", "vol/in-volume", "vol/while-stopped"]
        out = docker_ok(
            daemon, "run", "--rm", "--network", "none", "-v", f"{volume}:/v", "busybox",
            "cat", "/v/in-volume", "/v/while-stopped",
        )  # fmt: skip
        assert out == "kept\nstopped\n"
    finally:
        docker(daemon, "rm", "-f", name)
        docker(daemon, "volume", "rm", volume)


def test_cp_into_a_read_only_bind(daemon: Daemon, tmp_path: Path) -> None:
    host = tmp_path / "bound"
    host.mkdir()
    (tmp_path / "f").write_text("f\n")
    name = stopped(daemon)
    created = "fo-" + uuid.uuid4().hex[:8]
    docker_ok(
        daemon, "create", "--network", "none", "--name", created, "-v", f"{host}:/ro:ro",
        "busybox", "true",
    )  # fmt: skip
    done = docker(daemon, "cp", str(tmp_path / "f"), f"{created}:/ro/")
    assert done.returncode == 1
    assert "mounted volume is marked read-only" in done.stderr
    assert list(host.iterdir()) == []
    docker_ok(daemon, "rm", created, name)


def test_cp_into_a_read_only_root_file_system(daemon: Daemon, tmp_path: Path) -> None:
    name = "fo-" + uuid.uuid4().hex[:8]
    docker_ok(
        daemon, "run", "-d", "--read-only", "--network", "none", "--name", name, "busybox",
        "sleep", "600",
    )  # fmt: skip
    (tmp_path / "f").write_text("f\n")
    done = docker(daemon, "cp", str(tmp_path / "f"), f"{name}:/etc/")
    assert done.returncode == 1
    assert "container rootfs is marked read-only" in done.stderr
    docker_ok(daemon, "rm", "-f", name)


def test_commit_of_a_directory_replaced_whole(daemon: Daemon) -> None:
    """`rm -rf d; mkdir d` (an opaque directory on overlayfs): the committed image has only
    the new content of d, none of what its parent image had there."""
    base = running(daemon, "mkdir -p /opt/old && touch /opt/old/a /opt/keep")
    docker_ok(daemon, "commit", base, "fo-replaced:base")
    name = "fo-" + uuid.uuid4().hex[:8]
    docker_ok(
        daemon, "run", "-d", "--network", "none", "--name", name, "fo-replaced:base", "sh",
        "-c", "rm -rf /opt && mkdir -p /opt/new && echo n > /opt/new/f && sleep 600",
    )  # fmt: skip
    assert inside(daemon, name, "cd /opt && find . | sort") == ".\n./new\n./new/f\n"
    docker_ok(daemon, "commit", name, "fo-replaced:new")
    out = docker_ok(
        daemon, "run", "--rm", "--network", "none", "fo-replaced:new", "sh", "-c",
        "cd /opt && find . | sort",
    )  # fmt: skip
    assert out == ".\n./new\n./new/f\n"
