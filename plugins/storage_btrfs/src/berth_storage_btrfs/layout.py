"""The driver's files under its data directory (which is on btrfs).

::

    <home>/layers/<layer id>/root/        the layer: a subvolume (a snapshot of its parent's)
    <home>/layers/<layer id>/layer.json   {"parent": <id> | null, "writable": bool}

A layer is built in ``<home>/layers/.tmp-<random>/`` and renamed to its ID when complete; it is
removed by renaming it to ``<home>/layers/.trash-<random>/`` first, then deleting that. A crash
at any moment therefore leaves a complete layer or none, plus maybe a dot directory, which
:func:`sweep` deletes at the next start.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from berth_storage_btrfs import ioctls

LAYERS = "layers"
ROOT = "root"
META = "layer.json"
TMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".trash-"
#: Layer IDs are chosen by core (64 hex characters); anything path-safe is accepted.
LAYER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")


def check_layer_id(layer_id: object) -> str:
    """``layer_id`` if it is a safe directory name, else ValueError."""
    if not isinstance(layer_id, str) or not LAYER_ID.fullmatch(layer_id):
        raise ValueError(
            f"invalid layer ID {layer_id!r}: use letters, digits, '_', '.' and '-' "
            "(at most 128, starting with a letter or digit)"
        )
    return layer_id


def is_layer_name(name: str) -> bool:
    return LAYER_ID.fullmatch(name) is not None


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_meta(path: Path, parent: str | None, writable: bool) -> None:
    """Write a new ``layer.json`` (in a directory not visible yet) and fsync it."""
    text = json.dumps({"parent": parent, "writable": writable}, sort_keys=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_meta(path: Path) -> dict[str, Any]:
    """The metadata of a layer; ``{}`` if its file is missing or damaged."""
    try:
        loaded = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def delete_layer_dir(path: Path) -> None:
    """Delete a layer directory: its subvolume (and any inside it), then the rest."""
    root = path / ROOT
    if ioctls.is_subvolume(root):
        ioctls.delete_subvolume(root)
    shutil.rmtree(path)


def sweep(layers: Path) -> list[str]:
    """Delete what an interrupted create or remove left; returns the names deleted."""
    removed: list[str] = []
    for entry in os.scandir(layers):
        if entry.name.startswith((TMP_PREFIX, TRASH_PREFIX)):
            try:
                delete_layer_dir(Path(entry.path))
            except OSError:
                continue
            removed.append(entry.name)
    return removed
