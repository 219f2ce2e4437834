"""The container service's file operations, for the API: path stat, archive get and put,
export, commit. The work itself is in :mod:`.archive` and :mod:`.commit`; this module finds
the container, holds its root open for as long as a stream lasts and sends the events."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, BinaryIO

from berth.engine.containers import archive, commit
from berth.engine.containers.confined import (
    ContainerRoot,
    absolute,
    mount_point_of,
    open_root,
)
from berth.engine.containers.model import Container
from berth.engine.containers.service import ContainerService
from berth.engine.containers.users import resolve_user
from berth.engine.errors import BadParameter, BerthError, Conflict
from berth.plugins.layers.rootfs import DIR_FLAGS, open_dir

BATCH = 1 << 20


class FileOps:
    def __init__(self, service: ContainerService) -> None:
        self.service = service

    def _container(self, ref: str) -> Container:
        return self.service.store.lookup(ref)

    def _open(self, container: Container, path: str = "/", live: bool = True) -> ContainerRoot:
        """The root to resolve ``path`` in: the live root of a running container (its mounts
        included); for a stopped one, the volume or bind mounted at ``path`` when there is
        one (Docker mounts them for cp), else its writable layer."""
        state = container.state
        running = state.running and not state.restarting and state.pid
        if not (live and running) and path:
            found = mount_point_of(container.mount_points, absolute(path))
            if found is not None:
                root = self._open_mount(container, *found)
                if root is not None:
                    return root
        return open_root(container, self.service.driver, use_live=live)

    def _open_mount(
        self, container: Container, destination: str, point: dict[str, Any]
    ) -> ContainerRoot | None:
        kind = point.get("Type")
        release: Callable[[], None] | None = None
        if kind == "volume" and point.get("Name") and self.service.mounts is not None:
            volumes = self.service.mounts.volumes
            name, holder = str(point["Name"]), f"{container.id}-cp-{secrets.token_hex(4)}"
            source = str(volumes.mount(name, holder))

            def release() -> None:
                volumes.unmount(name, holder)

        elif kind == "bind" and point.get("Source"):
            source = str(point["Source"])
        else:
            return None  # tmpfs: nothing is there while the container is stopped
        subpath = os.fsencode(str(point.get("Subpath") or "").strip("/"))
        try:
            fd = os.open(source, DIR_FLAGS)
            if subpath:  # resolved inside the volume, as the volume's own symlinks would be
                top, fd = fd, -1
                try:
                    fd = open_dir(top, subpath, follow=True)
                finally:
                    os.close(top)
        except OSError as exc:
            if release is not None:
                release()
            raise BerthError(f"cannot open the mount at {destination}: {exc.strerror}") from exc
        read_only = "" if point.get("RW", True) else "mounted volume is marked read-only"
        return ContainerRoot(fd, release, at=destination, read_only=read_only)

    def _emit(self, container: Container, action: str, **extra: str) -> None:
        self.service.events.emit(
            "container", action, container.id, **self.service._attributes(container, **extra)
        )

    async def stat(self, ref: str, path: str) -> dict[str, Any]:
        container = self._container(ref)

        def work() -> dict[str, Any]:
            with self._open(container, path) as root:
                return archive.stat_path(root, path, ref)

        found = await asyncio.to_thread(work)
        self._emit(container, "archive-path")
        return found

    async def get_archive(self, ref: str, path: str) -> tuple[dict[str, Any], AsyncIterator[bytes]]:
        """The stat of ``path`` and its tar stream (checked before the first byte)."""
        container = self._container(ref)

        def start() -> tuple[ContainerRoot, dict[str, Any], Iterator[bytes]]:
            root = self._open(container, path)
            try:
                found = archive.stat_path(root, path, ref)
                return root, found, archive.tar_path(root, path, ref)
            except BaseException:
                root.close()
                raise

        root, found, chunks = await asyncio.to_thread(start)
        self._emit(container, "archive-path")
        return found, _stream(chunks, root)

    async def put_archive(
        self,
        ref: str,
        path: str,
        body: BinaryIO,
        no_overwrite_dir_non_dir: bool,
        copy_uid_gid: bool,
    ) -> None:
        container = self._container(ref)
        read_only = bool(container.host_config.get("ReadonlyRootfs"))

        def work() -> None:
            with self._open(container, path) as root:
                owner = None
                if copy_uid_gid and container.config.get("User"):
                    owner = self._owner(container)
                archive.extract(
                    root,
                    path,
                    body,
                    ref,
                    no_overwrite_dir_non_dir=no_overwrite_dir_non_dir,
                    owner=owner,
                    read_only_root=read_only,
                )

        await asyncio.to_thread(work)
        self._emit(container, "extract-to-dir")

    def _owner(self, container: Container) -> tuple[int, int]:
        """The uid and gid of the container's user (from its own /etc/passwd and group)."""
        with self._open(container, "/") as top:
            user = resolve_user(f"/proc/self/fd/{top.fd}", container.config["User"])
        return user.uid, user.gid

    async def export(self, ref: str) -> AsyncIterator[bytes]:
        container = self._container(ref)

        def start() -> tuple[ContainerRoot, Iterator[bytes]]:
            root = self._open(container, "", live=False)  # the file system itself, no mounts
            return root, archive.export_root(root)

        root, chunks = await asyncio.to_thread(start)
        self._emit(container, "export")
        return _stream(chunks, root)

    async def commit(self, ref: str, options: commit.CommitOptions) -> str:
        commit.check(options)
        container = self._container(ref)
        state = container.state
        if state.restarting:
            raise Conflict(f"Container {container.id} is restarting, wait until it is running")
        paused_here = False
        if options.pause and state.running and not state.paused:
            await self.service.pause(container.id)
            paused_here = True
        try:
            image_id = await asyncio.to_thread(
                commit.commit, self.service.images, self.service.driver, container, options
            )
        finally:
            if paused_here:
                with contextlib.suppress(Conflict):
                    await self.service.unpause(container.id)
        ref_text = ""
        if options.repo:
            ref_text = options.repo + (":" + options.tag if options.tag else "")
        self._emit(
            container, "commit", comment=options.comment, imageID=image_id, imageRef=ref_text
        )
        return image_id


def _batch(chunks: Iterator[bytes]) -> bytes:
    parts: list[bytes] = []
    size = 0
    for chunk in chunks:
        parts.append(chunk)
        size += len(chunk)
        if size >= BATCH:
            break
    return b"".join(parts)


async def _stream(chunks: Iterator[bytes], root: ContainerRoot) -> AsyncIterator[bytes]:
    """Batches of ``chunks`` read in a worker thread; the root is released at the end."""
    try:
        while batch := await asyncio.to_thread(_batch, chunks):
            yield batch
    finally:

        def close() -> None:
            close_chunks = getattr(chunks, "close", None)
            if close_chunks is not None:
                close_chunks()
            root.close()

        await asyncio.to_thread(close)


def parse_bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes"):
        return True
    if lowered in ("0", "false", "no"):
        return False
    raise BadParameter(f"invalid boolean value {value!r}")
