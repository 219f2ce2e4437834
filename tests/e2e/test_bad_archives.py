"""Bad archives through the berth CLI: each load fails with exit status 1 and one line on
stderr, adds no image, keeps every image stored before, and writes nothing outside the data
root."""

from __future__ import annotations

import gzip
import tarfile
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.archives import DockerArchive, layer_tar, sha256_bytes
from tests.e2e.conftest import berth, berth_ok, image_listing, needs_busybox
from tests.integration.daemon import Daemon

pytestmark = needs_busybox


@pytest.fixture(scope="module")
def seeded(berthd: Daemon, rootfs_tar: Path) -> Daemon:
    """A daemon holding busybox:latest and a small two-layer image, before any bad input."""
    berth_ok(berthd, "import", str(rootfs_tar), "busybox:latest")
    layers = [layer_tar({"etc/a": b"a\n"}), layer_tar({"etc/b": b"b\n"})]
    archive = DockerArchive(layers, ["e2e/good:1"]).write(rootfs_tar.parent / "good.tar")
    assert berth_ok(berthd, "load", "-i", str(archive)) == "Loaded image: e2e/good:1\n"
    return berthd


def escape_target() -> Path:
    return Path("/tmp") / f"berth-e2e-escape-{uuid.uuid4().hex}"


def _member(
    name: str, size: int = 0, kind: bytes = tarfile.REGTYPE, link: str = ""
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname, info.mode = kind, size, link, 0o644
    return info


def truncated(tmp: Path, _: Path) -> Path:
    whole = DockerArchive([layer_tar({"etc/t": b"t" * 100_000})], ["e2e/bad:trunc"])
    data = whole.write(tmp / "whole.tar").read_bytes()
    (tmp / "cut.tar").write_bytes(data[: len(data) // 2])
    return tmp / "cut.tar"


def dotdot_member(tmp: Path, outside: Path) -> Path:
    relative = "../" * 12 + str(outside).lstrip("/")
    archive = DockerArchive(
        [layer_tar({"etc/x": b"x"})], ["e2e/bad:dotdot"], extra=[(relative, b"escaped\n")]
    )
    return archive.write(tmp / "dotdot.tar")


def absolute_member(tmp: Path, outside: Path) -> Path:
    archive = DockerArchive(
        [layer_tar({"etc/x": b"x"})], ["e2e/bad:abs"], extra=[(str(outside), b"escaped\n")]
    )
    return archive.write(tmp / "absolute.tar")


def layer_escapes_with_dotdot(tmp: Path, outside: Path) -> Path:
    evil = _member("../" * 12 + str(outside).lstrip("/"), size=8)
    archive = DockerArchive([layer_tar({"etc/x": b"x"}, extra=[evil])], ["e2e/bad:layer-dotdot"])
    return archive.write(tmp / "layer-dotdot.tar")


def layer_escapes_through_a_symlink(tmp: Path, outside: Path) -> Path:
    link = _member("escape", kind=tarfile.SYMTYPE, link=str(outside.parent))
    through = _member(f"escape/{outside.name}", size=8)
    archive = DockerArchive([layer_tar({}, extra=[link, through])], ["e2e/bad:layer-symlink"])
    return archive.write(tmp / "layer-symlink.tar")


def layer_hard_link_outside(tmp: Path, outside: Path) -> Path:
    outside.write_bytes(b"do not touch\n")
    link = _member("stolen", kind=tarfile.LNKTYPE, link="../" * 12 + str(outside).lstrip("/"))
    archive = DockerArchive([layer_tar({}, extra=[link])], ["e2e/bad:hardlink"])
    return archive.write(tmp / "hardlink.tar")


def missing_blob(tmp: Path, _: Path) -> Path:
    layers = [layer_tar({"etc/m": b"m"}), layer_tar({"etc/n": b"n"})]
    archive = DockerArchive(layers, ["e2e/bad:missing"])
    archive.drop = {f"blobs/sha256/{sha256_bytes(layers[1])[7:]}"}
    return archive.write(tmp / "missing.tar")


def wrong_diff_id(tmp: Path, _: Path) -> Path:
    layer = layer_tar({"etc/w": b"w"})
    archive = DockerArchive([layer], ["e2e/bad:digest"], diff_ids=[sha256_bytes(b"other")])
    return archive.write(tmp / "digest.tar")


def truncated_gzip_layer(tmp: Path, _: Path) -> Path:
    packed = gzip.compress(layer_tar({"etc/g": bytes(range(256)) * 400}), mtime=0)
    archive = DockerArchive([packed[: len(packed) // 2]], ["e2e/bad:gzip"])
    archive.diff_ids = [sha256_bytes(b"unknowable")]
    return archive.write(tmp / "gzip.tar")


def not_an_archive(tmp: Path, _: Path) -> Path:
    (tmp / "text.tar").write_bytes(b"this is not a tar archive at all\n" * 100)
    return tmp / "text.tar"


def no_manifest(tmp: Path, _: Path) -> Path:
    archive = DockerArchive([layer_tar({"etc/x": b"x"})], ["e2e/bad:nomanifest"])
    archive.drop = {"manifest.json"}
    return archive.write(tmp / "nomanifest.tar")


BAD: dict[str, Callable[[Path, Path], Path]] = {
    "truncated archive": truncated,
    "../ member in the archive": dotdot_member,
    "absolute member in the archive": absolute_member,
    "../ entry in a layer": layer_escapes_with_dotdot,
    "layer entry through a symlink": layer_escapes_through_a_symlink,
    "hard link to a file outside": layer_hard_link_outside,
    "missing blob": missing_blob,
    "wrong diff ID": wrong_diff_id,
    "truncated gzip layer": truncated_gzip_layer,
    "not an archive": not_an_archive,
    "no manifest": no_manifest,
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_archive_is_refused_cleanly(seeded: Daemon, tmp_path: Path, case: str) -> None:
    before = image_listing(seeded)
    outside = escape_target()
    archive = BAD[case](tmp_path, outside)
    existed = outside.exists()
    content = outside.read_bytes() if existed else b""
    try:
        done = berth(seeded, "load", "-i", str(archive))
        stderr = done.stderr.decode()
        assert done.returncode == 1, (done.stdout, stderr)
        assert stderr.count("\n") == 1 and stderr.strip(), stderr
        assert "Traceback" not in stderr
        assert image_listing(seeded) == before  # nothing new, nothing lost
        # nothing written outside the data root
        assert outside.exists() == existed
        if existed:
            assert outside.read_bytes() == content
            assert outside.stat().st_nlink == 1
        strays = [p for p in seeded.root.rglob(outside.name)]
        assert strays == []
    finally:
        outside.unlink(missing_ok=True)


def test_previous_images_still_work_after_bad_loads(seeded: Daemon, tmp_path: Path) -> None:
    berth(seeded, "load", "-i", str(truncated(tmp_path, tmp_path)))
    image_id = berth_ok(seeded, "inspect", "-f", "{{.Id}}", "e2e/good:1").strip()
    archive = tmp_path / "again.tar"
    berth_ok(seeded, "save", "-o", str(archive), "e2e/good:1")
    berth_ok(seeded, "rmi", "e2e/good:1")
    assert berth_ok(seeded, "load", "-i", str(archive)) == "Loaded image: e2e/good:1\n"
    assert berth_ok(seeded, "inspect", "-f", "{{.Id}}", "e2e/good:1").strip() == image_id


def test_bad_import_input_is_refused_cleanly(seeded: Daemon, tmp_path: Path) -> None:
    before = image_listing(seeded)
    cut = tmp_path / "cut-rootfs.tar"
    cut.write_bytes(layer_tar({"etc/c": b"c" * 50_000})[:20_000])
    done = berth(seeded, "import", str(cut), "e2e/bad:import")
    assert done.returncode == 1
    assert done.stderr.decode().count("\n") == 1
    assert image_listing(seeded) == before


def test_missing_file_and_bad_name(seeded: Daemon, tmp_path: Path) -> None:
    done = berth(seeded, "load", "-i", str(tmp_path / "absent.tar"))
    assert (done.returncode, done.stderr.decode()) == (
        1,
        f"open {tmp_path}/absent.tar: no such file or directory\n",
    )
    bad_name = berth(seeded, "import", str(tmp_path / "absent.tar"), "Bad/Name")
    assert bad_name.returncode == 1  # (the file is opened first, as docker does)
    rootfs = tmp_path / "r.tar"
    rootfs.write_bytes(layer_tar({"a": b"a"}))
    bad = berth(seeded, "import", str(rootfs), "Bad/Name")
    assert bad.stderr.decode() == (
        "invalid reference format: repository name (Name) must be lowercase\n"
    )
