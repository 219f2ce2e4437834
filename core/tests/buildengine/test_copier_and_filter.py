"""The builder's file work without a daemon: COPY sources and their checksum (content, not
mtimes), the layer tar a COPY writes (destination rules, parents, --chown/--chmod), the RUN
diff filter (the engine's mount points left out), paths resolved inside a root."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from berth.engine.build import copier
from berth.engine.build.cache import BuildCache, step_key
from berth.engine.build.difffilter import filtered_diff
from berth.engine.build.paths import absolute, resolve_in_root
from berth.testing.logger import RecordingLogger


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def members(stream: io.BufferedIOBase) -> dict[str, tarfile.TarInfo]:
    data = stream.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name.rstrip("/"): m for m in tar.getmembers()}


def test_checksum_follows_content_not_mtime(tmp_path: Path) -> None:
    root = tree(tmp_path, {"a.txt": "one", "d/x": "x"})
    first = copier.checksum(copier.find_sources(root, "a.txt") + copier.find_sources(root, "d"))
    os.utime(root / "a.txt", (1, 1))
    same = copier.checksum(copier.find_sources(root, "a.txt") + copier.find_sources(root, "d"))
    (root / "d" / "x").write_text("y")
    changed = copier.checksum(copier.find_sources(root, "a.txt") + copier.find_sources(root, "d"))
    assert first == same != changed


def test_sources_globs_and_bad_paths(tmp_path: Path) -> None:
    root = tree(tmp_path, {"a.txt": "", "b.txt": "", "c.md": "", "sub/d.txt": ""})
    assert [s.path for s in copier.find_sources(root, "*.txt")] == ["a.txt", "b.txt"]
    assert [s.path for s in copier.find_sources(root, "*/d.txt")] == ["sub/d.txt"]
    with pytest.raises(copier.CopyError, match="outside the build context"):
        copier.find_sources(root, "../etc/passwd")
    with pytest.raises(copier.CopyError, match="nope: file does not exist"):
        copier.find_sources(root, "nope")
    with pytest.raises(copier.CopyError, match="no source files"):
        copier.find_sources(root, "*.none")


def test_symlink_source_stays_inside_the_root(tmp_path: Path) -> None:
    root = tree(tmp_path / "ctx", {"real.txt": "inside"})
    (root / "link").symlink_to("/real.txt")
    (root / "escape").symlink_to("../../../../etc/passwd")
    assert copier.find_sources(root, "link")[0].path == "real.txt"
    with pytest.raises(copier.CopyError):
        copier.find_sources(root, "escape")  # resolves to <root>/etc/passwd: not there


def test_layer_tar_places_files_with_owner_and_mode(tmp_path: Path) -> None:
    context = tree(tmp_path / "ctx", {"a.txt": "A", "dir/b.txt": "B"})
    rootfs = tmp_path / "rootfs"
    (rootfs / "opt").mkdir(parents=True)
    os.chmod(rootfs / "opt", 0o700)
    sources = copier.find_sources(context, "a.txt") + copier.find_sources(context, "dir")
    plan = copier.CopyPlan(sources, "/opt/app/", copier.Ownership(7, 8), 0o640)
    found = members(copier.layer_tar(plan, rootfs))
    assert found["opt"].mode == 0o700  # an existing directory keeps its metadata
    app = found["opt/app"]  # the copied directory itself: --chmod and --chown apply to it too
    assert (app.mode, app.uid, app.gid) == (0o640, 7, 8)
    assert found["opt/app/a.txt"].mode == 0o640 and found["opt/app/a.txt"].uid == 7
    assert found["opt/app/b.txt"].size == 1  # a directory's content, not the directory


def test_single_file_destination_rules(tmp_path: Path) -> None:
    context = tree(tmp_path / "ctx", {"a.txt": "A", "b.txt": "B"})
    rootfs = tmp_path / "rootfs"
    (rootfs / "existing").mkdir(parents=True)
    one = copier.find_sources(context, "a.txt")
    assert "renamed" in members(
        copier.layer_tar(copier.CopyPlan(one, "/renamed", None, None), rootfs)
    )
    into = members(copier.layer_tar(copier.CopyPlan(one, "/existing", None, None), rootfs))
    assert "existing/a.txt" in into
    two = one + copier.find_sources(context, "b.txt")
    with pytest.raises(copier.CopyError, match="must be a directory and end with a /"):
        copier.target_paths(copier.CopyPlan(two, "/x", None, None), rootfs)


def test_diff_filter_drops_the_engine_mount_points() -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind in (
            ("etc", tarfile.DIRTYPE),
            ("etc/hosts", tarfile.REGTYPE),
            ("etc/hostname", tarfile.REGTYPE),
            ("dev", tarfile.DIRTYPE),
            ("dev/console", tarfile.REGTYPE),
            ("proc", tarfile.DIRTYPE),
            ("app", tarfile.DIRTYPE),
            ("app/" + "x" * 120, tarfile.REGTYPE),
            ("tmp", tarfile.DIRTYPE),
            ("tmp/kept", tarfile.REGTYPE),
        ):
            info = tarfile.TarInfo(name)
            info.type = kind
            data = b"data" if kind == tarfile.REGTYPE else b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    raw.seek(0)
    kept = members(filtered_diff(raw))
    assert sorted(kept) == ["app", "app/" + "x" * 120, "tmp", "tmp/kept"]


def test_paths_resolve_inside_the_root(tmp_path: Path) -> None:
    (tmp_path / "usr" / "bin").mkdir(parents=True)
    (tmp_path / "bin").symlink_to("usr/bin")
    (tmp_path / "up").symlink_to("../../..")
    assert resolve_in_root(tmp_path, "/bin/tool") == "usr/bin/tool"
    assert resolve_in_root(tmp_path, "/up/etc") == "etc"
    assert absolute("sub/", "/work") == "/work/sub/"
    assert absolute("/abs", "/work") == "/abs"


def test_cache_index_survives_and_drops(tmp_path: Path) -> None:
    log = RecordingLogger()
    path = tmp_path / "cache.json"
    cache = BuildCache(path, log)
    key = step_key("sha256:parent", "RUN x")
    cache.put_many([(key, "sha256:child")])
    again = BuildCache(path, log)
    assert again.get(key, lambda _: True) == "sha256:child"
    assert again.get(key, lambda _: False) is None  # its image is gone
    assert again.get(key, lambda _: True) is None
