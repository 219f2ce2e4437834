"""The archive operations (`docker cp`'s server side) on a plain directory as a container's
root: stats, tar names, extraction options, and confinement — symlinks to `/` or `..`, `../`
names and a symlink swapped while copying never reach outside the root (with openat2 and
with the component-by-component fallback)."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from berth.engine.containers import archive
from berth.engine.containers.confined import ContainerRoot, PathNotFound, absolute, split
from berth.engine.errors import BadParameter, BerthError


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """``tmp/root`` is the container; ``tmp/secret`` and ``tmp/outside`` are the host's."""
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:\n")
    (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (root / "data" / "sub").mkdir(parents=True)
    (root / "data" / "f").write_text("inside\n")
    (root / "data" / "sub" / "g").write_text("g\n")
    (root / "secret").write_text("the container's\n")
    (root / "to-root").symlink_to("/")
    (root / "up").symlink_to("../../../..")
    (root / "etclink").symlink_to("/etc")
    (root / "data" / "rel").symlink_to("../secret")
    (tmp_path / "secret").write_text("the host's\n")
    (tmp_path / "outside").mkdir()
    return tmp_path


@pytest.fixture
def root(world: Path, resolver: str) -> Iterator[ContainerRoot]:
    fd = os.open(world / "root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    with ContainerRoot(fd, None) as opened:
        yield opened


def names_of(chunks: Iterator[bytes]) -> dict[str, bytes | None]:
    with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
        out: dict[str, bytes | None] = {}
        for member in tar.getmembers():
            handle = tar.extractfile(member) if member.isfile() else None
            out[member.name] = handle.read() if handle is not None else None
        return out


def tar_of(*entries: tuple[str, bytes | None]) -> io.BytesIO:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    out.seek(0)
    return out


def test_paths_are_cleaned_as_docker_does() -> None:
    assert absolute("etc/passwd") == "/etc/passwd"
    assert absolute("../../etc/") == "/etc/"
    assert absolute("/data/.") == "/data/."
    assert absolute("/") == "/"
    assert split("/data/.") == ("/data", ".")
    assert split("/data/") == ("/", "data")
    assert split("/") == ("/", "")


def test_stat(root: ContainerRoot) -> None:
    found = archive.stat_path(root, "/data/f", "c")
    assert (found["name"], found["size"], found["linkTarget"]) == ("f", 7, "")
    assert (
        found["mode"] == 0o644
        or found["mode"] & 0o777 == os.stat(f"/proc/self/fd/{root.fd}/data/f").st_mode & 0o777
    )
    assert archive.stat_path(root, "/data", "c")["mode"] & (1 << 31)
    link = archive.stat_path(root, "/to-root", "c")
    assert link["linkTarget"] == "/" and link["mode"] & (1 << 27)
    assert archive.stat_path(root, "/up", "c")["linkTarget"] == "/"
    assert archive.stat_path(root, "/data/rel", "c")["linkTarget"] == "/secret"
    header = json.loads(base64.b64decode(archive.stat_header(found)))
    assert header == found
    with pytest.raises(PathNotFound, match="Could not find the file /nope in container c"):
        archive.stat_path(root, "/nope", "c")
    with pytest.raises(BadParameter):
        archive.stat_path(root, "", "c")


def test_tar_names(root: ContainerRoot) -> None:
    assert names_of(archive.tar_path(root, "/data", "c")) == {
        "data": None,
        "data/f": b"inside\n",
        "data/rel": None,
        "data/sub": None,
        "data/sub/g": b"g\n",
    }
    assert set(names_of(archive.tar_path(root, "/data/.", "c"))) == {
        ".", "./f", "./rel", "./sub", "./sub/g"
    }  # fmt: skip
    assert names_of(archive.tar_path(root, "data/sub/g", "c")) == {"g": b"g\n"}


@pytest.mark.parametrize(
    "path",
    ["/to-root/secret", "/up/secret", "../../secret", "/data/../../secret", "/etclink/../secret"],
)
def test_reads_stay_inside(root: ContainerRoot, path: str) -> None:
    assert names_of(archive.tar_path(root, path, "c")) == {"secret": b"the container's\n"}


@pytest.mark.parametrize("path", ["/to-root", "/up", "/data/../..", "/etclink/.."])
def test_writes_stay_inside(root: ContainerRoot, world: Path, path: str) -> None:
    archive.extract(root, path, tar_of(("secret", b"written\n")), "c")
    assert (world / "secret").read_text() == "the host's\n"
    assert (world / "root" / "secret").read_text() == "written\n"


def test_tar_entries_cannot_climb_out(root: ContainerRoot, world: Path) -> None:
    for name in ("../../outside/x", "/../outside/x"):
        try:
            archive.extract(root, "/data", tar_of((name, b"x")), "c")
        except BadParameter as exc:
            assert "escapes" in str(exc)
        assert not (world / "outside" / "x").exists()
    # Through a symlink the archive itself brings: resolved inside the root.
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        link = tarfile.TarInfo("hop")
        link.type, link.linkname = tarfile.SYMTYPE, "/../../outside"
        tar.addfile(link)
        info = tarfile.TarInfo("hop/x")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    out.seek(0)
    # Its symlinks resolve inside the destination directory: there, this one dangles.
    with pytest.raises(BadParameter, match="symlink to a directory that does not exist"):
        archive.extract(root, "/data", out, "c")
    assert not (world / "outside" / "x").exists()


def test_extract_options(root: ContainerRoot, world: Path) -> None:
    archive.extract(root, "/etclink", tar_of((".wh.passwd", b"kept as a name")), "c")
    assert (world / "root" / "etc" / "passwd").exists()
    assert (world / "root" / "etc" / ".wh.passwd").read_bytes() == b"kept as a name"
    for conflict in (tar_of(("f", None)), tar_of(("sub", b"file"))):
        with pytest.raises(BadParameter, match="cannot overwrite"):
            archive.extract(root, "/data", conflict, "c", no_overwrite_dir_non_dir=True)
    assert (world / "root" / "data" / "f").read_text() == "inside\n"
    assert (world / "root" / "data" / "sub" / "g").exists()
    archive.extract(root, "/data", tar_of(("owned", b"o")), "c", owner=(123, 456))
    st = os.stat(world / "root" / "data" / "owned")
    assert (st.st_uid, st.st_gid) == (123, 456)
    with pytest.raises(BadParameter, match="extraction point is not a directory"):
        archive.extract(root, "/data/f", tar_of(("x", b"x")), "c")
    with pytest.raises(PathNotFound):
        archive.extract(root, "/nope", tar_of(("x", b"x")), "c")
    with pytest.raises(BadParameter, match="cannot extract"):
        archive.extract(root, "/data", io.BytesIO(b"not a tar" * 100), "c")
    with pytest.raises(BadParameter, match="read-only"):
        archive.extract(root, "/data", tar_of(("x", b"x")), "c", read_only_root=True)


def test_export_root(root: ContainerRoot) -> None:
    names = names_of(archive.export_root(root))
    assert names["data/f"] == b"inside\n"
    assert "etc/passwd" in names and "to-root" in names
    assert not any(n.startswith(("/", "./")) for n in names)


def test_symlink_swapped_during_copies(root: ContainerRoot, world: Path) -> None:
    """A directory of the container replaced by a symlink to the host's root (and back) while
    copies run through it: nothing outside the root is read or written."""
    race = world / "root" / "race"
    stop = threading.Event()

    def swap() -> None:
        while not stop.is_set():
            try:
                race.mkdir()
                (race / "secret").write_text("decoy\n")
                (race / "secret").unlink()
                race.rmdir()
                race.symlink_to(world)  # an absolute host path: inside the root it is not there
                race.unlink()
                race.symlink_to("../../..")
                race.unlink()
            except OSError:
                pass

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        for _ in range(300):
            # Failing is fine (the directory is gone, a concurrent rename made the kernel ask
            # for a retry): only what is read or written matters.
            with contextlib.suppress(BerthError):
                archive.extract(root, "/race", tar_of(("planted", b"p")), "c")
            try:
                got = names_of(archive.tar_path(root, "/race/secret", "c"))
            except (BerthError, tarfile.ReadError):
                continue
            assert got.get("secret") != b"the host's\n"
    finally:
        stop.set()
        swapper.join()
    assert not (world / "planted").exists()
    assert not (world.parent / "planted").exists()
    assert (world / "secret").read_text() == "the host's\n"


def test_mount_points_of_stopped_containers(world: Path) -> None:
    from berth.engine.containers.confined import mount_point_of

    points = {"/vol": {"Type": "volume"}, "/vol/deeper": {"Type": "bind"}, "/": {"Type": "bind"}}
    assert mount_point_of(points, "/vol") == ("/vol", points["/vol"])
    assert mount_point_of(points, "/vol/deeper/x") == ("/vol/deeper", points["/vol/deeper"])
    assert mount_point_of(points, "/volume") is None
    fd = os.open(world / "root" / "data", os.O_PATH | os.O_DIRECTORY)
    with ContainerRoot(fd, None, at="/mnt", read_only="mounted volume is marked read-only") as at:
        assert (at.inner("/mnt"), at.inner("/mnt/."), at.inner("/mnt/sub/")) == ("/", "/.", "/sub/")
        assert at.outer("/f") == "/mnt/f" and at.outer("/") == "/mnt"
        assert names_of(archive.tar_path(at, "/mnt", "c"))["mnt/f"] == b"inside\n"
        assert archive.stat_path(at, "/mnt/rel", "c")["linkTarget"] == "/mnt/secret"
        with pytest.raises(PathNotFound, match="Could not find the file /mnt/nope in container"):
            archive.stat_path(at, "/mnt/nope", "c")
        with pytest.raises(BadParameter, match="mounted volume is marked read-only"):
            archive.extract(at, "/mnt", tar_of(("x", b"x")), "c")
