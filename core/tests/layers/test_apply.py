"""apply_layer keeps what a layer tar says: modes, owners, times, xattrs, links, nodes, names."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
from berth.plugins.layers import LayerError, apply_layer

from .conftest import Sandbox
from .kit import (
    END,
    IS_ROOT,
    MTIME,
    TarBuilder,
    assert_same_tree,
    gnu_tar_extract,
    have_tool,
    needs_root,
)

NS = 10**9
CAP = b"\x01\x00\x00\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"


def everything() -> TarBuilder:
    """A layer with one of every kind of entry, odd modes and owners, xattrs, long names."""
    tar = TarBuilder()
    tar.dir("bin", mtime="1600000000.5")
    tar.file("bin/su", b"#!su\n", mode=0o4755)
    tar.file("bin/wall", b"#!wall\n", mode=0o2755, gid=5)
    tar.dir("tmp", mode=0o1777)
    tar.dir("home", mode=0o755)
    tar.dir("home/user", mode=0o700, uid=1000, gid=1000, mtime="1600000001.000000001")
    tar.file("home/user/.profile", b"PATH=/bin\n", mode=0o600, uid=1000, gid=1000)
    tar.file("home/user/big-ids", b"x", uid=3_000_000, gid=4_000_000)
    tar.file("bin/ping", b"ping", mode=0o755, xattrs={"security.capability": CAP})
    tar.file("etc-note", b"note", xattrs={"user.note": b"hello", "trusted.sec": b"\x00\xff"})
    tar.file("nanos", b"n", mtime="1600000000.123456789")
    tar.file("old", b"o", mtime=0)
    tar.symlink("bin/sh", "busybox")
    tar.symlink("abs", "/etc/passwd")
    tar.symlink("dangling", "../../nowhere")
    tar.file("bin/busybox", b"\x7fELF" + bytes(5000), mode=0o755)
    tar.hardlink("bin/ls", "bin/busybox")
    tar.hardlink("bin/cat", "bin/busybox")
    tar.fifo("run-fifo", mode=0o620, uid=7, gid=8)
    tar.dir("dev")
    tar.device("dev/null", tarfile.CHRTYPE, 1, 3, mode=0o666)
    tar.device("dev/sda", tarfile.BLKTYPE, 8, 0, mode=0o660)
    tar.device("dev/big", tarfile.CHRTYPE, 4095, 1_048_575)
    long_dir = "d" * 120
    tar.dir(long_dir)
    tar.file(f"{long_dir}/{'f' * 200}", b"long")
    tar.symlink(f"{long_dir}/link", "t" * 300)
    tar.file("caf\u00e9 \u2603.txt", b"utf8")
    tar.file("empty", b"")
    return tar


def content_size(archive: bytes) -> int:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return sum(member.size for member in tar.getmembers() if member.isreg())


@needs_root
def test_every_kind_of_entry_is_unpacked_as_gnu_tar_does(sandbox: Sandbox, tmp_path: Path) -> None:
    archive = everything().bytes()
    stream = io.BytesIO(archive)
    size = apply_layer(stream, sandbox.dest)
    assert stream.tell() == len(archive)  # read to the end
    assert size == content_size(archive)  # the entries' data, not headers and padding
    reference = tmp_path / "reference"
    reference.mkdir()
    gnu_tar_extract(archive, reference)
    assert_same_tree(sandbox.dest, reference)


@needs_root
def test_metadata_is_exact(sandbox: Sandbox) -> None:
    apply_layer(everything().stream(), sandbox.dest)
    d = sandbox.dest
    assert stat.S_IMODE(os.lstat(d / "bin/su").st_mode) == 0o4755
    assert stat.S_IMODE(os.lstat(d / "bin/wall").st_mode) == 0o2755
    assert os.lstat(d / "bin/wall").st_gid == 5
    assert stat.S_IMODE(os.lstat(d / "tmp").st_mode) == 0o1777
    st = os.lstat(d / "home/user/big-ids")
    assert (st.st_uid, st.st_gid) == (3_000_000, 4_000_000)
    assert os.lstat(d / "nanos").st_mtime_ns == 1_600_000_000_123_456_789
    assert os.lstat(d / "old").st_mtime_ns == 0
    # Directories' times are set after their content is written.
    assert os.lstat(d / "bin").st_mtime_ns == 1_600_000_000_500_000_000
    assert os.lstat(d / "home/user").st_mtime_ns == 1_600_000_001_000_000_001
    assert os.getxattr(d / "bin/ping", "security.capability") == CAP
    assert os.getxattr(d / "etc-note", "user.note") == b"hello"
    assert os.getxattr(d / "etc-note", "trusted.sec") == b"\x00\xff"
    assert os.readlink(d / "abs") == "/etc/passwd"
    assert os.readlink(d / ("d" * 120) / "link") == "t" * 300
    busybox = os.lstat(d / "bin/busybox")
    assert busybox.st_nlink == 3
    assert os.lstat(d / "bin/ls").st_ino == busybox.st_ino
    fifo = os.lstat(d / "run-fifo")
    assert stat.S_ISFIFO(fifo.st_mode) and stat.S_IMODE(fifo.st_mode) == 0o620
    assert (fifo.st_uid, fifo.st_gid) == (7, 8)
    null = os.lstat(d / "dev/null")
    assert stat.S_ISCHR(null.st_mode) and os.major(null.st_rdev) == 1
    assert os.minor(null.st_rdev) == 3
    sda = os.lstat(d / "dev/sda")
    assert stat.S_ISBLK(sda.st_mode) and (os.major(sda.st_rdev), os.minor(sda.st_rdev)) == (8, 0)
    big = os.lstat(d / "dev/big").st_rdev
    assert (os.major(big), os.minor(big)) == (4095, 1_048_575)
    assert (d / ("d" * 120) / ("f" * 200)).read_bytes() == b"long"
    assert (d / "caf\u00e9 \u2603.txt").read_bytes() == b"utf8"


@needs_root
@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT, tarfile.PAX_FORMAT])
def test_tar_formats(sandbox: Sandbox, tmp_path: Path, fmt: int) -> None:
    tar = TarBuilder(fmt)
    tar.dir("a")
    tar.file("a/" + "n" * (150 if fmt != tarfile.USTAR_FORMAT else 90), b"x" * 700)
    tar.dir("a/" + "p" * 60)
    tar.dir("a/" + "p" * 60 + "/" + "q" * 60)  # ustar splits this into prefix + name
    tar.file("a/" + "p" * 60 + "/" + "q" * 60 + "/file", b"deep")
    if fmt != tarfile.USTAR_FORMAT:
        tar.symlink("a/s", "z" * 150)
    archive = tar.bytes()
    apply_layer(io.BytesIO(archive), sandbox.dest)
    reference = tmp_path / "reference"
    reference.mkdir()
    gnu_tar_extract(archive, reference)
    assert_same_tree(sandbox.dest, reference)


@needs_root
@pytest.mark.skipif(not have_tool("tar"), reason="needs GNU tar")
@pytest.mark.parametrize(
    "options",
    [
        ["--format=gnu"],
        ["--format=posix", "--sparse-version=0.0"],
        ["--format=posix", "--sparse-version=0.1"],
        ["--format=posix", "--sparse-version=1.0"],
    ],
)
def test_sparse_files_from_gnu_tar(sandbox: Sandbox, tmp_path: Path, options: list[str]) -> None:
    src = tmp_path / "src"
    src.mkdir()
    with open(src / "sparse", "wb") as handle:
        handle.write(b"head")
        handle.seek(3 << 20)
        handle.write(b"middle" * 1000)
        handle.seek(9 << 20)
        handle.write(b"tail")
        handle.truncate(12 << 20)  # ends in a hole
    with open(src / "many-holes", "wb") as handle:
        for i in range(40):  # more segments than an old GNU header holds (extension blocks)
            handle.seek(i * 65536)
            handle.write(b"%d" % i)
    os.utime(src / "sparse", ns=(MTIME * NS, MTIME * NS))
    os.utime(src / "many-holes", ns=(MTIME * NS, MTIME * NS))
    archive = subprocess.run(
        ["tar", "-c", "--sparse", *options, "-C", str(src), "sparse", "many-holes"],
        check=True,
        capture_output=True,
    ).stdout
    apply_layer(io.BytesIO(archive), sandbox.dest)
    for name in ("sparse", "many-holes"):
        assert (sandbox.dest / name).read_bytes() == (src / name).read_bytes()
        got = os.lstat(sandbox.dest / name)
        assert got.st_size == os.lstat(src / name).st_size
        assert got.st_blocks < got.st_size // 512 // 2  # the holes stayed holes
        assert got.st_mtime_ns == MTIME * NS


def test_later_entries_win(sandbox: Sandbox) -> None:
    tar = TarBuilder()
    tar.file("f", b"first")
    tar.file("f", b"second", mode=0o600)
    tar.file("was-file", b"x")
    tar.dir("was-file")
    tar.file("was-file/inside", b"in")
    tar.dir("was-dir")
    tar.file("was-dir/old", b"old")
    tar.file("was-dir", b"now a file")
    tar.dir("d", mode=0o700)
    tar.file("d/keep", b"keep")
    tar.dir("d", mode=0o750, mtime="1600000000.25")  # metadata again: content stays
    tar.symlink("s", "target-1")
    tar.symlink("s", "target-2")
    tar.file("link-then-file", b"")
    tar.symlink("link-then-file", "/etc/passwd")
    tar.file("link-then-file", b"plain")
    apply_layer(tar.stream(), sandbox.dest)
    d = sandbox.dest
    assert (d / "f").read_bytes() == b"second"
    assert stat.S_IMODE(os.lstat(d / "f").st_mode) == 0o600
    assert (d / "was-file/inside").read_bytes() == b"in"
    assert (d / "was-dir").read_bytes() == b"now a file"
    assert (d / "d/keep").read_bytes() == b"keep"
    assert stat.S_IMODE(os.lstat(d / "d").st_mode) == 0o750
    assert os.lstat(d / "d").st_mtime_ns == 1_600_000_000_250_000_000
    assert os.readlink(d / "s") == "target-2"
    assert not (d / "link-then-file").is_symlink()
    assert (d / "link-then-file").read_bytes() == b"plain"


def test_replacing_a_file_does_not_write_into_its_other_hard_links(sandbox: Sandbox) -> None:
    tar = TarBuilder().file("a", b"original").hardlink("b", "a").file("a", b"replaced")
    apply_layer(tar.stream(), sandbox.dest)
    assert (sandbox.dest / "a").read_bytes() == b"replaced"
    assert (sandbox.dest / "b").read_bytes() == b"original"


def test_missing_parents_are_created_0755(sandbox: Sandbox) -> None:
    apply_layer(TarBuilder().file("x/y/z/file", b"data").stream(), sandbox.dest)
    assert (sandbox.dest / "x/y/z/file").read_bytes() == b"data"
    for parent in ("x", "x/y", "x/y/z"):
        assert stat.S_IMODE(os.lstat(sandbox.dest / parent).st_mode) == 0o755


def test_names_are_normalised(sandbox: Sandbox) -> None:
    tar = TarBuilder()
    tar.dir("./")
    tar.dir("./etc/")
    tar.file("./etc/hostname", b"box")
    tar.file("etc//./motd", b"hi")
    tar.file("etc/sub/../issue", b"debian")
    apply_layer(tar.stream(), sandbox.dest)
    assert sorted(os.listdir(sandbox.dest / "etc")) == ["hostname", "issue", "motd"]


def test_the_root_entry_leaves_the_root_alone(sandbox: Sandbox) -> None:
    os.chmod(sandbox.dest, 0o711)
    apply_layer(TarBuilder().dir(".", mode=0o777).file("f", b"1").stream(), sandbox.dest)
    assert stat.S_IMODE(os.lstat(sandbox.dest).st_mode) == 0o711


def test_large_file_streams_through(sandbox: Sandbox) -> None:
    data = os.urandom(1 << 16) * 48  # 3 MiB: larger than the reader's buffer
    tar = TarBuilder().file("big", data).file("after", b"after")
    apply_layer(tar.stream(), sandbox.dest)
    assert (sandbox.dest / "big").read_bytes() == data
    assert (sandbox.dest / "after").read_bytes() == b"after"


class Trickle(io.RawIOBase):
    """A stream that returns at most a few bytes per read (a slow pipe)."""

    def __init__(self, data: bytes, step: int = 7) -> None:
        self.data = memoryview(data)
        self.step = step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(self.step, len(buffer), len(self.data))
        buffer[:n] = self.data[:n]
        self.data = self.data[n:]
        return n


class ReadOnly:
    """A stream with nothing but read()."""

    def __init__(self, data: bytes) -> None:
        self.inner = io.BytesIO(data)

    def read(self, n: int = -1) -> bytes:
        return self.inner.read(n)


@pytest.mark.parametrize("wrap", [Trickle, ReadOnly], ids=["short-reads", "read-only"])
def test_odd_streams(sandbox: Sandbox, wrap: type) -> None:
    tar = TarBuilder().dir("d").file("d/f", b"z" * 3000).symlink("d/l", "f")
    archive = tar.bytes()
    assert apply_layer(wrap(archive), sandbox.dest) == 3000  # the content's size
    assert (sandbox.dest / "d/f").read_bytes() == b"z" * 3000


def test_stream_is_read_to_its_end(sandbox: Sandbox) -> None:
    archive = TarBuilder().file("f", b"1").bytes() + END + b"trailing bytes after the archive"
    stream = io.BytesIO(archive)
    assert apply_layer(stream, sandbox.dest) == 1
    assert stream.read() == b""


def test_empty_layer(sandbox: Sandbox) -> None:
    assert apply_layer(io.BytesIO(END), sandbox.dest) == 0
    assert os.listdir(sandbox.dest) == []


def test_destination_must_exist(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match="cannot unpack a layer into"):
        apply_layer(io.BytesIO(END), tmp_path / "missing")


def test_global_pax_header_applies_to_later_entries(sandbox: Sandbox) -> None:
    buffer = io.BytesIO()
    with tarfile.open(
        fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"mtime": "1500000000.5"}
    ) as tar:
        info = tarfile.TarInfo("g")
        tar.addfile(info, io.BytesIO(b""))
    apply_layer(io.BytesIO(buffer.getvalue()), sandbox.dest)
    assert os.lstat(sandbox.dest / "g").st_mtime_ns == 1_500_000_000_500_000_000


@needs_root
def test_overlay_xattrs_in_a_tar_are_dropped(sandbox: Sandbox) -> None:
    tar = TarBuilder().dir("d", xattrs={"trusted.overlay.redirect": b"/etc", "user.kept": b"1"})
    apply_layer(tar.stream(), sandbox.dest)
    assert os.listxattr(sandbox.dest / "d") == ["user.kept"]


@pytest.mark.skipif(IS_ROOT, reason="as root every owner can be set")
def test_owner_errors_name_the_entry(sandbox: Sandbox) -> None:
    with pytest.raises(LayerError, match="'f'"):
        apply_layer(TarBuilder().file("f", b"1", uid=12345).stream(), sandbox.dest)


def posix_acl(*entries: tuple[int, int]) -> bytes:
    """The xattr form of a POSIX ACL: version 2, then (tag, permissions, id) entries."""
    import struct

    return struct.pack("<I", 2) + b"".join(
        struct.pack("<HHI", tag, perm, 0xFFFFFFFF) for tag, perm in entries
    )


@needs_root
def test_modes_are_exact_under_a_default_acl(sandbox: Sandbox) -> None:
    # user::rwx group::--- other::--- as the default for new entries: without an explicit chmod
    # a file created 0644 would come out 0600.
    acl = posix_acl((0x01, 7), (0x04, 0), (0x20, 0))
    tar = TarBuilder().dir("d", xattrs={"system.posix_acl_default": acl})
    tar.file("d/f", b"f", mode=0o644).dir("d/sub", mode=0o755).file("d/sub/g", b"g", mode=0o664)
    try:
        apply_layer(tar.stream(), sandbox.dest)
    except LayerError as exc:
        pytest.skip(f"no POSIX ACLs here: {exc}")
    if "system.posix_acl_default" not in os.listxattr(sandbox.dest / "d"):
        pytest.skip("this file system drops POSIX ACLs")
    assert stat.S_IMODE(os.lstat(sandbox.dest / "d/f").st_mode) == 0o644
    assert stat.S_IMODE(os.lstat(sandbox.dest / "d/sub").st_mode) == 0o755
    assert stat.S_IMODE(os.lstat(sandbox.dest / "d/sub/g").st_mode) == 0o664


@needs_root
def test_modes_and_groups_are_exact_under_a_setgid_directory(sandbox: Sandbox) -> None:
    tar = TarBuilder().dir("shared", mode=0o2775, gid=50)
    tar.file("shared/f", b"f", mode=0o644).dir("shared/sub", mode=0o755)
    apply_layer(tar.stream(), sandbox.dest)
    f = os.lstat(sandbox.dest / "shared/f")
    sub = os.lstat(sandbox.dest / "shared/sub")
    assert (stat.S_IMODE(f.st_mode), f.st_gid) == (0o644, 0)
    assert (stat.S_IMODE(sub.st_mode), sub.st_gid) == (0o755, 0)


def pax_records(*records: tuple[bytes, bytes]) -> bytes:
    out = b""
    for key, value in records:
        body = b" " + key + b"=" + value + b"\n"
        size = len(body) + len(str(len(body)))
        size = len(body) + len(str(size))
        out += b"%d" % size + body
    return out


@needs_root
def test_libarchive_xattrs_and_atime(sandbox: Sandbox) -> None:
    import base64

    from .kit import data_blocks, raw_header

    records = pax_records(
        (b"LIBARCHIVE.xattr.user.enc%3Dname", base64.b64encode(b"\x00bin").rstrip(b"=")),
        (b"atime", b"1500000000.25"),
        (b"hdrcharset", b"BINARY"),
    )
    archive = raw_header(b"pax", b"x", len(records)) + data_blocks(records)
    archive += raw_header(b"f", b"0", 3) + data_blocks(b"abc") + END
    apply_layer(io.BytesIO(archive), sandbox.dest)
    assert os.getxattr(sandbox.dest / "f", "user.enc=name") == b"\x00bin"
    st = os.lstat(sandbox.dest / "f")
    assert st.st_atime_ns == 1_500_000_000_250_000_000
    assert st.st_mtime_ns == MTIME * NS
