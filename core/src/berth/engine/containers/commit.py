"""``docker commit``: a new image from a container's writable layer.

The layer is the container's changes (the storage driver's, less the mount points the engine
made, which Docker keeps in a separate init layer), exported as a tar that is at once stored
as the layer's blob and registered through the image store's layer DB, on top of the image the
container was made from. The config is the container's, with the ``--change`` instructions
applied (the parser ``import --change`` uses), and a history entry. Blocking: call from a
worker thread, with the container paused if wanted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, cast

import berth
from berth.engine.containers.model import Container
from berth.engine.containers.service import filter_init_changes
from berth.engine.errors import BadParameter, BerthError
from berth.engine.images import manifests, reference
from berth.engine.images.changes import apply_changes
from berth.engine.images.imageconfig import format_time
from berth.engine.images.importer import TeeReader
from berth.engine.images.service import ImageService
from berth.engine.images.store import Image
from berth.plugins import StorageDriver
from berth.plugins.contracts.storage import Change, ChangeKind
from berth.plugins.layers import export_changes
from berth.plugins.layers.rootfs import DIR_FLAGS, READ_DIR_FLAGS, open_dir

#: The diff ID of an empty layer tar (two zero blocks): no layer is added for it, as Docker.
EMPTY_LAYER = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"


@dataclass
class CommitOptions:
    repo: str = ""
    tag: str = ""
    comment: str = ""
    author: str = ""
    changes: Sequence[str] = ()
    #: A container config from the request body, used instead of the container's own.
    config: Mapping[str, Any] | None = None
    pause: bool = True


def split_changes(values: Sequence[str]) -> list[str]:
    """``changes`` query values: each may hold several instructions, one per line."""
    return [line for value in values for line in value.splitlines() if line.strip()]


def check(options: CommitOptions) -> None:
    """Refuse bad input before any work: the reference and the changes."""
    if options.repo:
        reference.repo_tag(options.repo, options.tag)
    elif options.tag:
        raise BadParameter("tag without a repository: give repo as well as tag")
    apply_changes({}, options.changes)
    if options.config is not None and not isinstance(options.config, Mapping):
        raise BadParameter("the container config in the request body must be a JSON object")


def new_config(container: Container, options: CommitOptions) -> dict[str, Any]:
    """The committed image's container config: the given one (or the container's) with the
    changes applied, what it leaves empty taken from the container (Docker's merge)."""
    own = dict(container.config)
    base = dict(options.config) if options.config is not None else dict(own)
    config = apply_changes(base, options.changes)
    for key, value in own.items():
        if config.get(key) in (None, "", [], {}) and value not in (None, "", [], {}):
            if key == "Cmd" and config.get("Entrypoint") not in (None, []):
                continue  # a new ENTRYPOINT drops the old CMD, as in a Dockerfile
            config[key] = value
    return config


def _layer_blobs(images: ImageService, image: Image) -> list[str]:
    if image.manifest is None:
        raise BerthError(f"image {image.id} has no manifest: its layers cannot be reused")
    doc = manifests.parse(images.blobs.read(image.manifest.digest), image.manifest.media_type)
    if not isinstance(doc, manifests.Manifest):
        raise BerthError(f"image {image.id} has no single manifest")
    return [layer.digest for layer in doc.layers]


def _changes(driver: StorageDriver, container: Container, parent: str | None) -> list[Change]:
    found = driver.changes(container.rw_layer, parent)
    kept = {
        c["Path"]
        for c in filter_init_changes([{"Path": c.path, "Kind": int(c.kind)} for c in found])
    }
    return [c for c in found if c.path in kept]


def _hidden_deletions(
    driver: StorageDriver, root: Path, parent: str | None, changes: list[Change]
) -> list[Change]:
    """Deletions a driver's changes do not list: what the parent had in a directory that the
    container replaced whole (overlayfs' opaque directories: ``rm -rf d; mkdir d``). The
    merged view cannot carry the opaque mark into the tar: each such name gets a whiteout."""
    if parent is None:
        return []
    known = {c.path for c in changes}
    found: list[Change] = []
    lower_path = driver.mount(parent)
    try:
        upper_fd = os.open(root, DIR_FLAGS)
        lower_fd = os.open(lower_path, DIR_FLAGS)
        try:
            for change in changes:
                if change.kind == ChangeKind.DELETE:
                    continue
                rel = os.fsencode(change.path.strip("/"))
                before = _names(lower_fd, rel)
                if not before:
                    continue
                now = _names(upper_fd, rel)
                for name in sorted(before - now):
                    path = change.path.rstrip("/") + "/" + name
                    if path not in known:
                        found.append(Change(path, ChangeKind.DELETE))
        finally:
            os.close(upper_fd)
            os.close(lower_fd)
    finally:
        driver.unmount(parent)
    return found


def _names(root_fd: int, rel: bytes) -> set[str]:
    """The names in directory ``rel`` under ``root_fd`` (no symlink followed); empty when
    it is not a directory there."""
    try:
        fd = open_dir(root_fd, rel, follow=False, flags=READ_DIR_FLAGS)
    except OSError:
        return set()
    try:
        return set(os.listdir(fd))
    finally:
        os.close(fd)


def _diff(driver: StorageDriver, container: Container) -> BinaryIO:
    """The container's changes as a tar stream (the driver's mount held until closed)."""
    parent = str(container.extra.get("ParentCache") or "") or None
    changes = _changes(driver, container, parent)
    root = driver.mount(container.rw_layer)
    try:
        changes += _hidden_deletions(driver, root, parent, changes)
        return export_changes(root, changes, on_close=lambda: driver.unmount(container.rw_layer))
    except BaseException:
        driver.unmount(container.rw_layer)
        raise


def commit(
    images: ImageService, driver: StorageDriver, container: Container, options: CommitOptions
) -> str:
    """Make the image; return its ID."""
    image = images.images.get(container.image)
    if image is None:
        raise BerthError(
            f"the image of container {container.short_id} is gone: it cannot be committed"
        )
    parent_blobs = _layer_blobs(images, image)
    owner = images.layers.new_lease()
    chain: str | None = None
    try:
        diff = _diff(driver, container)
        try:
            with images.blobs.writer(what="the committed layer") as writer:
                tee = TeeReader(diff, writer)
                layer = images.layers.register(
                    cast(BinaryIO, tee),
                    image.config.top_chain_id,
                    None,
                    owner,
                    f"the layer of container {container.short_id}",
                )
                chain = layer.chain_id
                tee.drain()
                blob = writer.commit()
        finally:
            diff.close()
        empty = layer.diff_id == EMPTY_LAYER
        diff_ids = list(image.config.diff_ids) + ([] if empty else [layer.diff_id])
        blobs = parent_blobs + ([] if empty else [blob])
        raw = _config_json(image, container, options, diff_ids, empty)
        stored = images.add_built_image(raw, blobs, image.id)
        if options.repo:
            images.tag(stored.id, options.repo, options.tag)
        return stored.id
    finally:
        if chain is not None:
            images.layers.release(chain, owner)


def _config_json(
    image: Image,
    container: Container,
    options: CommitOptions,
    diff_ids: list[str],
    empty: bool,
) -> bytes:
    created = format_time()
    doc = image.config.doc
    history = list(image.config.history)
    entry: dict[str, Any] = {"created": created}
    if options.author:
        entry["author"] = options.author
    entry["created_by"] = " ".join(str(a) for a in container.config.get("Cmd") or [])
    if options.comment:
        entry["comment"] = options.comment
    if empty:
        entry["empty_layer"] = True
    history.append(entry)
    out: dict[str, Any] = {
        "architecture": doc.get("architecture") or "amd64",
        "author": options.author,
        "comment": options.comment,
        "config": new_config(container, options),
        "container": container.id,
        "container_config": container.config,
        "created": created,
        "docker_version": f"berth-{berth.__version__}",
        "history": history,
        "os": doc.get("os") or "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    if doc.get("variant"):
        out["variant"] = doc["variant"]
    if not out["author"]:
        del out["author"]
    return json.dumps(out, separators=(",", ":")).encode()
