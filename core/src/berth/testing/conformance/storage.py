"""Conformance suite of storage drivers (entry-point group ``berth.storage.v1``).

A storage driver's tests subclass :class:`StorageDriverSuite` and name the plugin::

    from berth.testing.conformance import StorageDriverSuite

    class TestMyDriver(StorageDriverSuite):
        name = "mydriver"                   # the entry-point name
        distribution = "berth-storage-mydriver"
        filesystem = "btrfs"                # optional: the data root must be on this type

The suite runs the registration checks (:class:`DriverRegistrationSuite`) and then the
behaviour of the :class:`~berth.plugins.StorageDriver` contract, each test with a fresh driver
built by the plugin's own factory in a fresh data directory: base and child layers, a deep
chain read through at the top, ``apply_diff`` with whiteouts and opaque directories, ``changes``
and ``diff`` back (and a round trip through them), metadata kept (modes, owners, xattrs, hard
links, symbolic links, fifos, devices, times), ``remove``, mount reference counting, a writable
layer on top, a restart of the driver on the same data, ``cleanup`` leaving no mount, and the
refusal of bad input (unknown or malformed layer IDs, truncated or escaping tars).

Where the host cannot run a check, it is skipped with the reason: the driver's probe says the
host cannot run it, the check needs root (other owners, device nodes, file capabilities), or the
file system asked for by ``filesystem`` cannot be made (``mkfs.<type>``, loop devices, root).

To put the data root somewhere else, override the ``storage_root`` fixture (a directory the
suite lays ``data-root/storage/<name>/`` out in); ``options`` holds the driver's options.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import struct
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest

from berth.plugins import (
    AnySpec,
    Change,
    ChangeKind,
    DriverKind,
    FillsLayersApart,
    PluginContext,
    ProbeResult,
    StorageDriver,
    StorageDriverSpec,
)
from berth.plugins.layers import apply_layer
from berth.testing.conformance.registration import DriverRegistrationSuite
from berth.testing.context import make_plugin_context
from berth.testing.layertar import (
    MTIME,
    OPAQUE_MARKER,
    WHITEOUT_PREFIX,
    Node,
    TarMember,
    expected_tree,
    layer_tar,
    normalise,
    read_tar,
)
from berth.testing.loopfs import loop_filesystem, loop_filesystem_unavailable
from berth.testing.mounts import mounts_under
from berth.testing.trees import (
    TreeEntry,
    differences,
    hardlink_groups,
    snapshot,
    without_dir_mtimes,
)

#: Builds another driver object on the same context (what a restarted daemon does).
DriverFactory = Callable[[], StorageDriver]

#: A file capability (``setcap cap_net_bind_service+ep``): VFS_CAP_REVISION_2 with the
#: effective flag, CAP_NET_BIND_SERVICE (10) permitted, nothing inheritable.
FILE_CAPABILITY = struct.pack("<5I", 0x02000001, 1 << 10, 0, 0, 0)


def layer_id(label: str) -> str:
    """A layer ID as core makes them (64 hex characters), stable for a label."""
    return hashlib.sha256(label.encode()).hexdigest()


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"needs root to {what}")


class StorageDriverSuite(DriverRegistrationSuite):
    """Subclass it and set ``name`` (the entry-point name) and ``distribution``; optionally
    ``filesystem`` (a file system type the data root must be on), ``filesystem_size_mb``,
    ``options`` (the driver's options) and ``chain_depth``."""

    kind: ClassVar[DriverKind] = "storage"
    spec_type: ClassVar[type[AnySpec]] = StorageDriverSpec
    contract: ClassVar[type] = StorageDriver

    #: A file system type (``"btrfs"``) to run on: the suite makes one per test class, in an
    #: image file, loop-mounted (needs root and ``mkfs.<type>``). ``None``: pytest's tmp_path.
    filesystem: ClassVar[str | None] = None
    filesystem_size_mb: ClassVar[int] = 512
    #: Driver options, as ``--storage-opt`` would give them.
    options: ClassVar[Mapping[str, Any]] = {}
    #: How many layers the deep-chain test stacks.
    chain_depth: ClassVar[int] = 100

    # --- fixtures ------------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def special_filesystem(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path | None]:
        """The mount point of the ``filesystem`` the class asked for (``None`` if none)."""
        if cls.filesystem is None:
            yield None
            return
        reason = loop_filesystem_unavailable(cls.filesystem)
        if reason:
            pytest.skip(f"{cls.name} needs its data root on {cls.filesystem}: {reason}")
        workdir = tmp_path_factory.mktemp(f"loop-{cls.filesystem}")
        with loop_filesystem(cls.filesystem, workdir, cls.filesystem_size_mb) as mount_point:
            yield mount_point

    @pytest.fixture
    def storage_root(self, tmp_path: Path, special_filesystem: Path | None) -> Iterator[Path]:
        """Where the test's data root is made: ``tmp_path``, or a fresh directory on the
        special file system (deleted after the test, to keep its space for the next ones).
        Override it to test on a file system of your own."""
        if special_filesystem is None:
            yield tmp_path
            return
        root = Path(tempfile.mkdtemp(prefix="test-", dir=special_filesystem))
        yield root
        if not mounts_under(root):
            shutil.rmtree(root, ignore_errors=True)

    @pytest.fixture
    def context(self, storage_root: Path) -> PluginContext:
        """The context core would hand the driver, rooted in ``storage_root``."""
        return make_plugin_context(storage_root, self.kind, self.name, self.options)

    @pytest.fixture
    def driver_factory(
        self, spec: StorageDriverSpec, context: PluginContext, probe_result: ProbeResult
    ) -> Iterator[DriverFactory]:
        """Builds drivers on the test's context; every one is cleaned up after the test, and
        the test fails if a mount is left under the data directory."""
        if not probe_result.supported:
            pytest.skip(f"storage driver {self.name!r} cannot run here: {probe_result.reason}")
        made: list[StorageDriver] = []

        def make() -> StorageDriver:
            driver = spec.factory(context)
            made.append(driver)
            return driver

        yield make
        for driver in reversed(made):
            if isinstance(driver, StorageDriver):  # a wrong type fails its own check
                driver.cleanup()
        left = mounts_under(context.data_dir)
        assert not left, f"mounts left under the data directory after cleanup(): {left}"

    @pytest.fixture
    def driver(self, driver_factory: DriverFactory) -> StorageDriver:
        """A driver built by the plugin's factory in a fresh data directory."""
        return driver_factory()

    # --- layers ----------------------------------------------------------------------------

    def test_base_layer_is_empty_and_exists(self, driver: StorageDriver) -> None:
        base = layer_id("base")
        assert not driver.exists(base)
        driver.create(base, None)
        assert driver.exists(base)
        with mounted(driver, base) as root:
            assert root.is_dir()
            assert snapshot(root) == {}, "a new base layer is empty"

    def test_apply_diff_fills_a_base_layer(self, driver: StorageDriver) -> None:
        nodes = [
            Node.dir("etc"),
            Node.file("etc/hostname", b"box\n"),
            Node.file("big", os.urandom(300_000)),
        ]
        tar = layer_tar(nodes)
        driver.create(layer_id("base"), None)
        applied = driver.apply_diff(layer_id("base"), None, io.BytesIO(tar))
        content = sum(len(node.data) for node in nodes)
        assert content <= applied <= len(tar), (
            f"apply_diff returned {applied}; expected the bytes applied, between the content "
            f"size {content} and the tar size {len(tar)}"
        )
        assert_tree(driver, layer_id("base"), expected_tree(nodes))

    def test_child_sees_parent_and_its_own_changes(self, driver: StorageDriver) -> None:
        base, child = layer_id("base"), layer_id("child")
        make_layer(driver, base, None, [Node.file("a", b"A"), Node.file("b", b"B")])
        make_layer(driver, child, base, [Node.file("b", b"B2"), Node.file("c", b"C")])
        assert contents(driver, child) == {"a": b"A", "b": b"B2", "c": b"C"}
        assert contents(driver, base) == {"a": b"A", "b": b"B"}, "the parent must not change"

    def test_child_without_a_diff_shows_the_parent(self, driver: StorageDriver) -> None:
        base, child = layer_id("base"), layer_id("child")
        make_layer(driver, base, None, [Node.dir("d"), Node.file("d/f", b"x")])
        driver.create(child, base)
        assert contents(driver, child) == {"d": None, "d/f": b"x"}

    def test_deep_chain_reads_through(self, driver: StorageDriver) -> None:
        model: dict[str, bytes | None] = {}
        at: dict[int, dict[str, bytes | None]] = {}
        parent: str | None = None
        for level in range(1, self.chain_depth + 1):
            layer = layer_id(f"chain-{level}")
            make_layer(driver, layer, parent, chain_layer(level, model))
            at[level] = dict(model)
            parent = layer
        for level in sorted({1, self.chain_depth // 2, self.chain_depth}):
            got = contents(driver, layer_id(f"chain-{level}"))
            assert got == at[level], f"layer {level} of the chain reads wrong: " + "; ".join(
                describe_mismatch(at[level], got)
            )

    def test_deep_chain_diff_of_the_top_layer(self, driver: StorageDriver) -> None:
        depth = min(self.chain_depth, 30)
        model: dict[str, bytes | None] = {}
        parent: str | None = None
        for level in range(1, depth + 1):
            layer = layer_id(f"chain-{level}")
            nodes = chain_layer(level, model)
            make_layer(driver, layer, parent, nodes)
            parent = layer
        top, below = layer_id(f"chain-{depth}"), layer_id(f"chain-{depth - 1}")
        names = set(diff_members(driver, top, below))
        wanted = {node.path for node in nodes}
        assert wanted <= names, f"the diff of the top layer lacks {sorted(wanted - names)}"
        extra = names - wanted
        assert not extra, f"the diff of the top layer has entries of other layers: {extra}"

    # --- changes and diffs -----------------------------------------------------------------

    def test_apply_diff_honours_whiteouts_and_opaque_dirs(self, driver: StorageDriver) -> None:
        _, child = changes_fixture(driver)
        assert contents(driver, child) == CHANGES_CHILD_CONTENTS

    def test_a_layer_filled_apart_stacks_on_its_parent(self, driver: StorageDriver) -> None:
        """``FillsLayersApart``: a diff unpacked straight into the directory the driver names
        (as a pull's worker process does), whiteouts and opaque directory included, reads
        as if ``apply_diff`` had applied it."""
        if not isinstance(driver, FillsLayersApart):
            pytest.skip("the driver does not fill layers apart (optional)")
        base, child = layer_id("apart-base"), layer_id("apart-child")
        make_layer(driver, base, None, changes_base_nodes())
        driver.create(child, base)
        place = driver.independent_diff_target(child, base)
        assert place is not None, "a layer just created on its parent can be filled apart"
        target, whiteouts = place
        apply_layer(io.BytesIO(layer_tar(changes_child_nodes())), target, whiteouts=whiteouts)
        assert contents(driver, child) == CHANGES_CHILD_CONTENTS

    def test_changes_lists_adds_modifications_and_deletions(self, driver: StorageDriver) -> None:
        base, child = changes_fixture(driver)
        found = {change.path: change.kind for change in driver.changes(child, base)}
        assert all(isinstance(c, Change) for c in driver.changes(child, base))
        expected = {
            "/new": ChangeKind.ADD,
            "/modify": ChangeKind.MODIFY,
            "/delete": ChangeKind.DELETE,
            "/gone": ChangeKind.DELETE,
            "/dir/b": ChangeKind.ADD,
            "/replaced/new": ChangeKind.ADD,
        }
        wrong = {p: found.get(p) for p, kind in expected.items() if found.get(p) != kind}
        assert not wrong, f"changes(): expected {expected}, got {found}"
        for unchanged in ("/keep", "/dir/a"):
            assert unchanged not in found, f"{unchanged} did not change but is listed: {found}"
        assert not [p for p in found if p.startswith("/gone/")], (
            f"a deleted directory is one deletion, not one per file inside: {found}"
        )
        for path in ("/replaced/old1", "/replaced/old2"):
            assert found.get(path, ChangeKind.DELETE) == ChangeKind.DELETE

    def test_diff_has_whiteouts_and_only_the_changes(self, driver: StorageDriver) -> None:
        base, child = changes_fixture(driver)
        members = diff_members(driver, child, base)
        for name in ("new", "modify", "dir/b", "replaced/new"):
            assert name in members, f"the diff lacks {name}: {sorted(members)}"
        assert members["modify"].data == b"modified"
        for deleted in ("delete", "gone"):
            assert f"{WHITEOUT_PREFIX}{deleted}" in members, (
                f"the diff has no whiteout for the deleted {deleted}: {sorted(members)}"
            )
        opaque = f"replaced/{OPAQUE_MARKER}" in members
        each = {
            f"replaced/{WHITEOUT_PREFIX}old1",
            f"replaced/{WHITEOUT_PREFIX}old2",
        } <= members.keys()
        assert opaque or each, f"the replaced directory's old content stays visible: {members}"
        for unchanged in ("keep", "dir/a", "gone/x", "replaced/old1", "delete"):
            assert unchanged not in members, f"the diff carries unchanged {unchanged}"
        assert_dirs_before_contents(list(members))

    def test_diff_round_trip_rebuilds_the_same_tree(self, driver: StorageDriver) -> None:
        base, child = changes_fixture(driver)
        copy_base, copy_child = layer_id("copy-base"), layer_id("copy-child")
        driver.create(copy_base, None)
        driver.apply_diff(copy_base, None, io.BytesIO(diff_bytes(driver, base, None)))
        driver.create(copy_child, copy_base)
        driver.apply_diff(copy_child, copy_base, io.BytesIO(diff_bytes(driver, child, base)))
        want = without_dir_mtimes(tree_of(driver, child))
        got = without_dir_mtimes(tree_of(driver, copy_child))
        assert not differences(want, got), differences(want, got)

    def test_diff_of_a_base_layer_is_all_of_it(self, driver: StorageDriver) -> None:
        nodes = [Node.dir("d"), Node.file("d/f", b"f"), Node.symlink("l", "d/f")]
        make_layer(driver, layer_id("base"), None, nodes)
        members = diff_members(driver, layer_id("base"), None)
        assert {"d", "d/f", "l"} <= set(members), sorted(members)
        changes = {c.path: c.kind for c in driver.changes(layer_id("base"), None)}
        assert changes == {"/d": ChangeKind.ADD, "/d/f": ChangeKind.ADD, "/l": ChangeKind.ADD}

    def test_diff_size_counts_changed_content(self, driver: StorageDriver) -> None:
        base, child = layer_id("base"), layer_id("child")
        make_layer(driver, base, None, [Node.file("same", b"s" * 50_000), Node.file("mod", b"m")])
        make_layer(
            driver,
            child,
            base,
            [Node.file("mod", b"M" * 3000), Node.file("new", b"n" * 7000), Node.whiteout("same")],
        )
        size = driver.diff_size(child, base)
        assert 10_000 <= size < 10_000 + 4096, f"diff_size {size}: expected the 10000 bytes changed"
        assert driver.diff_size(base, None) >= 50_001

    def test_an_empty_diff_changes_nothing(self, driver: StorageDriver) -> None:
        base, child = layer_id("base"), layer_id("child")
        make_layer(driver, base, None, [Node.file("f", b"f")])
        make_layer(driver, child, base, [])
        assert list(driver.changes(child, base)) == []
        assert [n for n in diff_members(driver, child, base) if n] == []

    # --- metadata --------------------------------------------------------------------------

    def test_modes_times_xattrs_and_links_are_kept(self, driver: StorageDriver) -> None:
        uid, gid = os.getuid(), os.getgid()
        nodes = [
            Node.dir("bin", 0o755, uid=uid, gid=gid, mtime=MTIME + 1),
            Node.file("bin/setuid", b"#!/bin/sh\n", 0o4755, uid=uid, gid=gid),
            Node.file("bin/setgid", b"x", 0o2750, uid=uid, gid=gid, mtime=MTIME + 2),
            Node.dir("tmp", 0o1777, uid=uid, gid=gid),
            Node.dir("private", 0o700, uid=uid, gid=gid, xattrs={"user.dir": b"d"}),
            Node.file(
                "private/secret",
                b"s" * 5000,
                0o600,
                uid=uid,
                gid=gid,
                mtime=MTIME + 3,
                xattrs={"user.comment": b"hello", "user.binary": b"\x00\xff\x01"},
            ),
            Node.file("private/open", b"o", 0o666, uid=uid, gid=gid),
            Node.hardlink("private/secret-again", "private/secret"),
            Node.hardlink("bin/secret-elsewhere", "private/secret"),
            Node.file("empty", b"", 0o400, uid=uid, gid=gid, mtime=0),
            Node.symlink("link-relative", "private/secret", uid=uid, gid=gid, mtime=MTIME + 4),
            Node.symlink("link-absolute", "/etc/passwd", uid=uid, gid=gid),
            Node.symlink("link-dangling", "no/such/thing", uid=uid, gid=gid),
            Node.fifo("pipe", 0o640, uid=uid, gid=gid),
        ]
        check_kept(driver, nodes)

    def test_owners_are_kept(self, driver: StorageDriver) -> None:
        require_root("create files owned by other users")
        nodes = [
            Node.dir("home", 0o755, uid=0, gid=0),
            Node.dir("home/user", 0o750, uid=1000, gid=1000),
            Node.file("home/user/file", b"u", 0o640, uid=1000, gid=2000),
            Node.file("home/user/setuid", b"u", 0o4750, uid=1000, gid=2000),
            Node.symlink("home/user/link", "file", uid=3000, gid=4000),
            Node.fifo("home/user/pipe", 0o600, uid=65534, gid=65534),
            Node.file("big-ids", b"x", 0o644, uid=100_000, gid=200_000),
        ]
        check_kept(driver, nodes)

    def test_device_nodes_are_kept(self, driver: StorageDriver) -> None:
        require_root("create device nodes")
        nodes = [
            Node.dir("dev", 0o755),
            Node.chardev("dev/null", 1, 3, 0o666),
            Node.chardev("dev/tty9", 4, 9, 0o620, gid=5),
            Node.blockdev("dev/loop250", 7, 250, 0o660, gid=6),
        ]
        check_kept(driver, nodes)

    def test_file_capabilities_are_kept(self, driver: StorageDriver) -> None:
        require_root("set file capabilities (security.capability)")
        nodes = [
            Node.dir("bin", 0o755),
            Node.file(
                "bin/ping",
                b"\x7fELF",
                0o755,
                uid=0,
                gid=0,
                xattrs={"security.capability": FILE_CAPABILITY, "user.x": b"y"},
            ),
        ]
        check_kept(driver, nodes)

    # --- remove ----------------------------------------------------------------------------

    def test_remove_deletes_a_layer_and_keeps_its_parent(self, driver: StorageDriver) -> None:
        base, child = layer_id("base"), layer_id("child")
        make_layer(driver, base, None, [Node.file("f", b"base")])
        make_layer(driver, child, base, [Node.file("g", b"child")])
        driver.remove(child)
        assert not driver.exists(child)
        assert driver.exists(base)
        assert contents(driver, base) == {"f": b"base"}
        with pytest.raises(FileNotFoundError, match=child):
            driver.mount(child)
        driver.create(child, base)  # the ID can be used again
        assert contents(driver, child) == {"f": b"base"}

    def test_removing_a_missing_layer_is_fine(self, driver: StorageDriver) -> None:
        driver.remove(layer_id("never-created"))
        driver.create(layer_id("base"), None)
        driver.remove(layer_id("base"))
        driver.remove(layer_id("base"))
        assert not driver.exists(layer_id("base"))

    def test_remove_everything_leaves_no_layer(self, driver: StorageDriver) -> None:
        ids = [layer_id(f"l{i}") for i in range(5)]
        parent: str | None = None
        for layer in ids:
            make_layer(driver, layer, parent, [Node.file(layer[:8], b"x")])
            parent = layer
        for layer in reversed(ids):
            driver.remove(layer)
        assert not any(driver.exists(layer) for layer in ids)
        assert layer_count(driver) in (None, 0)

    # --- mounts ----------------------------------------------------------------------------

    def test_mount_is_reference_counted(
        self, driver: StorageDriver, context: PluginContext
    ) -> None:
        base, child = layer_id("base"), layer_id("child")
        make_layer(driver, base, None, [Node.file("f", b"base")])
        make_layer(driver, child, base, [Node.file("g", b"child")])
        before = mounts_under(context.data_dir)
        first = driver.mount(child)
        second = driver.mount(child)
        assert first == second, "mounting a layer twice gives the same path"
        during = mounts_under(context.data_dir)
        driver.unmount(child)
        assert mounts_under(context.data_dir) == during, "one unmount of two must not unmount"
        assert (first / "f").read_bytes() == b"base"
        assert (first / "g").read_bytes() == b"child"
        driver.unmount(child)
        assert mounts_under(context.data_dir) == before, "the last unmount must unmount"
        again = driver.mount(child)
        assert (again / "g").read_bytes() == b"child"
        driver.unmount(child)

    def test_mounts_from_many_threads(self, driver: StorageDriver, context: PluginContext) -> None:
        base, child = layer_id("base"), layer_id("child")
        make_layer(driver, base, None, [Node.file("f", b"base")])
        make_layer(driver, child, base, [Node.file("g", b"child")])
        before = mounts_under(context.data_dir)
        errors: list[BaseException] = []

        def work() -> None:
            try:
                for _ in range(20):
                    root = driver.mount(child)
                    if (root / "g").read_bytes() != b"child":
                        raise AssertionError(f"{root}/g reads wrong while mounted")
                    driver.unmount(child)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors[0]
        assert mounts_under(context.data_dir) == before

    def test_children_created_from_many_threads(self, driver: StorageDriver) -> None:
        base = layer_id("base")
        make_layer(driver, base, None, [Node.file("f", b"base")])
        errors: list[BaseException] = []

        def work(n: int) -> None:
            try:
                make_layer(driver, layer_id(f"child-{n}"), base, [Node.file("n", str(n).encode())])
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors[0]
        for n in range(6):
            assert contents(driver, layer_id(f"child-{n}")) == {"f": b"base", "n": str(n).encode()}

    def test_cleanup_unmounts_everything(
        self, driver_factory: DriverFactory, context: PluginContext
    ) -> None:
        driver = driver_factory()
        before = mounts_under(context.data_dir)
        base, child, rw = layer_id("base"), layer_id("child"), layer_id("rw")
        make_layer(driver, base, None, [Node.file("f", b"base")])
        make_layer(driver, child, base, [Node.file("g", b"child")])
        driver.create_rw(rw, child)
        for layer in (base, child, child, rw):
            driver.mount(layer)
        driver.cleanup()
        assert mounts_under(context.data_dir) == before
        driver.cleanup()  # twice is fine
        again = driver_factory()
        assert contents(again, rw) == {"f": b"base", "g": b"child"}

    # --- writable layers -------------------------------------------------------------------

    def test_writable_layer_on_top(self, driver: StorageDriver) -> None:
        base, rw = layer_id("base"), layer_id("container")
        make_layer(
            driver,
            base,
            None,
            [
                Node.file("keep", b"keep"),
                Node.file("modify", b"old"),
                Node.file("delete", b"d"),
                Node.dir("dir"),
                Node.file("dir/a", b"a"),
                Node.dir("olddir"),
                Node.file("olddir/x", b"x"),
            ],
        )
        driver.create_rw(rw, base)
        root = driver.mount(rw)
        try:
            (root / "new").write_bytes(b"n" * 1000)
            (root / "modify").write_bytes(b"new content")
            (root / "delete").unlink()
            (root / "newdir").mkdir()
            (root / "newdir" / "f").write_bytes(b"f" * 500)
            (root / "olddir" / "x").unlink()
            (root / "olddir").rmdir()
        finally:
            driver.unmount(rw)
        found = {c.path: c.kind for c in driver.changes(rw, base)}
        expected = {
            "/new": ChangeKind.ADD,
            "/modify": ChangeKind.MODIFY,
            "/delete": ChangeKind.DELETE,
            "/newdir": ChangeKind.ADD,
            "/newdir/f": ChangeKind.ADD,
            "/olddir": ChangeKind.DELETE,
        }
        wrong = {p: found.get(p) for p, kind in expected.items() if found.get(p) != kind}
        assert not wrong, f"changes() of the writable layer: expected {expected}, got {found}"
        assert "/keep" not in found and "/dir/a" not in found, found
        members = diff_members(driver, rw, base)
        assert members["new"].data == b"n" * 1000
        assert members["modify"].data == b"new content"
        assert {".wh.delete", ".wh.olddir", "newdir", "newdir/f"} <= set(members), sorted(members)
        assert "keep" not in members
        size = driver.diff_size(rw, base)
        assert 1511 <= size < 1511 + 4096, f"diff_size {size}: expected the 1511 bytes written"
        assert contents(driver, base)["modify"] == b"old", "writing on top changed the parent"

    def test_replaced_directory_in_a_writable_layer(self, driver: StorageDriver) -> None:
        base, rw, copy = layer_id("base"), layer_id("container"), layer_id("copy")
        make_layer(
            driver,
            base,
            None,
            [Node.dir("etc"), Node.file("etc/old", b"old"), Node.file("etc/older", b"older")],
        )
        driver.create_rw(rw, base)
        with mounted(driver, rw) as root:
            for name in ("old", "older"):
                (root / "etc" / name).unlink()
            (root / "etc").rmdir()
            (root / "etc").mkdir()
            (root / "etc" / "new").write_bytes(b"new")
        members = diff_members(driver, rw, base)
        assert members["etc/new"].data == b"new"
        hidden = f"etc/{OPAQUE_MARKER}" in members or {
            f"etc/{WHITEOUT_PREFIX}old",
            f"etc/{WHITEOUT_PREFIX}older",
        } <= set(members)
        assert hidden, f"the diff leaves the replaced directory's old files visible: {members}"
        make_layer(driver, copy, base, [])
        driver.apply_diff(copy, base, io.BytesIO(diff_bytes(driver, rw, base)))
        assert contents(driver, copy) == {"etc": None, "etc/new": b"new"}

    def test_diffs_and_changes_release_their_mounts(
        self, driver: StorageDriver, context: PluginContext
    ) -> None:
        base, child = changes_fixture(driver)
        before = mounts_under(context.data_dir)
        driver.changes(child, base)
        driver.diff_size(child, base)
        assert mounts_under(context.data_dir) == before
        stream = driver.diff(child, base)
        try:
            stream.read(1)
        finally:
            stream.close()
        assert mounts_under(context.data_dir) == before, "closing a diff stream unmounts"
        driver.remove(child)  # nothing holds it any more
        assert not driver.exists(child)

    def test_two_writable_layers_on_one_parent_are_apart(self, driver: StorageDriver) -> None:
        base, one, two = layer_id("base"), layer_id("one"), layer_id("two")
        make_layer(driver, base, None, [Node.file("f", b"base")])
        driver.create_rw(one, base)
        driver.create_rw(two, base)
        with mounted(driver, one) as root:
            (root / "f").write_bytes(b"one")
        assert contents(driver, two) == {"f": b"base"}
        assert contents(driver, one) == {"f": b"one"}

    def test_writable_layer_without_parent(self, driver: StorageDriver) -> None:
        rw = layer_id("scratch")
        driver.create_rw(rw, None)
        with mounted(driver, rw) as root:
            (root / "hello").write_bytes(b"hi")
        assert {c.path: c.kind for c in driver.changes(rw, None)} == {"/hello": ChangeKind.ADD}

    def test_a_layer_on_a_writable_layer(self, driver: StorageDriver) -> None:
        base, rw, image = layer_id("base"), layer_id("container"), layer_id("committed")
        make_layer(driver, base, None, [Node.file("f", b"base")])
        driver.create_rw(rw, base)
        with mounted(driver, rw) as root:
            (root / "g").write_bytes(b"written")
        # What a commit does: the container's diff becomes a new layer on the same parent.
        make_layer(driver, image, base, [])
        driver.apply_diff(image, base, io.BytesIO(diff_bytes(driver, rw, base)))
        assert contents(driver, image) == {"f": b"base", "g": b"written"}

    # --- restart ---------------------------------------------------------------------------

    def test_layers_survive_a_restart(self, driver_factory: DriverFactory) -> None:
        first = driver_factory()
        base, child = changes_fixture(first)
        rw = layer_id("rw")
        first.create_rw(rw, child)
        with mounted(first, rw) as root:
            (root / "written").write_bytes(b"w")
        want = {layer: tree_of(first, layer) for layer in (base, child, rw)}
        want_changes = sorted(map(str, first.changes(child, base)))
        first.cleanup()

        second = driver_factory()
        for layer in (base, child, rw):
            assert second.exists(layer), f"layer {layer} is gone after a restart"
            assert not differences(want[layer], tree_of(second, layer))
        assert sorted(map(str, second.changes(child, base))) == want_changes
        second.remove(rw)
        make_layer(second, layer_id("after"), child, [Node.file("after", b"a")])
        assert contents(second, layer_id("after"))["after"] == b"a"

    def test_restart_after_a_crash_cleans_up(
        self, driver_factory: DriverFactory, context: PluginContext
    ) -> None:
        before = mounts_under(context.data_dir)
        first = driver_factory()
        base, child = layer_id("base"), layer_id("child")
        make_layer(first, base, None, [Node.file("f", b"base")])
        make_layer(first, child, base, [Node.file("g", b"child")])
        first.mount(child)  # never unmounted, never cleaned up: the daemon was killed
        second = driver_factory()
        assert contents(second, child) == {"f": b"base", "g": b"child"}
        second.cleanup()
        assert mounts_under(context.data_dir) == before

    # --- information -----------------------------------------------------------------------

    def test_status_is_a_list_of_string_pairs(self, driver: StorageDriver) -> None:
        status = list(driver.status())
        assert status, "status() gives at least one pair (e.g. the backing file system)"
        for pair in status:
            assert isinstance(pair, tuple) and len(pair) == 2, pair
            key, value = pair
            assert isinstance(key, str) and key.strip() and isinstance(value, str), pair
            assert "\n" not in key + value, pair
        before = layer_count(driver)
        driver.create(layer_id("base"), None)
        if before is not None:
            assert layer_count(driver) == before + 1, "the 'Layers' count follows create()"

    # --- bad input -------------------------------------------------------------------------

    @pytest.mark.parametrize("bad", ["", "../escape", "a/b", "/abs", ".", ".."])
    def test_malformed_layer_ids_are_refused(
        self, driver: StorageDriver, context: PluginContext, bad: str
    ) -> None:
        outside = set(os.listdir(context.data_root.parent))
        with pytest.raises(ValueError):
            driver.create(bad, None)
        assert not driver.exists(bad)
        assert set(os.listdir(context.data_root.parent)) == outside

    def test_unknown_layers_are_errors(self, driver: StorageDriver) -> None:
        missing = layer_id("missing")
        with pytest.raises(FileNotFoundError, match=missing):
            driver.mount(missing)
        with pytest.raises(FileNotFoundError, match=missing):
            driver.create(layer_id("orphan"), missing)
        assert not driver.exists(layer_id("orphan")), "a failed create leaves no layer"
        with pytest.raises(FileNotFoundError, match=missing):
            driver.changes(missing, None)
        with pytest.raises(FileNotFoundError, match=missing):
            driver.diff(missing, None)

    def test_creating_an_existing_layer_is_an_error(self, driver: StorageDriver) -> None:
        make_layer(driver, layer_id("base"), None, [Node.file("f", b"1")])
        with pytest.raises(FileExistsError, match=layer_id("base")):
            driver.create(layer_id("base"), None)
        assert contents(driver, layer_id("base")) == {"f": b"1"}, "the layer was damaged"

    def test_truncated_tar_is_refused(self, driver: StorageDriver) -> None:
        tar = layer_tar([Node.file("big", os.urandom(100_000)), Node.file("after", b"a")])
        driver.create(layer_id("base"), None)
        with pytest.raises(ValueError):
            driver.apply_diff(layer_id("base"), None, io.BytesIO(tar[:50_000]))
        driver.remove(layer_id("base"))  # what the caller does with a half-applied layer
        assert not driver.exists(layer_id("base"))

    def test_garbage_is_refused(self, driver: StorageDriver) -> None:
        driver.create(layer_id("base"), None)
        with pytest.raises(ValueError):
            driver.apply_diff(layer_id("base"), None, io.BytesIO(b"not a tar at all" * 100))

    def test_tar_entries_never_write_outside_the_layer(
        self, driver: StorageDriver, context: PluginContext
    ) -> None:
        outside = context.data_root.parent / "outside"
        outside.mkdir()
        climb = "../" * 12 + str(outside).lstrip("/")
        tars = [
            [Node.file("../../../../outside/dotdot", b"x")],
            [Node.file(f"{outside}/absolute", b"x")],
            [Node.symlink("link", str(outside)), Node.file("link/through-symlink", b"x")],
            [Node.symlink("rel", climb), Node.file("rel/through-relative", b"x")],
            [Node.file("inside", b"x"), Node.hardlink(f"{outside}/hardlink", "inside")],
            [Node.hardlink("to-outside", f"{outside}/target")],
        ]
        (outside / "target").write_bytes(b"host file")
        for n, nodes in enumerate(tars):
            layer = layer_id(f"escape-{n}")
            driver.create(layer, None)
            with contextlib.suppress(ValueError):  # refusing the whole tar is right too
                driver.apply_diff(layer, None, io.BytesIO(layer_tar(nodes)))
            assert sorted(os.listdir(outside)) == ["target"], f"tar {n} wrote outside the layer"
            assert (outside / "target").read_bytes() == b"host file"
            assert os.stat(outside / "target").st_nlink == 1, f"tar {n} linked a host file"
            driver.remove(layer)


# --- helpers -----------------------------------------------------------------------------


@contextlib.contextmanager
def mounted(driver: StorageDriver, layer: str) -> Iterator[Path]:
    root = driver.mount(layer)
    try:
        yield root
    finally:
        driver.unmount(layer)


def make_layer(driver: StorageDriver, layer: str, parent: str | None, nodes: list[Node]) -> int:
    """Create ``layer`` on ``parent`` and apply a tar of ``nodes`` to it."""
    driver.create(layer, parent)
    return driver.apply_diff(layer, parent, io.BytesIO(layer_tar(nodes)))


def tree_of(driver: StorageDriver, layer: str) -> dict[str, TreeEntry]:
    with mounted(driver, layer) as root:
        return snapshot(root)


def contents(driver: StorageDriver, layer: str) -> dict[str, bytes | None]:
    """Path → file content (``None`` for directories) of a layer's full tree."""
    with mounted(driver, layer) as root:
        found: dict[str, bytes | None] = {}
        for path, entry in snapshot(root).items():
            if entry.kind == "dir":
                found[path] = None
            elif entry.kind == "file":
                found[path] = (root / path).read_bytes()
            else:
                raise AssertionError(f"unexpected {entry.kind} {path} in layer {layer}")
        return found


def diff_bytes(driver: StorageDriver, layer: str, parent: str | None) -> bytes:
    with contextlib.closing(driver.diff(layer, parent)) as stream:
        return stream.read()


def diff_members(driver: StorageDriver, layer: str, parent: str | None) -> dict[str, TarMember]:
    return read_tar(diff_bytes(driver, layer, parent))


def layer_count(driver: StorageDriver) -> int | None:
    """The ``Layers`` value of ``status()``, if the driver reports one."""
    for key, value in driver.status():
        if key == "Layers":
            return int(value)
    return None


def assert_tree(driver: StorageDriver, layer: str, want: Mapping[str, TreeEntry]) -> None:
    got = tree_of(driver, layer)
    found = differences(want, got)
    assert not found, f"layer {layer[:12]} differs from what was applied:\n" + "\n".join(found)


def assert_dirs_before_contents(names: list[str]) -> None:
    """Unpacking needs a directory's entry before its content (its mode and owner first)."""
    listed, seen = set(names), set()
    for name in names:
        head = name.rpartition("/")[0]
        assert not head or head not in listed or head in seen, (
            f"the diff lists {name} before its directory {head}"
        )
        seen.add(name)


def describe_mismatch(
    want: Mapping[str, bytes | None], got: Mapping[str, bytes | None]
) -> list[str]:
    lines = [f"missing {p}" for p in sorted(want.keys() - got.keys())]
    lines += [f"unexpected {p}" for p in sorted(got.keys() - want.keys())]
    lines += [
        f"{p} holds {got[p]!r}, not {want[p]!r}"
        for p in sorted(want)
        if p in got and got[p] != want[p]
    ]
    return lines


def chain_layer(level: int, model: dict[str, bytes | None]) -> list[Node]:
    """The nodes of level ``level`` of the deep chain, applied to ``model`` (path → content,
    ``None`` for directories): each level adds a file and rewrites ``top``; every third deletes
    the previous level's file; every tenth adds a directory; some delete or replace one."""
    nodes: list[Node] = []

    def put(path: str, data: bytes) -> None:
        # A new mtime per level: a naive differ tells a rewrite of equal size by it.
        nodes.append(Node.file(path, data, mtime=MTIME + level))
        model[path] = data

    def drop(path: str) -> None:
        for known in [p for p in model if p == path or p.startswith(f"{path}/")]:
            del model[known]

    put(f"f{level:03d}", f"level {level}\n".encode())
    put("top", f"{level}\n".encode())
    if level % 10 == 0:
        nodes.append(Node.dir(f"d{level:03d}"))
        model[f"d{level:03d}"] = None
        put(f"d{level:03d}/x", b"x")
    previous = f"f{level - 1:03d}"
    if level % 3 == 0 and previous in model:
        nodes.append(Node.whiteout(previous))
        drop(previous)
    gone = f"d{level - 15:03d}"
    if level % 10 == 5 and gone in model:
        nodes.append(Node.whiteout(gone))
        drop(gone)
    replaced = f"d{level - 2:03d}"
    if level % 20 == 12 and replaced in model:
        drop(replaced)
        nodes += [Node.dir(replaced), Node.opaque(replaced)]
        model[replaced] = None
        put(f"{replaced}/y", b"y")
    return nodes


def changes_base_nodes() -> list[Node]:
    return [
        Node.file("keep", b"keep"),
        Node.file("modify", b"original"),
        Node.file("delete", b"delete me"),
        Node.dir("dir"),
        Node.file("dir/a", b"a"),
        Node.dir("gone"),
        Node.file("gone/x", b"x"),
        Node.dir("replaced"),
        Node.file("replaced/old1", b"1"),
        Node.file("replaced/old2", b"2"),
    ]


def changes_child_nodes() -> list[Node]:
    """On top of :func:`changes_base_nodes`: modifies, adds, deletes (a file and a
    directory), adds to a directory and replaces one (opaque)."""
    return [
        Node.file("modify", b"modified", mtime=MTIME + 10),
        Node.whiteout("delete"),
        Node.file("new", b"new"),
        Node.dir("dir", mtime=MTIME + 10),
        Node.file("dir/b", b"b"),
        Node.whiteout("gone"),
        Node.dir("replaced", mtime=MTIME + 10),
        Node.opaque("replaced"),
        Node.file("replaced/new", b"n"),
    ]


#: the child's full tree: path → content (None for a directory)
CHANGES_CHILD_CONTENTS: dict[str, bytes | None] = {
    "keep": b"keep",
    "modify": b"modified",
    "new": b"new",
    "dir": None,
    "dir/a": b"a",
    "dir/b": b"b",
    "replaced": None,
    "replaced/new": b"n",
}


def changes_fixture(driver: StorageDriver) -> tuple[str, str]:
    """A base layer and a child (:func:`changes_child_nodes`) on it; returns their IDs."""
    base, child = layer_id("changes-base"), layer_id("changes-child")
    make_layer(driver, base, None, changes_base_nodes())
    make_layer(driver, child, base, changes_child_nodes())
    return base, child


def check_kept(driver: StorageDriver, nodes: list[Node]) -> None:
    """Apply ``nodes`` as a base layer, then check the metadata in the layer, in a child on
    top, in the diff read back, and in a copy made from that diff."""
    base, child, copy = layer_id("meta-base"), layer_id("meta-child"), layer_id("meta-copy")
    want = expected_tree(nodes)
    links = {
        frozenset(
            {n.path, n.target}
            | {m.path for m in nodes if m.kind == "hardlink" and m.target == n.target}
        )
        for n in nodes
        if n.kind == "hardlink"
    }
    make_layer(driver, base, None, nodes)
    assert_tree(driver, base, want)
    with mounted(driver, base) as root:
        found = hardlink_groups(root)
        assert found == links, f"hard links were not kept in the layer: {found} != {links}"

    driver.create(child, base)
    assert_tree(driver, child, want)
    with mounted(driver, child) as root:
        found = hardlink_groups(root)
        assert found == links, f"hard links were not kept in a child layer: {found} != {links}"

    tar = diff_bytes(driver, base, None)
    members = read_tar(tar)
    by_path = {node.path: node for node in nodes}
    for node in nodes:
        member = members.get(node.path)
        assert member is not None, f"the diff lacks {node.path}: {sorted(members)}"
        check_member(by_path[node.target] if node.kind == "hardlink" else node, member, links)

    driver.create(copy, None)
    driver.apply_diff(copy, None, io.BytesIO(tar))
    assert_tree(driver, copy, want)
    with mounted(driver, copy) as root:
        found = hardlink_groups(root)
        assert found == links, f"hard links did not survive diff + apply_diff: {found} != {links}"


def check_member(node: Node, member: TarMember, links: set[frozenset[str]]) -> None:
    """``member`` of a diff carries what ``node`` (not a hard link: its target) says."""
    info = member.info
    where = f"diff entry {node.path}"
    group = next((g for g in links if node.path in g), None)
    if group is not None and info.islnk():
        assert normalise(info.linkname) in group, f"{where} links to {info.linkname}"
        return
    kinds = {
        "dir": info.isdir(),
        "file": info.isreg(),
        "symlink": info.issym(),
        "fifo": info.isfifo(),
        "char": info.ischr(),
        "block": info.isblk(),
    }
    assert kinds[node.kind], f"{where} is not a {node.kind} (tar type {info.type!r})"
    if node.kind != "symlink":
        assert info.mode & 0o7777 == node.mode, f"{where}: mode {info.mode:o} != {node.mode:o}"
    assert (info.uid, info.gid) == (node.uid, node.gid), f"{where}: owner {info.uid}:{info.gid}"
    assert int(info.mtime) == node.mtime, f"{where}: mtime {info.mtime} != {node.mtime}"
    if node.kind == "symlink":
        assert info.linkname == node.target, f"{where}: target {info.linkname}"
    if node.kind in ("char", "block"):
        assert (info.devmajor, info.devminor) == node.device, f"{where}: device numbers"
    if node.kind == "file":
        assert member.data == node.data, f"{where}: content differs"
    assert dict(member.xattrs) == dict(node.xattrs), f"{where}: xattrs {dict(member.xattrs)}"
