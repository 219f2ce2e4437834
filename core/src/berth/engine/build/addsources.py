"""Where COPY/ADD sources come from besides the context: ADD of a URL (downloaded) and of a
local archive (extracted), and the ``--chown``/``--chmod`` flags; errors as one line."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import urllib.parse
import urllib.request
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import BinaryIO, cast

from berth.engine.build import copier
from berth.engine.build.dockerfile import Instruction
from berth.engine.containers.users import resolve_user
from berth.engine.errors import BadParameter, BerthError
from berth.engine.images import compression
from berth.engine.images.streams import PrefixedReader
from berth.plugins.layers import LayerError, apply_layer


def reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.filename or ''}: {exc.strerror}".lstrip(": ")
    return str(exc)


def chmod(text: str, instruction: Instruction) -> int | None:
    if not text:
        return None
    try:
        value = int(text, 8)
    except ValueError:
        value = -1
    if not 0 <= value <= 0o7777:
        raise BadParameter(
            f"Dockerfile:{instruction.line}: invalid chmod parameter {text!r}: use an octal mode"
        )
    return value


def owner(chown: str, rootfs: Path | None) -> copier.Ownership:
    user, _, group = chown.partition(":")
    spec = f"{user}:{group or user}"
    if rootfs is None:
        try:
            return copier.Ownership(int(user), int(group or user))
        except ValueError:
            raise BadParameter(
                f"unable to find user {chown}: the image has no passwd file"
            ) from None
    resolved = resolve_user(rootfs, spec)
    return copier.Ownership(resolved.uid, resolved.gid)


def is_url(text: str) -> bool:
    return text.startswith("http://") or text.startswith("https://")


def download(url: str, scratch: Path) -> copier.Source:
    """ADD <url>: the file as downloaded (mode 0600, mtime from Last-Modified)."""
    name = os.path.basename(urllib.parse.urlsplit(url).path) or "__unnamed__"
    folder = Path(tempfile.mkdtemp(prefix="url-", dir=scratch))
    path = folder / name
    try:
        with urllib.request.urlopen(url, timeout=60) as response:
            modified = response.headers.get("Last-Modified")
            with open(path, "wb") as out:
                shutil.copyfileobj(response, out, 1 << 20)
    except OSError as exc:
        raise BadParameter(f"cannot download {url}: {exc}") from None
    os.chmod(path, 0o600)
    if modified:
        with contextlib.suppress(TypeError, ValueError, OverflowError):
            stamp = parsedate_to_datetime(modified).timestamp()
            os.utime(path, (stamp, stamp))
    return copier.Source(folder, name, name, False)


def extract_archive(source: copier.Source, scratch: Path) -> copier.Source | None:
    """ADD of a local tar (plain or compressed): its content, extracted (owners kept)."""
    path = source.root / source.path
    with open(path, "rb") as handle:
        head = handle.read(512 + 6)
    kind = compression.detect(head)
    if kind == compression.PLAIN and head[257:262] != b"ustar":
        return None
    folder = Path(tempfile.mkdtemp(prefix="archive-", dir=scratch))
    try:
        with open(path, "rb") as handle:
            plain, _ = compression.decompressed(handle, f"the archive {source.path}")
            try:
                if kind != compression.PLAIN:
                    peek = plain.read(512)
                    if peek[257:262] != b"ustar" and not _looks_like_old_tar(peek):
                        return None
                    plain = cast(BinaryIO, PrefixedReader(peek, plain))
                apply_layer(plain, folder, allow_devices=False)
            finally:
                plain.close()
    except (LayerError, BerthError) as exc:
        raise BadParameter(f"cannot extract {source.path}: {exc}") from None
    return copier.Source(folder, "", "", True, keep_owner=True)


def _looks_like_old_tar(block: bytes) -> bool:
    if len(block) < 512:
        return False
    try:
        stored = int(block[148:156].rstrip(b"\0 ").strip() or b"-1", 8)
    except ValueError:
        return False
    return stored == sum(block[:148]) + 256 + sum(block[156:512])
