"""The overlay storage driver: each layer an overlayfs upper directory, stacked at mount time.

A layer's own files live in ``<home>/<id>/diff`` (see :mod:`berth_storage_overlay.layout`).
Mounting a layer with a parent mounts an overlay on ``<home>/<id>/merged`` whose lower layers
are the parent chain and whose upper layer is the layer's ``diff``; a base layer is shown as its
plain ``diff``. Diffs are native: the upper directory already holds exactly the layer's changes
(whiteouts as 0/0 character devices, replaced directories marked opaque), so ``changes`` and
``diff`` read it without comparing trees. Only when asked for a diff against a layer that is not
the real parent does the driver mount both and compare them.

Mounts are reference counted in memory; at start the driver adopts the merged directories the
kernel still has mounted (a restarted daemon whose containers kept running), each counted as one
reference held from before.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from berth.plugins import Change, StorageDriver
from berth.plugins.hostfs import backing_filesystem as backing_fs
from berth.plugins.hostfs import mark_top_directory
from berth.plugins.layers import (
    WhiteoutFormat,
    apply_layer,
    changes_size,
    export_changes,
    overlay_changes,
    tree_changes,
)

from berth_storage_overlay import layout, mountinfo
from berth_storage_overlay.layout import LINK_DIR, SHORT_ID, TMP_PREFIX, TRASH_PREFIX
from berth_storage_overlay.mounter import MAX_LOWERS, choose_mounter
from berth_storage_overlay.syscalls import MountError, reports_d_type, unmount


class OverlayDriver(StorageDriver):
    """Layers as overlayfs directories under ``home`` (the plugin's data directory)."""

    def __init__(self, home: Path, *, mount_api: str = "auto", logger: Any = None) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.home = home.resolve()
        mark_top_directory(self.home)  # ext4 spreads the layers: faster unpacking
        self._log = logger
        self._lock = threading.Lock()
        self._layer_locks: dict[str, threading.Lock] = {}
        self._refs: dict[str, int] = {}
        self._detach_stray_mounts()
        report = layout.repair(self.home)
        if report.removed or report.relinked or report.broken:
            self._note(
                "overlay.repaired",
                removed=report.removed,
                relinked=report.relinked,
                broken=report.broken,
            )
        adopted = self._adopt_mounts()
        self.mounter = choose_mounter(mount_api)
        self.backing_fs = backing_fs(self.home)
        self.supports_d_type = reports_d_type(self.home)
        self._note(
            "overlay.started",
            home=str(self.home),
            mount_api=self.mounter.api,
            backing_fs=self.backing_fs,
            adopted_mounts=adopted,
        )

    # --- layers ----------------------------------------------------------------------------

    def create(
        self, layer_id: str, parent: str | None, opts: Mapping[str, str] | None = None
    ) -> None:
        self._create(layer_id, parent, opts)

    def create_rw(
        self, layer_id: str, parent: str | None, opts: Mapping[str, str] | None = None
    ) -> None:
        self._create(layer_id, parent, opts)

    def _create(self, layer_id: str, parent: str | None, opts: Mapping[str, str] | None) -> None:
        layout.check_layer_id(layer_id)
        if opts:
            raise ValueError(
                f"the overlay driver takes no layer options (got {', '.join(sorted(opts))}); "
                "size quotas are not supported yet"
            )
        with self._layer_lock(layer_id):
            target = self.home / layer_id
            if os.path.lexists(target):
                raise FileExistsError(f"layer {layer_id} already exists")
            lowers: list[str] = []
            if parent is not None:
                layout.check_layer_id(parent)
                self._require(parent, what="parent layer")
                lowers = [f"{LINK_DIR}/{self._short_id(parent)}", *self._lowers(parent)]
                if len(lowers) > MAX_LOWERS:
                    raise ValueError(
                        f"cannot create layer {layer_id}: it would stack {len(lowers)} layers "
                        f"below it, and overlayfs stacks at most {MAX_LOWERS}"
                    )
            short = self._unused_short_id()
            tmp = Path(tempfile.mkdtemp(prefix=TMP_PREFIX, dir=self.home))
            try:
                _mkdir(tmp / "diff", 0o755)
                layout.write_file(tmp / "link", short)
                if lowers:
                    layout.write_file(tmp / "lower", ":".join(lowers))
                    _mkdir(tmp / "work", 0o700)
                    _mkdir(tmp / "merged", 0o700)
                layout.fsync_dir(tmp)
                os.rename(tmp, target)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            os.symlink(f"../{layer_id}/diff", self.home / LINK_DIR / short)
            layout.fsync_dir(self.home / LINK_DIR)
            layout.fsync_dir(self.home)

    def remove(self, layer_id: str) -> None:
        layout.check_layer_id(layer_id)
        with self._layer_lock(layer_id):
            layer = self.home / layer_id
            self._refs.pop(layer_id, None)
            if not os.path.lexists(layer):
                return
            for entry in reversed(mountinfo.mounted_under(layer)):
                _detach(entry.mount_point)
            still = mountinfo.mounted_under(layer)
            if still:
                raise OSError(
                    errno.EBUSY,
                    f"cannot remove layer {layer_id}: {still[-1].mount_point} is still mounted",
                )
            try:
                short = layout.read_small(layer / "link")
            except OSError:
                short = ""
            trash = self.home / f"{TRASH_PREFIX}{secrets.token_hex(8)}"
            os.rename(layer, trash)
            if SHORT_ID.fullmatch(short):
                link = self.home / LINK_DIR / short
                with contextlib.suppress(OSError):
                    if os.readlink(link) == f"../{layer_id}/diff":
                        link.unlink()
            layout.fsync_dir(self.home)
            layout.remove_entry(trash)
            if os.path.lexists(trash):
                self._note("overlay.remove_incomplete", layer=layer_id, left=str(trash))

    def exists(self, layer_id: str) -> bool:
        try:
            layout.check_layer_id(layer_id)
        except ValueError:
            return False
        return (self.home / layer_id / "diff").is_dir()

    # --- mounts ----------------------------------------------------------------------------

    def mount(self, layer_id: str, mount_label: str = "") -> Path:
        # mount_label (an SELinux context) is not applied: berth does not label containers yet.
        layout.check_layer_id(layer_id)
        with self._layer_lock(layer_id):
            layer = self._require(layer_id)
            lowers = self._lowers(layer_id)
            count = self._refs.get(layer_id, 0)
            if lowers and count == 0:
                try:
                    self.mounter.mount(
                        self.home,
                        lowers,
                        f"{layer_id}/diff",
                        f"{layer_id}/work",
                        f"{layer_id}/merged",
                    )
                except MountError as exc:
                    raise MountError(
                        exc.errno or errno.EIO, f"cannot mount layer {layer_id}: {exc}"
                    ) from None
            self._refs[layer_id] = count + 1
            return layer / "merged" if lowers else layer / "diff"

    def unmount(self, layer_id: str) -> None:
        layout.check_layer_id(layer_id)
        with self._layer_lock(layer_id):
            count = self._refs.get(layer_id, 0)
            if count > 1:
                self._refs[layer_id] = count - 1
                return
            self._refs.pop(layer_id, None)
            merged = self.home / layer_id / "merged"
            if count == 1 and merged.is_dir():
                _detach(merged)

    def mount_count(self, layer_id: str) -> int:
        """How many references hold the layer mounted (for tests and diagnostics)."""
        return self._refs.get(layer_id, 0)

    def restore(self, object_ids: list[str]) -> list[str]:
        """Adopt layers a restarted daemon still uses; return those not mounted any more."""
        lost: list[str] = []
        for layer_id in object_ids:
            if not self.exists(layer_id):
                lost.append(layer_id)
                continue
            with self._layer_lock(layer_id):
                mounted = not self._lowers(layer_id) or mountinfo.is_mount_point(
                    self.home / layer_id / "merged"
                )
                if not mounted:
                    lost.append(layer_id)
                elif self._refs.get(layer_id, 0) == 0:
                    self._refs[layer_id] = 1
        return lost

    def cleanup(self) -> None:
        """Unmount every merged directory under the data directory and forget all references."""
        with self._lock:
            for entry in reversed(mountinfo.mounted_under(self.home)):
                parts = entry.mount_point.relative_to(self.home).parts
                if len(parts) == 2 and parts[1] == "merged":
                    _detach(entry.mount_point)
            self._refs.clear()

    # --- diffs -----------------------------------------------------------------------------

    def changes(self, layer_id: str, parent: str | None) -> Sequence[Change]:
        if self._is_native(layer_id, parent):
            return self._native_changes(layer_id)
        root, parent_root, release = self._mount_pair(layer_id, parent)
        try:
            return tree_changes(root, parent_root)
        finally:
            release()

    def diff(self, layer_id: str, parent: str | None) -> BinaryIO:
        if self._is_native(layer_id, parent):
            upper = self.home / layer_id / "diff"
            return export_changes(upper, overlay_changes(upper))
        root, parent_root, release = self._mount_pair(layer_id, parent)
        try:
            found = tree_changes(root, parent_root)
            return export_changes(root, found, on_close=release)
        except BaseException:
            release()
            raise

    def diff_size(self, layer_id: str, parent: str | None) -> int:
        if self._is_native(layer_id, parent):
            upper = self.home / layer_id / "diff"
            return changes_size(upper, overlay_changes(upper))
        root, parent_root, release = self._mount_pair(layer_id, parent)
        try:
            return changes_size(root, tree_changes(root, parent_root))
        finally:
            release()

    def apply_diff(self, layer_id: str, parent: str | None, diff: BinaryIO) -> int:
        if self._is_native(layer_id, parent):
            upper = self.home / layer_id / "diff"
            return apply_layer(diff, upper, whiteouts=WhiteoutFormat.OVERLAY)
        root = self.mount(layer_id)
        try:
            return apply_layer(diff, root, whiteouts=WhiteoutFormat.NAIVE)
        finally:
            self.unmount(layer_id)

    def independent_diff_target(
        self, layer_id: str, parent: str | None
    ) -> tuple[Path, WhiteoutFormat] | None:
        """Where (and in which whiteout format) a layer's diff can be unpacked by another
        process without the parent mounted — the upper directory, when ``parent`` is the
        layer's real parent — or None. Lets a pull unpack its layers concurrently."""
        if not self._is_native(layer_id, parent):
            return None
        return self.home / layer_id / "diff", WhiteoutFormat.OVERLAY

    def _native_changes(self, layer_id: str) -> list[Change]:
        """The upper directory's entries: an entry the lower layers show too is a MODIFY."""
        lowers = [self.home / lower for lower in self._lowers(layer_id)]
        return overlay_changes(self.home / layer_id / "diff", lowers)

    # --- information -----------------------------------------------------------------------

    def status(self) -> Sequence[tuple[str, str]]:
        return [
            ("Backing Filesystem", self.backing_fs),
            ("Supports d_type", "true" if self.supports_d_type else "false"),
            ("Using metacopy", "false"),
            ("Native Overlay Diff", "true"),
            ("userxattr", "false"),
            ("Layers", str(self.layer_count())),
        ]

    def layer_count(self) -> int:
        return sum(
            1
            for entry in os.scandir(self.home)
            if layout.is_layer_dir_name(entry.name) and entry.is_dir(follow_symlinks=False)
        )

    # --- helpers ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def _layer_lock(self, layer_id: str) -> Iterator[None]:
        # One lock per layer ID ever used, kept for the driver's life (a lock is 100 bytes):
        # dropping one while a thread waits on it would let two threads work on one layer.
        with self._lock:
            lock = self._layer_locks.setdefault(layer_id, threading.Lock())
        with lock:
            yield

    def _require(self, layer_id: str, what: str = "layer") -> Path:
        layer = self.home / layer_id
        if not (layer / "diff").is_dir():
            raise FileNotFoundError(f"{what} {layer_id} does not exist")
        return layer

    def _short_id(self, layer_id: str) -> str:
        short = layout.read_small(self.home / layer_id / "link")
        if not SHORT_ID.fullmatch(short):
            raise OSError(errno.EIO, f"layer {layer_id} has a damaged link file")
        return short

    def _lowers(self, layer_id: str) -> list[str]:
        """The layer's lower chain as ``l/<short id>`` entries, its parent first."""
        try:
            text = layout.read_small(self.home / layer_id / "lower")
        except FileNotFoundError:
            return []
        lowers = text.split(":") if text else []
        for entry in lowers:
            head, _, short = entry.partition("/")
            if head != LINK_DIR or not SHORT_ID.fullmatch(short):
                raise OSError(errno.EIO, f"layer {layer_id} has a damaged lower file")
        return lowers

    def _unused_short_id(self) -> str:
        while True:
            short = layout.new_short_id()
            if not os.path.lexists(self.home / LINK_DIR / short):
                return short

    def _is_native(self, layer_id: str, parent: str | None) -> bool:
        """Whether ``parent`` is the layer's real parent, so its upper directory is the diff."""
        layout.check_layer_id(layer_id)
        self._require(layer_id)
        lowers = self._lowers(layer_id)
        if parent is None:
            return not lowers
        layout.check_layer_id(parent)
        self._require(parent, what="parent layer")
        return bool(lowers) and lowers[0] == f"{LINK_DIR}/{self._short_id(parent)}"

    def _mount_pair(
        self, layer_id: str, parent: str | None
    ) -> tuple[Path, Path | None, Callable[[], None]]:
        """Mount the layer and ``parent`` for a tree comparison; the callable unmounts both."""
        root = self.mount(layer_id)
        try:
            parent_root = self.mount(parent) if parent is not None else None
        except BaseException:
            self.unmount(layer_id)
            raise
        released = threading.Event()

        def release() -> None:
            if released.is_set():
                return
            released.set()
            try:
                if parent is not None:
                    self.unmount(parent)
            finally:
                self.unmount(layer_id)

        return root, parent_root, release

    def _adopt_mounts(self) -> int:
        """Count merged directories still mounted from before as one reference each."""
        adopted = 0
        for entry in mountinfo.mounted_under(self.home):
            parts = entry.mount_point.relative_to(self.home).parts
            if len(parts) == 2 and parts[1] == "merged" and layout.is_layer_dir_name(parts[0]):
                if parts[0] not in self._refs:
                    adopted += 1
                self._refs[parts[0]] = 1
        return adopted

    def _detach_stray_mounts(self) -> None:
        """Detach mounts left in half-made or half-removed layers, before those are deleted."""
        for entry in reversed(mountinfo.mounted_under(self.home)):
            parts = entry.mount_point.relative_to(self.home).parts
            if parts and parts[0].startswith((TMP_PREFIX, TRASH_PREFIX)):
                _detach(entry.mount_point)

    def _note(self, event: str, **fields: Any) -> None:
        if self._log is not None:
            self._log.info(event, **fields)


def _mkdir(path: Path, mode: int) -> None:
    path.mkdir()
    os.chmod(path, mode)


def _detach(mount_point: Path) -> None:
    """Unmount (lazily, so open files keep working); not being mounted is fine."""
    try:
        unmount(mount_point)
    except MountError as exc:
        if exc.errno not in (errno.EINVAL, errno.ENOENT):
            raise
