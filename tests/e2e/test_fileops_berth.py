"""`berth cp` (both ways, `-` tar streams, -a, -L), `berth export`, `berth diff` and
`berth commit` against a real berthd; escapes refused on the host side too."""

from __future__ import annotations

import io
import os
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import berth, berth_ok, needs_busybox
from tests.e2e.containers import container_daemon
from tests.integration.daemon import Daemon

pytestmark = needs_busybox


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with container_daemon(tmp_path_factory.mktemp("fileops-berth")) as started:
        yield started


def running(daemon: Daemon, setup: str = "true") -> str:
    name = "bfo-" + uuid.uuid4().hex[:8]
    berth_ok(
        daemon, "run", "-d", "--network", "none", "--name", name, "busybox", "sh", "-c",
        f"{setup}; sleep 600",
    )  # fmt: skip
    return name


def inside(daemon: Daemon, name: str, script: str) -> str:
    return berth_ok(daemon, "exec", name, "sh", "-c", script)


def test_cp_both_ways(daemon: Daemon, tmp_path: Path) -> None:
    name = running(daemon, "mkdir -p /data/sub && echo one > /data/one && echo two > /data/sub/two")
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "deep.txt").write_text("deep\n")
    (tree / "link").symlink_to("sub/deep.txt")
    (tree / "f.txt").write_text("f\n")
    os.chmod(tree / "f.txt", 0o4755)
    berth_ok(daemon, "cp", str(tree), f"{name}:/tmp/")
    berth_ok(daemon, "cp", str(tree), f"{name}:/copy")
    berth_ok(daemon, "cp", f"{tree}/.", f"{name}:/data/")
    berth_ok(daemon, "cp", str(tree / "f.txt"), f"{name}:/renamed.txt")
    out = inside(
        daemon,
        name,
        "cat /tmp/tree/sub/deep.txt /copy/link /data/f.txt /renamed.txt; stat -c %a /copy/f.txt",
    )
    assert out == "deep\ndeep\nf\nf\n4755\n"
    berth_ok(daemon, "cp", f"{name}:/data/one", str(tmp_path / "one"))
    berth_ok(daemon, "cp", f"{name}:/data", str(tmp_path / "data-copy"))
    berth_ok(daemon, "cp", f"{name}:/data/.", str(tmp_path))
    berth_ok(daemon, "cp", f"{name}:/data/sub", str(tmp_path / "tree"))
    assert (tmp_path / "one").read_text() == "one\n"
    assert (tmp_path / "data-copy" / "sub" / "two").read_text() == "two\n"
    assert (tmp_path / "sub" / "two").read_text() == "two\n"
    assert (tmp_path / "tree" / "sub" / "two").read_text() == "two\n"
    assert (tmp_path / "tree" / "sub" / "deep.txt").read_text() == "deep\n"


def test_cp_tar_streams_and_follow_link(daemon: Daemon, tmp_path: Path) -> None:
    name = running(daemon, "mkdir /data && echo s > /data/s && ln -s /data/s /data/link")
    done = berth(daemon, "cp", f"{name}:/data", "-")
    assert done.returncode == 0, done.stderr
    with tarfile.open(fileobj=io.BytesIO(done.stdout)) as tar:
        assert sorted(tar.getnames()) == ["data", "data/link", "data/s"]
    upload = io.BytesIO()
    with tarfile.open(fileobj=upload, mode="w") as tar:
        info = tarfile.TarInfo("piped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"in\n"))
    done = berth(daemon, "cp", "-", f"{name}:/tmp", stdin=upload.getvalue())
    assert done.returncode == 0, done.stderr
    assert inside(daemon, name, "cat /tmp/piped.txt") == "in\n"
    berth_ok(daemon, "cp", f"{name}:/data/link", str(tmp_path / "as-link"))
    assert os.readlink(tmp_path / "as-link") == "/data/s"
    berth_ok(daemon, "cp", "-L", f"{name}:/data/link", str(tmp_path / "followed"))
    assert (tmp_path / "followed").read_text() == "s\n"


def test_cp_archive_mode_keeps_owners(daemon: Daemon, tmp_path: Path) -> None:
    name = running(daemon, "echo o > /owned && chown 123:456 /owned")
    berth_ok(daemon, "cp", f"{name}:/owned", str(tmp_path / "plain"))
    berth_ok(daemon, "cp", "-a", f"{name}:/owned", str(tmp_path / "kept"))
    assert (os.stat(tmp_path / "plain").st_uid, os.stat(tmp_path / "kept").st_uid) == (
        os.geteuid(),
        123,
    )


def test_cp_errors(daemon: Daemon, tmp_path: Path) -> None:
    name = running(daemon, "ln -s / /hostroot")
    done = berth(daemon, "cp", f"{name}:/nonexistent", str(tmp_path))
    assert done.returncode == 1
    assert b"Could not find the file /nonexistent in container" in done.stderr
    assert b"Traceback" not in done.stderr
    (tmp_path / "d").mkdir()
    done = berth(daemon, "cp", str(tmp_path / "d"), f"{name}:/etc/passwd")
    assert (done.returncode, done.stderr) == (1, b"cannot copy directory\n")
    done = berth(daemon, "cp", str(tmp_path / "d"), str(tmp_path / "e"))
    assert (done.returncode, done.stderr) == (1, b"must specify at least one container source\n")
    done = berth(daemon, "cp", f"{name}:/a", f"{name}:/b")
    assert (done.returncode, done.stderr) == (1, b"copying between containers is not supported\n")
    marker = "berth-escape-" + uuid.uuid4().hex[:8]
    (tmp_path / marker).write_text("x")
    berth_ok(daemon, "cp", str(tmp_path / marker), f"{name}:/hostroot/")
    assert not Path("/" + marker).exists()
    assert inside(daemon, name, f"cat /{marker}") == "x"


def test_export_diff_commit(daemon: Daemon, tmp_path: Path) -> None:
    name = running(daemon, "echo committed > /hello && rm /bin/yes")
    lines = berth_ok(daemon, "diff", name).splitlines()
    assert "A /hello" in lines and "D /bin/yes" in lines
    berth_ok(daemon, "export", "-o", str(tmp_path / "fs.tar"), name)
    with tarfile.open(tmp_path / "fs.tar") as tar:
        names = set(tar.getnames())
    assert "hello" in names and "bin/busybox" in names and "bin/yes" not in names
    image_id = berth_ok(
        daemon, "commit", "-c", 'CMD ["cat", "/hello"]', "-m", "msg", "-a", "me", name,
        "bfo-committed:v1",
    ).strip()  # fmt: skip
    assert image_id.startswith("sha256:")
    out = berth_ok(daemon, "run", "--rm", "--network", "none", "bfo-committed:v1")
    assert out == "committed\n"
    berth_ok(daemon, "commit", "--pause=false", name, "bfo-committed:v2")
    assert berth_ok(daemon, "inspect", "-f", "{{.State.Status}}", name) == "running\n"
    done = berth(daemon, "commit", "-c", "NOPE x", name)
    assert done.returncode == 1
    assert done.stderr == b"Error response from daemon: nope is not a valid change command\n"
