"""`berth cp`'s host side, as the docker CLI decides it: argument splitting, where an archive
is unpacked and how its entries are renamed, host tars of a source, unpacking that refuses
entries leaving the destination."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from berth.cli import copying
from berth.cli.copying import CopyInfo
from berth.cli.errors import CliError


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("c1:/etc", ("c1", "/etc")),
        ("/abs:path", ("", "/abs:path")),
        ("./file:name", ("", "./file:name")),
        ("relative", ("", "relative")),
        ("c1:", ("c1", "")),
    ],
)
def test_split_cp_arg(arg: str, expected: tuple[str, str]) -> None:
    assert copying.split_cp_arg(arg) == expected


def test_prepare_follows_docker() -> None:
    file_src = CopyInfo("/src/f", True, False)
    dir_src = CopyInfo("/src/d", True, True)
    content = CopyInfo("/src/d/.", True, True)
    existing_dir = CopyInfo("/dst", True, True)
    existing_file = CopyInfo("/dst/file", True, False)
    missing = CopyInfo("/dst/new")
    assert copying.prepare(file_src, existing_dir) == ("/dst", None)
    assert copying.prepare(file_src, existing_file) == ("/dst", ("f", "file"))
    assert copying.prepare(dir_src, missing) == ("/dst", ("d", "new"))
    assert copying.prepare(content, missing) == ("/dst", (".", "new"))
    with pytest.raises(CliError, match="cannot copy directory"):
        copying.prepare(dir_src, existing_file)
    with pytest.raises(CliError, match="no such directory"):
        copying.prepare(file_src, CopyInfo("/dst/new/"))
    assert copying.rebase("d/x/y", ("d", "new")) == "new/x/y"
    assert copying.rebase("./x", (".", "new")) == "new/x"
    assert copying.rebase("dd/x", ("d", "new")) == "dd/x"


def test_host_tar_of_a_tree(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    (tree / "sub" / "a").write_bytes(b"a" * 1000)
    os.link(tree / "sub" / "a", tree / "hard")
    (tree / "link").symlink_to("sub/a")
    (tree / ("long" * 40)).write_text("long name")
    source = copying.source_info(str(tree), follow_link=False)
    data = copying.tar_source(source, ("tree", "renamed")).read(1 << 30)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert tar.extractfile("renamed/sub/a").read() == b"a" * 1000  # type: ignore[union-attr]
    assert members["renamed"].isdir() and members["renamed/link"].linkname == "sub/a"
    assert members["renamed/sub/a"].islnk() or members["renamed/hard"].islnk()
    assert "renamed/" + "long" * 40 in members


def test_unpacking_refuses_escapes(tmp_path: Path) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        hop = tarfile.TarInfo("d/hop")
        hop.type, hop.linkname = tarfile.SYMTYPE, "/"
        tar.addfile(hop)
        evil = tarfile.TarInfo("d/hop/tmp/escaped")
        evil.size = 1
        tar.addfile(evil, io.BytesIO(b"x"))
    (tmp_path / "dst").mkdir()
    with pytest.raises(CliError, match="refusing to unpack d/hop/tmp/escaped"):
        copying.untar_to_host(
            iter([out.getvalue()]), CopyInfo("/d", True, True), str(tmp_path / "dst"), False
        )
    assert os.readlink(tmp_path / "dst" / "d" / "hop") == "/"
