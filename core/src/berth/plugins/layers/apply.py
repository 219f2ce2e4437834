"""Unpacking a layer tar into a directory: :func:`apply_layer`.

Confinement: every entry's parent directory is opened by the kernel *inside* the layer root
(``openat2`` with ``RESOLVE_IN_ROOT``: a symlink met on the way resolves as it would inside a
container whose root is the layer, so ``../``, absolute symlinks and symlinks swapped in by a
later entry all stay inside), and the entry itself is made with the ``*at`` calls relative to
that directory without following a final symlink (``O_EXCL``/``O_NOFOLLOW``). A name that climbs
out with ``..``, or a hard link whose target does, is refused. Nothing is ever written outside
the destination; the process' working directory is never changed.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from berth.plugins.layers.errors import LayerError, show
from berth.plugins.layers.fsops import ignorable_xattr_error, proc_path, remove_tree
from berth.plugins.layers.rootfs import DIR_FLAGS, READ_DIR_FLAGS, make_dirs, open_dir
from berth.plugins.layers.tarreader import (
    BLK,
    CHR,
    DIR,
    FIFO,
    GNU_VOLHDR,
    LNK,
    REG,
    SYM,
    PlainFile,
    TarEntry,
    TarReader,
)
from berth.plugins.layers.whiteouts import (
    OVERLAY_OPAQUE_VALUE,
    OVERLAY_OPAQUE_XATTR,
    OVERLAY_XATTR_PREFIX,
    WHITEOUT_META_PREFIX,
    WHITEOUT_OPAQUE,
    WHITEOUT_PREFIX,
    WhiteoutFormat,
)

_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_DIR = READ_DIR_FLAGS | os.O_NOFOLLOW
_WH = WHITEOUT_PREFIX.encode()
_WH_META = WHITEOUT_META_PREFIX.encode()
_WH_OPAQUE = WHITEOUT_OPAQUE.encode()
_MAX_CACHED_DIRS = 128
_DEFAULT_ACL = "system.posix_acl_default"
# A name needs no cleaning and is no whiteout when no component starts with "." (no ".", "..",
# ".wh."), none is empty, and there is no NUL; these are the first bytes that break it.
_UNCLEAN_START = (b".", b"/", b"")
_KIND_NAMES = {CHR: "character device", BLK: "block device"}


def apply_layer(
    stream: BinaryIO,
    dest: Path,
    *,
    whiteouts: WhiteoutFormat | None = WhiteoutFormat.NAIVE,
    allow_devices: bool = True,
    keep_kinds: bool = False,
    owner: tuple[int, int] | None = None,
) -> int:
    """Unpack the uncompressed layer tar ``stream`` into the existing directory ``dest``.

    Streams: the layer is never held in memory. Honours whiteouts (``.wh.<name>``,
    ``.wh..wh..opq``) in the given format. Preserves modes (setuid, setgid, sticky), numeric
    owners, modification times to the nanosecond where the tar has them (directories' fixed
    at the end), xattrs (pax ``SCHILY.xattr.*``; ``trusted.overlay.*`` ones are dropped), hard
    links, symlinks, fifos, devices, sparse files. A later entry for the same path wins.

    For copies into a container (``docker cp``) rather than layers: ``whiteouts=None`` unpacks
    ``.wh.`` names as plain names, ``keep_kinds`` refuses to replace a directory by a
    non-directory or the reverse (Docker's ``noOverwriteDirNonDir``), ``owner`` (uid, gid)
    owns every entry.

    Reads ``stream`` to its end (a hashing wrapper sees every byte) and returns the size of the
    content unpacked — the sum of the entries' data sizes, what Docker reports as a layer's
    size (the tar's own length is larger by its headers and padding). Raises
    :class:`LayerError` (one line) for a malformed or truncated tar, an entry escaping the root,
    a device when ``allow_devices`` is false, or a file system error; ``dest`` is then left
    partly written for the caller to remove.
    """
    try:
        root = os.open(dest, DIR_FLAGS)
    except OSError as exc:
        raise LayerError(f"cannot unpack a layer into {dest}: {exc.strerror}") from exc
    try:
        unpacker = _Unpacker(root, whiteouts, allow_devices, keep_kinds, owner)
    except OSError as exc:
        os.close(root)
        raise LayerError(f"cannot unpack a layer into {dest}: {exc.strerror}") from exc
    reader = TarReader(stream)
    try:
        unpacker.run(reader)
    finally:
        unpacker.close()
    return unpacker.content


def clean_name(name: bytes) -> bytes:
    """A tar member name as a normalised relative path (``b""`` for the root); raises
    LayerError when ``..`` would climb out of the root. Leading ``/`` are dropped, as tar does."""
    # (bytes.find, not "in": "in" first tries the needle as an int, at the cost of an exception)
    if name.find(b"\0") >= 0:
        raise LayerError(f"layer entry '{show(name)}' has a NUL byte in its name")
    if name.find(b"/.") < 0 and name[:1] not in _UNCLEAN_START and name.find(b"//") < 0:
        return name[:-1] if name[-1:] == b"/" else name
    parts: list[bytes] = []
    for part in name.split(b"/"):
        if not part or part == b".":
            continue
        if part == b"..":
            if not parts:
                raise LayerError(f"layer entry '{show(name)}' escapes the layer root")
            parts.pop()
        else:
            parts.append(part)
    return b"/".join(parts)


class _Unpacker:
    """The state of one unpacking: open directories, directory times to set at the end, what
    this layer brought (for opaque directories), what the kernel gives new files."""

    def __init__(
        self,
        root: int,
        whiteouts: WhiteoutFormat | None,
        allow_devices: bool,
        keep_kinds: bool = False,
        owner: tuple[int, int] | None = None,
    ) -> None:
        self.root = root
        self.content = 0  # bytes of file content unpacked: a layer's size, as Docker counts it
        self.overlay = whiteouts is WhiteoutFormat.OVERLAY
        self.whiteouts = whiteouts is not None
        self.allow_devices = allow_devices
        self.keep_kinds = keep_kinds
        self.owner = owner
        # parent path -> (O_PATH fd resolved in the root, what new entries in it get: see _facts)
        self.dirs: dict[bytes, tuple[int, int, bool]] = {}
        self.stale: list[int] = []  # fds of self.dirs dropped while an entry may still use them
        self.dir_times: dict[bytes, tuple[int, int]] = {}
        self.unpacked: set[bytes] = set()  # paths this layer brought (for opaque dirs, naive)
        self.facts: dict[tuple[int, int, int, int], tuple[int, bool]] = {}
        self.euid = os.geteuid()
        self.egid = os.getegid()
        self.umask = _umask()
        self.root_dir = (root, *self._facts(root))

    def close(self) -> None:
        for fd, _, _ in self.dirs.values():
            os.close(fd)
        for fd in self.stale:
            os.close(fd)
        self.dirs.clear()
        self.stale.clear()
        os.close(self.root)

    def run(self, reader: TarReader) -> None:
        name: bytes | None = None  # of the entry being unpacked, for error messages
        next_plain = reader.next_plain
        next_entry = reader.next
        plain_file = self.plain_file
        one = self.one
        try:
            while True:
                # Most entries are plain regular files: they take a short way.
                plain = next_plain()
                if plain is not None:
                    name = plain[0]
                    self.content += plain[4]
                    if self.owner is not None:
                        plain = (name, plain[1], *self.owner, plain[4], plain[5])
                    if plain_file(plain, reader):
                        continue
                    entry = TarEntry(name, REG, *plain[1:])
                else:
                    following = next_entry()
                    if following is None:
                        break
                    entry = following
                    name = entry.name
                    self.content += entry.size
                    if self.owner is not None:
                        entry.uid, entry.gid = self.owner
                one(entry, reader)
                if self.stale:
                    for fd in self.stale:
                        os.close(fd)
                    self.stale.clear()
            name = None
            self.fix_dir_times()
        except OSError as exc:
            what = f"layer entry '{show(name)}'" if name is not None else "a layer"
            raise LayerError(f"cannot unpack {what}: {exc.strerror or exc}") from exc
        except (ValueError, OverflowError) as exc:
            if isinstance(exc, LayerError):
                raise
            what = f"layer entry '{show(name)}'" if name is not None else "a layer"
            raise LayerError(f"cannot unpack {what}: {exc}") from exc

    def plain_file(self, plain: PlainFile, reader: TarReader) -> bool:
        """Unpack a plain regular file the short way, if it needs nothing more than a create,
        a write and its times: a clean name that is no whiteout, a parent directory already
        open, the mode and owner that the kernel gives a new file anyway. False (and nothing
        done) otherwise."""
        name, mode, uid, gid, size, mtime = plain
        # A clean name (see _UNCLEAN_START), tested inline: this runs for nearly every entry.
        if (
            name.find(b"/.") >= 0
            or name[:1] in _UNCLEAN_START
            or name.find(b"//") >= 0
            or name[-1:] == b"/"
            or name.find(b"\0") >= 0
        ):
            return False
        parent, _, base = name.rpartition(b"/")
        where = self.dirs.get(parent) if parent else self.root_dir
        if where is None:
            return False
        pfd, new_gid, exact = where
        if not exact or uid != self.euid or gid != new_gid or mode & self.umask or mode & 0o7000:
            return False
        try:
            fd = os.open(base, _CREATE, mode, dir_fd=pfd)
        except FileExistsError:
            self.remove(pfd, base)
            fd = os.open(base, _CREATE, mode, dir_fd=pfd)
        try:
            if size:
                reader.copy_to(fd, size)
            os.utime(fd, ns=(mtime, mtime))
        finally:
            os.close(fd)
        if not self.overlay:
            self.unpacked.add(name)
        return True

    # -- directories --------------------------------------------------------------------------

    def parent(self, path: bytes) -> tuple[int, int, bool]:
        """The directory ``path`` (created with its parents, 0755, when missing): its fd, the
        group new entries in it get, and whether its new entries get the mode they are created
        with (-1 and False when unsure)."""
        if not path:
            return self.root_dir
        found = self.dirs.get(path)
        if found is None:
            fd = make_dirs(self.root, path)
            found = self._remember(path, fd)
        return found

    def existing(self, path: bytes) -> int | None:
        """The directory ``path`` if it exists, else None."""
        if not path:
            return self.root
        found = self.dirs.get(path)
        if found is None:
            try:
                fd = open_dir(self.root, path, follow=True)
            except (FileNotFoundError, NotADirectoryError):
                return None
            found = self._remember(path, fd)
        return found[0]

    def _facts(self, fd: int) -> tuple[int, bool]:
        """What a new entry in directory ``fd`` gets from the kernel: (its group, -1 if unsure;
        whether its mode is exactly what it is created with, given the umask)."""
        st = os.fstat(fd)
        key = (st.st_dev, st.st_ino, st.st_mode, st.st_gid)
        known = self.facts.get(key)
        if known is not None:
            return known
        try:
            os.getxattr(proc_path(fd, b"."), _DEFAULT_ACL)
        except OSError:  # no default ACL (or none possible): the umask rules
            known = (st.st_gid, False) if st.st_mode & stat.S_ISGID else (self.egid, True)
        else:
            known = (-1, False)
        self.facts[key] = known
        return known

    def _remember(self, path: bytes, fd: int) -> tuple[int, int, bool]:
        if len(self.dirs) >= _MAX_CACHED_DIRS:
            oldest = next(iter(self.dirs))
            self.stale.append(self.dirs.pop(oldest)[0])
        found = self.dirs[path] = (fd, *self._facts(fd))
        return found

    def forget_dirs(self) -> None:
        """A directory or symlink was removed: cached resolutions may be wrong now."""
        self.stale.extend(fd for fd, _, _ in self.dirs.values())
        self.dirs.clear()

    def remove(self, dir_fd: int, name: bytes, keep_dir: bool = False) -> bool:
        """Remove whatever ``name`` is in ``dir_fd``; True if it is a directory kept."""
        try:
            st = os.lstat(name, dir_fd=dir_fd)
        except FileNotFoundError:
            return False
        if self.keep_kinds and stat.S_ISDIR(st.st_mode) != keep_dir:
            old, new = (
                ("non-directory", "directory") if keep_dir else ("directory", "non-directory")
            )
            raise LayerError(f"cannot overwrite {old} '{show(name)}' with {new}")
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return True
            remove_tree(dir_fd, name)
            self.forget_dirs()
        else:
            os.unlink(name, dir_fd=dir_fd)
            if stat.S_ISLNK(st.st_mode):
                self.forget_dirs()
        return False

    # -- entries ------------------------------------------------------------------------------

    def one(self, entry: TarEntry, reader: TarReader) -> None:
        name = entry.name
        path = clean_name(name)
        parent, _, base = path.rpartition(b"/")
        if self.whiteouts and path.find(_WH) >= 0:
            if base.startswith(_WH):
                self.whiteout(parent, base, entry)
                return
            if any(part.startswith(_WH_META) for part in path.split(b"/")):
                return  # AUFS metadata (.wh..wh.plnk and the like): not content
        kind = entry.kind
        if not path:
            if kind == DIR:
                return  # the root itself: its metadata is the driver's (as Docker)
            raise LayerError(f"layer entry '{show(entry.name)}' replaces the layer root")
        where = self.parent(parent)
        if kind == REG:
            self.file(where, base, entry, reader)
        elif kind == DIR:
            self.directory(where, base, path, entry)
        elif kind == SYM:
            self.symlink(where[0], base, entry)
        elif kind == LNK:
            self.hardlink(where[0], base, path, entry)
        elif kind in (CHR, BLK, FIFO):
            self.node(where[0], base, entry)
        elif kind == GNU_VOLHDR:
            return
        else:
            raise LayerError(
                f"layer entry '{show(entry.name)}' has an unsupported type {chr(kind)!r}"
            )
        if not self.overlay:
            self.unpacked.add(path)

    def file(
        self, where: tuple[int, int, bool], base: bytes, entry: TarEntry, reader: TarReader
    ) -> None:
        pfd, new_gid, exact = where
        mode = entry.mode
        # Created with its final mode and owner where the kernel gives exactly those (the
        # usual case): two system calls fewer per file.
        chown = entry.uid != self.euid or entry.gid != new_gid
        chmod = not exact or mode & self.umask or mode & 0o7000
        try:
            fd = os.open(base, _CREATE, 0o600 if chmod else mode, dir_fd=pfd)
        except FileExistsError:
            self.remove(pfd, base)
            fd = os.open(base, _CREATE, 0o600 if chmod else mode, dir_fd=pfd)
        try:
            if entry.sparse is not None:
                reader.read_sparse_map(entry)
                for offset, length in entry.sparse:
                    os.lseek(fd, offset, os.SEEK_SET)
                    reader.copy_to(fd, length)
                os.ftruncate(fd, entry.realsize)
            elif entry.size:
                reader.copy_to(fd, entry.size)
            if chown:
                os.fchown(fd, entry.uid, entry.gid)
            if chmod:
                os.fchmod(fd, mode)
            if entry.xattrs:
                self.xattrs(fd, entry, True)
            mtime = entry.mtime_ns
            atime = entry.atime_ns
            os.utime(fd, ns=(mtime if atime is None else atime, mtime))
        finally:
            os.close(fd)

    def directory(
        self, where: tuple[int, int, bool], base: bytes, path: bytes, entry: TarEntry
    ) -> None:
        pfd, new_gid, exact = where
        mode = entry.mode
        chown = entry.uid != self.euid or entry.gid != new_gid
        chmod = not exact or mode & self.umask or mode & 0o7000
        try:
            os.mkdir(base, 0o700 if chmod else mode, dir_fd=pfd)
        except FileExistsError:
            if not self.remove(pfd, base, keep_dir=True):
                os.mkdir(base, 0o700 if chmod else mode, dir_fd=pfd)
            else:
                chown = chmod = True  # an existing directory: set it all
        if chown or chmod or entry.xattrs:
            fd = os.open(base, _OPEN_DIR, dir_fd=pfd)
            try:
                os.fchown(fd, entry.uid, entry.gid)
                os.fchmod(fd, mode)
                if entry.xattrs:
                    self.xattrs(fd, entry, True)
            finally:
                os.close(fd)
        mtime = entry.mtime_ns
        atime = entry.atime_ns
        self.dir_times[path] = (mtime if atime is None else atime, mtime)

    def symlink(self, pfd: int, base: bytes, entry: TarEntry) -> None:
        try:
            os.symlink(entry.linkname, base, dir_fd=pfd)
        except FileExistsError:
            self.remove(pfd, base)
            os.symlink(entry.linkname, base, dir_fd=pfd)
        self.finish_by_name(pfd, base, entry, chmod=False)

    def node(self, pfd: int, base: bytes, entry: TarEntry) -> None:
        kind = entry.kind
        if kind == FIFO:
            make = _make_fifo
        elif not self.allow_devices:
            raise LayerError(
                f"layer entry '{show(entry.name)}' is a {_KIND_NAMES[kind]}; "
                "device nodes are not allowed here"
            )
        else:
            fmt = stat.S_IFCHR if kind == CHR else stat.S_IFBLK
            device = os.makedev(entry.devmajor, entry.devminor)

            def make(name: bytes, dir_fd: int) -> None:
                os.mknod(name, fmt | 0o600, device, dir_fd=dir_fd)

        try:
            make(base, pfd)
        except FileExistsError:
            self.remove(pfd, base)
            make(base, pfd)
        self.finish_by_name(pfd, base, entry, chmod=True)

    def finish_by_name(self, pfd: int, base: bytes, entry: TarEntry, chmod: bool) -> None:
        """Owner, mode, xattrs and times of something that cannot be opened (symlink, node)."""
        os.chown(base, entry.uid, entry.gid, dir_fd=pfd, follow_symlinks=False)
        if chmod:  # a node we just made (mknod refuses to replace anything)
            os.chmod(base, entry.mode, dir_fd=pfd)
        if entry.xattrs:
            self.xattrs(proc_path(pfd, base), entry, False)
        mtime = entry.mtime_ns
        atime = entry.atime_ns
        os.utime(
            base,
            ns=(mtime if atime is None else atime, mtime),
            dir_fd=pfd,
            follow_symlinks=False,
        )

    def hardlink(self, pfd: int, base: bytes, path: bytes, entry: TarEntry) -> None:
        link = entry.linkname
        try:
            target = clean_name(link)
        except LayerError:
            raise LayerError(
                f"layer entry '{show(entry.name)}' is a hard link to '{show(link)}', "
                "outside the layer root"
            ) from None
        if target == path:
            return
        tparent, _, tbase = target.rpartition(b"/")
        tfd = self.existing(tparent) if tbase else None
        if tfd is None:
            raise LayerError(
                f"layer entry '{show(entry.name)}' is a hard link to '{show(link)}', "
                "which is not in the layer"
            )
        try:
            os.link(tbase, base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        except FileExistsError:
            self.remove(pfd, base)
            tfd = self.existing(tparent)  # removing may have dropped cached directories
            if tfd is None:
                raise LayerError(
                    f"layer entry '{show(entry.name)}' is a hard link to '{show(link)}', "
                    "which is not in the layer"
                ) from None
            os.link(tbase, base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
        except FileNotFoundError:
            raise LayerError(
                f"layer entry '{show(entry.name)}' is a hard link to '{show(link)}', "
                "which is not in the layer"
            ) from None

    def xattrs(self, target: int | bytes, entry: TarEntry, is_file_or_dir: bool) -> None:
        assert entry.xattrs is not None
        for name, value in entry.xattrs.items():
            if name.startswith(OVERLAY_XATTR_PREFIX):
                continue
            if name == _DEFAULT_ACL:  # what new entries get below this directory changes
                self.facts.clear()
                self.forget_dirs()
            try:
                if isinstance(target, int):
                    os.setxattr(target, name, value)
                else:
                    os.setxattr(target, name, value, follow_symlinks=False)
            except OSError as exc:
                if not ignorable_xattr_error(exc, is_file_or_dir):
                    raise

    # -- whiteouts ----------------------------------------------------------------------------

    def whiteout(self, parent: bytes, base: bytes, entry: TarEntry) -> None:
        if base == _WH_OPAQUE:
            self.opaque(parent)
            return
        if base.startswith(_WH_META):
            return  # AUFS metadata
        name = base[len(_WH) :]
        if name in (b"", b".", b".."):
            raise LayerError(f"layer entry '{show(entry.name)}' is not a valid whiteout")
        if self.overlay:
            pfd = self.parent(parent)[0]
            self.remove(pfd, name)
            os.mknod(name, stat.S_IFCHR, 0, dir_fd=pfd)
            os.chown(name, entry.uid, entry.gid, dir_fd=pfd, follow_symlinks=False)
            return
        dfd = self.existing(parent)
        if dfd is not None:
            self.remove(dfd, name)

    def opaque(self, path: bytes) -> None:
        if self.overlay:
            dfd = self.parent(path)[0]
            fd = os.open(".", READ_DIR_FLAGS, dir_fd=dfd)
            try:
                os.setxattr(fd, OVERLAY_OPAQUE_XATTR, OVERLAY_OPAQUE_VALUE)
            finally:
                os.close(fd)
            return
        found = self.existing(path)
        if found is None:
            return
        prefix = path + b"/" if path else b""
        keep_dirs: set[bytes] = set()
        for kept in self.unpacked:
            if kept.startswith(prefix):
                at = kept.find(b"/", len(prefix))
                while at >= 0:
                    keep_dirs.add(kept[:at])
                    at = kept.find(b"/", at + 1)
        self._sweep(found, prefix, keep_dirs)

    def _sweep(self, top_fd: int, top_prefix: bytes, keep_dirs: set[bytes]) -> None:
        """Remove what is below ``top_fd`` that this layer did not bring."""
        removed = False
        todo: list[bytes] = [b""]  # directories to sweep, relative to top_fd
        while todo:
            rel = todo.pop()
            fd = open_dir(top_fd, rel, follow=False, flags=READ_DIR_FLAGS)
            try:
                with os.scandir(fd) as listing:
                    names = [
                        (os.fsencode(e.name), e.is_dir(follow_symlinks=False)) for e in listing
                    ]
                prefix = top_prefix + rel + b"/" if rel else top_prefix
                for name, is_dir in names:
                    sub = prefix + name
                    if sub in self.unpacked or sub in keep_dirs:
                        if is_dir:
                            todo.append(rel + b"/" + name if rel else name)
                        continue
                    remove_tree(fd, name)
                    removed = True
            finally:
                os.close(fd)
        if removed:
            self.forget_dirs()

    # -- at the end ---------------------------------------------------------------------------

    def fix_dir_times(self) -> None:
        for path, times in self.dir_times.items():
            parent, _, base = path.rpartition(b"/")
            pfd = self.existing(parent)
            if pfd is None:
                continue
            try:
                fd = os.open(base, _OPEN_DIR, dir_fd=pfd)
            except OSError as exc:
                if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                    continue  # replaced or removed by a later entry
                raise
            try:
                os.utime(fd, ns=times)
            finally:
                os.close(fd)


def _umask() -> int:
    """The process' umask, read without changing it (os.umask would race with other threads);
    all bits set, so that every mode is set explicitly, when it cannot be read."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o7777


def _make_fifo(name: bytes, dir_fd: int) -> None:
    os.mkfifo(name, 0o600, dir_fd=dir_fd)
