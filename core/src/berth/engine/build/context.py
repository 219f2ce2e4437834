"""The build context: the tar a client sends (plain or compressed) unpacked into a private
directory, the Dockerfile read from it, and paths resolved inside it without ever leaving it.

Unpacking goes through :func:`berth.plugins.layers.apply_layer`, confined to the directory (no
``..``, no escaping symlinks, no device nodes). Paths a Dockerfile names (``COPY src``) are
resolved lexically against the context root; a path that climbs out is Docker's "forbidden path
outside the build context".
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import shutil
import stat
import tempfile
from pathlib import Path
from typing import BinaryIO, cast

from berth.dockerignore import DockerignoreError, build_files_to_hide
from berth.engine.build.paths import resolve_in_root
from berth.engine.errors import BadParameter
from berth.engine.images import compression
from berth.engine.images.streams import PrefixedReader
from berth.plugins.layers import LayerError, apply_layer

DEFAULT_DOCKERFILE = "Dockerfile"
MAX_DOCKERFILE = 16 << 20


class BuildContext:
    """An unpacked context; :meth:`close` removes it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dockerfile = DEFAULT_DOCKERFILE  # as read_dockerfile found it (maybe lowercase)

    @classmethod
    def unpack(cls, stream: BinaryIO, parent: Path) -> BuildContext:
        """Unpack the context tar ``stream`` into a new directory under ``parent``."""
        parent.mkdir(parents=True, exist_ok=True)
        root = Path(tempfile.mkdtemp(prefix="context-", dir=parent))
        context = cls(root)
        try:
            _, sniffed = compression.sniff(stream)
            head = sniffed.read(1)
            if head:  # an empty body is an empty context
                rest = cast(BinaryIO, PrefixedReader(head, sniffed))
                plain, _ = compression.decompressed(rest, "the build context")
                try:
                    apply_layer(plain, root, allow_devices=False)
                finally:
                    plain.close()
        except LayerError as exc:
            context.close()
            raise BadParameter(f"the build context cannot be unpacked: {exc}") from None
        except BaseException:
            context.close()
            raise
        return context

    def close(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def clean(self, path: str) -> str:
        """``path`` (relative to the context root) as a normalised relative path; refuses
        one that leaves the context (Docker's message)."""
        if _climbs(path.lstrip("/")):
            raise BadParameter(f"forbidden path outside the build context: {path} ()")
        return posixpath.normpath(posixpath.join("/", path)).lstrip("/")

    def host_path(self, rel: str) -> Path:
        return self.root / rel if rel else self.root

    def read_dockerfile(self, name: str) -> tuple[str, str]:
        """The Dockerfile's text and the name to show in errors."""
        wanted = name or DEFAULT_DOCKERFILE
        rel = self.clean(wanted)
        self.dockerfile = rel
        path = self.host_path(rel)
        try:
            st = os.lstat(path)
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(path)
                rel = self.clean(posixpath.join(posixpath.dirname(rel), target))
                path = self.host_path(rel)
                st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                raise FileNotFoundError(path)
            if st.st_size > MAX_DOCKERFILE:
                raise BadParameter(f"the Dockerfile {wanted} is larger than {MAX_DOCKERFILE} bytes")
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            if not name and (self.root / "dockerfile").is_file():
                return self.read_dockerfile("dockerfile")
            raise BadParameter(f"Cannot locate specified Dockerfile: {wanted}") from None
        return data.decode("utf-8", "replace"), posixpath.basename(wanted) or wanted

    def hide_build_files(self) -> None:
        """As Docker's classic daemon: once the Dockerfile is read, ``.dockerignore`` and the
        Dockerfile leave the context when ``.dockerignore`` names them, so COPY never sees
        them (the client sends them anyway; the ``.dockerfile.<random>`` it generates for
        ``-f -`` or an outside Dockerfile is named there for this). Paths are resolved inside
        the context as Docker's are (a symlink's in-context target is what goes)."""
        ignore = self.host_path(resolve_in_root(self.root, ".dockerignore"))
        try:
            if not ignore.is_file():
                return
            text = ignore.read_text(errors="replace")
        except OSError:
            return
        try:
            hidden = build_files_to_hide(text, self.dockerfile)
        except DockerignoreError as exc:
            raise BadParameter(f"error checking context: .dockerignore: {exc}") from None
        for name in hidden:
            rel = resolve_in_root(self.root, self.clean(name))
            if not rel:
                continue  # never the context itself
            path = self.host_path(rel)
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                    os.unlink(path)


def _climbs(path: str) -> bool:
    """Whether the relative ``path`` goes above its start with ``..`` at some point."""
    depth = 0
    for part in path.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False
