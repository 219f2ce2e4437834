"""export_changes: a lazy, sorted, faithful tar of a layer's changes."""

from __future__ import annotations

import io
import os
import socket
import stat
import tarfile
import tracemalloc
from pathlib import Path

import pytest
from berth.plugins import Change, ChangeKind
from berth.plugins.layers import (
    LayerError,
    WhiteoutFormat,
    apply_layer,
    export_changes,
    overlay_changes,
    tree_changes,
)

from .kit import ROOT_ONLY, TarBuilder, assert_same_tree, gnu_tar_extract, needs_root

A, C, D = ChangeKind.ADD, ChangeKind.MODIFY, ChangeKind.DELETE
pytestmark = ROOT_ONLY  # security.capability, trusted.* xattrs, devices, overlayfs
CAP = b"\x01\x00\x00\x02" + bytes(16)


def read_tar(stream: io.BufferedIOBase | bytes) -> list[tarfile.TarInfo]:
    data = stream if isinstance(stream, bytes) else stream.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return tar.getmembers()


@pytest.fixture
def layer(tmp_path: Path) -> Path:
    root = tmp_path / "layer"
    root.mkdir()
    tar = TarBuilder().dir("etc", mode=0o750, uid=5, gid=6, mtime="1600000000.25")
    tar.file("etc/passwd", b"root:x:0:0", mtime="1600000000.123456789")
    tar.file("bin-ping", b"ping", mode=0o4755, xattrs={"security.capability": CAP})
    tar.file("note", b"n", xattrs={"user.a": b"1", "trusted.b": b"\x00\x01"})
    tar.file("a", b"shared").hardlink("b", "a").hardlink("z", "a")
    tar.symlink("etc/link", "/etc/passwd").fifo("fifo", uid=3)
    tar.file("x" * 150, b"long name", uid=2_500_000)
    apply_layer(tar.stream(), root)
    return root


def test_entries_are_sorted_and_faithful(layer: Path) -> None:
    changes = tree_changes(layer, None)
    members = read_tar(export_changes(layer, changes))
    names = [m.name for m in members]
    assert names == sorted(names)
    by_name = {m.name: m for m in members}
    etc = by_name["etc"]
    assert etc.isdir() and etc.mode == 0o750 and (etc.uid, etc.gid) == (5, 6)
    assert etc.pax_headers["mtime"] == "1600000000.25"
    assert by_name["etc/passwd"].pax_headers["mtime"] == "1600000000.123456789"
    assert by_name["bin-ping"].mode == 0o4755
    assert (
        by_name["bin-ping"]
        .pax_headers["SCHILY.xattr.security.capability"]
        .encode("utf-8", "surrogateescape")
        == CAP
    )
    assert by_name["etc/link"].issym() and by_name["etc/link"].linkname == "/etc/passwd"
    assert by_name["fifo"].isfifo() and by_name["fifo"].uid == 3
    assert by_name["x" * 150].uid == 2_500_000
    assert by_name["a"].isfile() and by_name["a"].size == 6
    assert by_name["b"].islnk() and by_name["b"].linkname == "a"
    assert by_name["z"].islnk() and by_name["z"].linkname == "a"
    assert all(m.uname == "" and m.gname == "" for m in members)


def test_deletions_become_whiteouts(layer: Path) -> None:
    changes = [Change("/etc/gone", D), Change("/gone-too", D), Change("/etc", C)]
    members = read_tar(export_changes(layer, changes))
    # In the order of the changes' paths: /etc, /etc/gone, /gone-too.
    assert [(m.name, m.type, m.size) for m in members] == [
        ("etc", tarfile.DIRTYPE, 0),
        ("etc/.wh.gone", tarfile.REGTYPE, 0),
        (".wh.gone-too", tarfile.REGTYPE, 0),
    ]


def test_output_is_deterministic(layer: Path) -> None:
    changes = tree_changes(layer, None)
    first = export_changes(layer, changes).read()
    second = export_changes(layer, list(reversed(changes))).read()
    assert first == second


def test_sockets_are_skipped_and_vanished_paths_left_out(layer: Path) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(layer / "sock"))
        changes = [Change("/sock", A), Change("/vanished", A), Change("/no/such/dir/x", A)]
        changes.append(Change("/note", C))
        assert [m.name for m in read_tar(export_changes(layer, changes))] == ["note"]


def test_symlinks_are_never_followed(layer: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"host secret")
    os.symlink(outside, layer / "escape")
    os.symlink(outside / "secret", layer / "secret-link")
    changes = [Change("/escape", A), Change("/escape/secret", A), Change("/secret-link", A)]
    data = export_changes(layer, changes).read()
    assert b"host secret" not in data
    assert [(m.name, m.issym()) for m in read_tar(data)] == [
        ("escape", True),
        ("secret-link", True),
    ]


def test_gnu_tar_reads_the_export(layer: Path, tmp_path: Path) -> None:
    data = export_changes(layer, tree_changes(layer, None)).read()
    out = tmp_path / "out"
    out.mkdir()
    gnu_tar_extract(data, out)
    assert_same_tree(layer, out)


def test_on_close_runs_once(layer: Path) -> None:
    calls: list[str] = []
    stream = export_changes(layer, tree_changes(layer, None), on_close=lambda: calls.append("x"))
    stream.read(100)  # closed half way through
    stream.close()
    stream.close()
    assert calls == ["x"]
    with export_changes(layer, [], on_close=lambda: calls.append("y")) as empty:
        assert empty.read() == bytes(1024)
    assert calls == ["x", "y"]
    with pytest.raises(ValueError):
        stream.read()


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match="cannot export the layer at"):
        export_changes(tmp_path / "nope", [])


def test_export_streams_without_holding_the_layer(tmp_path: Path) -> None:
    root = tmp_path / "big"
    root.mkdir()
    with open(root / "huge", "wb") as handle:  # 256 MiB, sparse on disk, real in the tar
        handle.truncate(256 << 20)
    tracemalloc.start()
    try:
        stream = export_changes(root, [Change("/huge", A)])
        total = 0
        while chunk := stream.read(1 << 16):
            total += len(chunk)
        stream.close()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == 1024 + 512 + (256 << 20) + 1024  # pax header (ns mtime), header, data, end
    assert peak < 8 << 20


def test_a_file_that_shrinks_while_read_keeps_the_archive_valid(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "f").write_bytes(b"a" * 5000)
    stream = export_changes(root, [Change("/f", A), Change("/g", A)])
    first = stream.read(512)  # the header is out: the size is promised
    (root / "f").write_bytes(b"b" * 10)
    data = first + stream.read()
    members = read_tar(data)
    assert [(m.name, m.size) for m in members] == [("f", 5000)]


@needs_root
def test_overlay_upper_dir_export(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    upper.mkdir()
    tar = TarBuilder().dir("etc").whiteout("etc/passwd").dir("etc/apt").opaque("etc/apt")
    tar.file("etc/apt/new", b"n").file("etc/motd", b"hi")
    apply_layer(tar.stream(), upper, whiteouts=WhiteoutFormat.OVERLAY)
    data = export_changes(upper, overlay_changes(upper)).read()
    names = [m.name for m in read_tar(data)]
    assert names == [  # in the order of the changed paths (/etc/passwd after /etc/motd)
        "etc",
        "etc/apt",
        "etc/apt/.wh..wh..opq",
        "etc/apt/new",
        "etc/motd",
        "etc/.wh.passwd",
    ]
    # Exported xattrs never include overlay's own.
    assert all(
        not key.startswith("SCHILY.xattr.trusted.overlay")
        for m in read_tar(data)
        for key in m.pax_headers
    )


def test_mtime_before_1970_and_big_sizes_use_pax(tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "old").write_bytes(b"o")
    os.utime(root / "old", ns=(0, -1_500_000_000))
    members = read_tar(export_changes(root, [Change("/old", A)]))
    assert members[0].pax_headers["mtime"] == "-1.5"
    out = tmp_path / "out"
    out.mkdir()
    apply_layer(export_changes(root, [Change("/old", A)]), out)
    assert os.lstat(out / "old").st_mtime_ns == -1_500_000_000
    assert stat.S_ISREG(os.lstat(out / "old").st_mode)
