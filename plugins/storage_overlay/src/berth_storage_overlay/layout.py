"""The driver's files under its data directory, laid out as Docker's ``overlay2`` lays them out.

::

    <home>/l/<short id>          symlink → ../<layer id>/diff (26 characters: deep images fit
                                 a mount's options)
    <home>/<layer id>/diff/      the layer's own files: an overlay upper directory
    <home>/<layer id>/link       its short id
    <home>/<layer id>/lower      ``l/<short id>:l/<short id>:...``, parent first (child layers)
    <home>/<layer id>/work/      overlay's work directory (child layers)
    <home>/<layer id>/merged/    where the layer is mounted (child layers)

A layer is built in ``<home>/.tmp-<random>/`` and renamed to its ID when complete; a layer is
removed by renaming it to ``<home>/.trash-<random>/`` first. A crash therefore leaves either
nothing or a dot directory, which :func:`repair` removes at the next start, along with dangling
links; it also remakes missing links and link files.
"""

from __future__ import annotations

import base64
import contextlib
import os
import re
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

LINK_DIR = "l"
TMP_PREFIX = ".tmp-"
TRASH_PREFIX = ".trash-"
#: Layer IDs are chosen by core (64 hex characters); anything path-safe is accepted.
LAYER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
SHORT_ID = re.compile(r"[A-Z2-7]{26}")


def check_layer_id(layer_id: str) -> None:
    if not isinstance(layer_id, str) or not LAYER_ID.fullmatch(layer_id) or layer_id == LINK_DIR:
        raise ValueError(
            f"invalid layer ID {layer_id!r}: use letters, digits, '_', '.' and '-' "
            "(at most 128, not starting with a punctuation mark)"
        )


def new_short_id() -> str:
    """26 random base32 characters (128 bits), as Docker's overlay2 names its links."""
    return base64.b32encode(secrets.token_bytes(16)).decode().rstrip("=")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, text: str) -> None:
    """Write and fsync a new file (inside a directory that is not visible yet)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` at once: temp file, fsync, rename, fsync of the directory."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode())
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def read_small(path: Path) -> str:
    return path.read_text(encoding="ascii", errors="replace").strip()


@dataclass
class RepairReport:
    """What :func:`repair` found and fixed, for the driver's start-up log."""

    removed: list[str] = field(default_factory=list)
    relinked: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)


def is_layer_dir_name(name: str) -> bool:
    return name != LINK_DIR and not name.startswith(".") and bool(LAYER_ID.fullmatch(name))


def repair(home: Path) -> RepairReport:
    """Bring the data directory back to a consistent state after a crash or a hard stop.

    Mounts must already be gone from the dot directories (the driver detaches them first).
    """
    report = RepairReport()
    links = home / LINK_DIR
    links.mkdir(mode=0o700, exist_ok=True)
    for entry in list(home.iterdir()):
        if entry.name.startswith((TMP_PREFIX, TRASH_PREFIX)):
            remove_entry(entry)
            report.removed.append(entry.name)
    for link in list(links.iterdir()):
        if not SHORT_ID.fullmatch(link.name) or not _links_to_a_layer(home, link):
            remove_entry(link)
            report.removed.append(f"{LINK_DIR}/{link.name}")
    for layer in home.iterdir():
        if not is_layer_dir_name(layer.name) or not layer.is_dir():
            continue
        if not (layer / "diff").is_dir():
            report.broken.append(layer.name)
            continue
        if ensure_link(home, layer.name):
            report.relinked.append(layer.name)
    return report


def _links_to_a_layer(home: Path, link: Path) -> bool:
    """Whether ``link`` is a symlink ``../<layer id>/diff`` to a layer that exists."""
    try:
        target = os.readlink(link)
    except OSError:
        return False
    head, layer, tail = [*target.split("/", 2), "", ""][:3]
    return (
        head == ".."
        and tail == "diff"
        and is_layer_dir_name(layer)
        and (home / layer / "diff").is_dir()
    )


def remove_entry(path: Path) -> None:
    """Remove a file, a symlink or a directory tree; a missing one is fine."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def ensure_link(home: Path, layer_id: str) -> bool:
    """Make sure the layer has a link file and ``l/<short id>`` points at its diff.

    Returns whether anything had to be remade.
    """
    layer = home / layer_id
    link_file = layer / "link"
    try:
        short = read_small(link_file)
    except FileNotFoundError:
        short = ""
    remade = False
    if not SHORT_ID.fullmatch(short):
        short = new_short_id()
        write_atomic(link_file, short)
        remade = True
    link = home / LINK_DIR / short
    wanted = f"../{layer_id}/diff"
    try:
        if os.readlink(link) == wanted:
            return remade
        link.unlink()
    except FileNotFoundError:
        pass
    except OSError:  # not a symlink: something else took the name
        remove_entry(link)
    os.symlink(wanted, link)
    return True
