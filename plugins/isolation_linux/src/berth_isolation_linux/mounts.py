"""The container's mount namespace: its root file system, the spec's mounts, /dev, pivot_root,
masked and read-only paths. Runs in the container's init before it executes anything, in the
order runc uses (and with runc's defaults where OCI leaves a choice open):

1. ``/`` made ``rslave`` (or ``linux.rootfsPropagation``), so nothing propagates to the host;
2. the root file system bind-mounted on itself (``pivot_root`` needs a mount point);
3. each ``mounts`` entry, in order, at its destination resolved *inside* the root (symbolic
   links in the image cannot point a mount outside it);
4. device nodes (OCI's defaults and ``linux.devices``) and the /dev symbolic links;
5. ``pivot_root``, the old root detached;
6. (after the caller's sysctls) read-only paths, masked paths, and a read-only root.
"""

from __future__ import annotations

import errno
import os
import stat

from berth_isolation_linux import syscalls as sc
from berth_isolation_linux.config import Device
from berth_isolation_linux.errors import suppress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth_isolation_linux.config import Config, Mount

#: Device nodes every container gets (OCI runtime spec, "Default Devices").
DEFAULT_DEVICES: tuple[Device, ...] = (
    Device("/dev/null", "c", 1, 3, 0o666, 0, 0),
    Device("/dev/zero", "c", 1, 5, 0o666, 0, 0),
    Device("/dev/full", "c", 1, 7, 0o666, 0, 0),
    Device("/dev/random", "c", 1, 8, 0o666, 0, 0),
    Device("/dev/urandom", "c", 1, 9, 0o666, 0, 0),
    Device("/dev/tty", "c", 5, 0, 0o666, 0, 0),
)
DEV_LINKS: tuple[tuple[str, str], ...] = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
)
_MAX_LINKS = 40
_FLAG_OF_STATVFS = (
    (os.ST_NOSUID, sc.MS_NOSUID),
    (os.ST_NODEV, sc.MS_NODEV),
    (os.ST_NOEXEC, sc.MS_NOEXEC),
    (os.ST_NOATIME, sc.MS_NOATIME),
    (os.ST_NODIRATIME, sc.MS_NODIRATIME),
    (os.ST_RELATIME, sc.MS_RELATIME),
)


def resolve_in_root(root: str, path: str) -> str:
    """``path`` (as the container sees it) as a host path inside ``root``, following symbolic
    links the way the container would: ``..`` and absolute links stop at ``root``."""
    root = root.rstrip("/") or "/"
    pending = [p for p in path.split("/") if p]
    done: list[str] = []
    links = 0
    while pending:
        part = pending.pop(0)
        if part == ".":
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = os.path.join(root, *done, part)
        try:
            st = os.lstat(candidate)
        except FileNotFoundError:
            done.append(part)
            continue
        if not stat.S_ISLNK(st.st_mode):
            done.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise OSError(errno.ELOOP, f"too many symbolic links resolving {path} in the image")
        target = os.readlink(candidate)
        if target.startswith("/"):
            done = []
        pending = [p for p in target.split("/") if p] + pending
    return os.path.join(root, *done)


def _statvfs_flags(path: str) -> int:
    try:
        found = os.statvfs(path).f_flag
    except OSError:
        return 0
    return sum(flag for st_flag, flag in _FLAG_OF_STATVFS if found & st_flag)


def remount(path: str, flags: int) -> None:
    """Change the flags of the bind mount at ``path`` (keeping the ones the kernel locked)."""
    try:
        sc.mount(None, path, None, sc.MS_BIND | sc.MS_REMOUNT | flags)
    except OSError as exc:
        if exc.errno != errno.EPERM:
            raise
        sc.mount(None, path, None, sc.MS_BIND | sc.MS_REMOUNT | flags | _statvfs_flags(path))


def _make_target(path: str, directory: bool) -> None:
    if os.path.lexists(path):
        return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if directory:
        os.mkdir(path, 0o755)
    else:
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))


def _parent_mount(path: str) -> str:
    """The mount point ``path`` is on."""
    best = "/"
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            point = line.split(" ")[4].encode().decode("unicode_escape")
            if (path == point or path.startswith(point.rstrip("/") + "/")) and len(point) > len(
                best
            ):
                best = point
    return best


def prepare_root(cfg: Config) -> None:
    sc.mount(None, "/", None, cfg.root_propagation)
    if cfg.root_propagation & sc.MS_SHARED:
        # pivot_root refuses a new root whose parent mount is shared
        sc.mount(None, _parent_mount(os.path.dirname(cfg.root)), None, sc.MS_PRIVATE)
    sc.mount(cfg.root, cfg.root, None, sc.MS_BIND | sc.MS_REC)


def mount_all(cfg: Config, cgroup_dirs: dict[str, str], cgroup_v2: bool) -> None:
    for entry in cfg.mounts:
        target = resolve_in_root(cfg.root, entry.destination)
        if entry.type in ("cgroup", "cgroup2"):
            _mount_cgroup(cfg, entry, target, cgroup_dirs, cgroup_v2)
        elif entry.is_bind:
            _mount_bind(cfg, entry, target)
        else:
            _make_target(target, directory=True)
            _mount_fs(entry, target)
        for propagation in entry.propagation:
            sc.mount(None, target, None, propagation)


def _mount_bind(cfg: Config, entry: Mount, target: str) -> None:
    source = entry.source
    if not source.startswith("/"):
        source = os.path.join(cfg.bundle, source)
    try:
        is_dir = os.path.isdir(source)
        os.stat(source)
    except OSError:
        raise OSError(
            errno.ENOENT, f"the bind mount source {source} (for {entry.destination}) does not exist"
        ) from None
    _make_target(target, directory=is_dir)
    sc.mount(source, target, None, sc.MS_BIND | (entry.flags & sc.MS_REC))
    extra = entry.flags & ~(sc.MS_BIND | sc.MS_REC | sc.MS_REMOUNT)
    if extra:
        remount(target, extra)


def _mount_fs(entry: Mount, target: str) -> None:
    try:
        sc.mount(entry.source, target, entry.type, entry.flags, entry.data)
    except OSError as exc:
        if entry.type == "sysfs" and exc.errno == errno.EPERM:
            # a shared network namespace owned by another user namespace: take the host's
            sc.mount("/sys", target, None, sc.MS_BIND | sc.MS_REC)
            remount(target, entry.flags & ~sc.MS_REMOUNT)
            return
        raise


def _mount_cgroup(
    cfg: Config, entry: Mount, target: str, cgroup_dirs: dict[str, str], cgroup_v2: bool
) -> None:
    _make_target(target, directory=True)
    readonly = entry.flags & sc.MS_RDONLY
    if cgroup_v2:
        if cfg.new_namespace("cgroup"):
            sc.mount("cgroup2", target, "cgroup2", entry.flags & ~sc.MS_RDONLY | readonly)
        else:
            (path,) = cgroup_dirs.values()
            sc.mount(path, target, None, sc.MS_BIND)
            remount(target, entry.flags)
        return
    # v1: a tmpfs holding one directory per hierarchy, each the container's own cgroup
    sc.mount("tmpfs", target, "tmpfs", entry.flags & ~sc.MS_RDONLY, "mode=755")
    for mount_point, path in sorted(cgroup_dirs.items()):
        name = os.path.basename(mount_point)
        inside = os.path.join(target, name)
        os.mkdir(inside, 0o755)
        sc.mount(path, inside, None, sc.MS_BIND)
        remount(inside, entry.flags | sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
        if "," in name:
            for alias in name.split(","):
                with suppress(FileExistsError):
                    os.symlink(name, os.path.join(target, alias))
    if readonly:
        sc.mount(None, target, None, sc.MS_REMOUNT | entry.flags)


def create_devices(cfg: Config) -> None:
    listed = {d.path for d in cfg.devices}
    devices = [d for d in DEFAULT_DEVICES if d.path not in listed] + list(cfg.devices)
    for device in devices:
        path = resolve_in_root(cfg.root, device.path)
        if os.path.lexists(path) and not stat.S_ISREG(os.lstat(path).st_mode):
            with suppress(OSError):
                os.unlink(path)
        elif os.path.lexists(path):
            continue  # a bind mount from the spec sits there
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if device.type == "p":
            os.mkfifo(path, device.mode)
        else:
            kind = stat.S_IFBLK if device.type == "b" else stat.S_IFCHR
            os.mknod(path, kind | device.mode, os.makedev(device.major, device.minor))
        os.chown(path, device.uid, device.gid)
    dev = resolve_in_root(cfg.root, "/dev")
    if not os.path.isdir(dev):
        return
    for source, link in DEV_LINKS:
        with suppress(FileExistsError):
            os.symlink(source, resolve_in_root(cfg.root, link))
    if os.path.exists(os.path.join(dev, "pts", "ptmx")):
        ptmx = os.path.join(dev, "ptmx")
        with suppress(FileNotFoundError):
            os.unlink(ptmx)
        os.symlink("pts/ptmx", ptmx)


def pivot(root: str) -> None:
    """Make ``root`` the root of this mount namespace and detach the old root."""
    os.chdir(root)
    try:
        sc.pivot_root(".", ".")
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        # the host's root is not a mount we can pivot from (an initramfs): move and chroot
        sc.mount(root, "/", None, sc.MS_MOVE)
        os.chroot(".")
    else:
        sc.mount(None, ".", None, sc.MS_SLAVE | sc.MS_REC)
        sc.umount2(".", sc.MNT_DETACH)
    os.chdir("/")


def write_sysctls(sysctl: dict[str, str]) -> None:
    for key, value in sysctl.items():
        path = "/proc/sys/" + key.replace(".", "/") if "/" not in key else "/proc/sys/" + key
        try:
            with open(path, "w") as handle:
                handle.write(value)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot set sysctl {key}={value}: {exc.strerror}") from None


def finish(cfg: Config) -> None:
    """Read-only paths, masked paths and the read-only root (after pivot_root)."""
    for path in cfg.readonly_paths:
        try:
            sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                continue
            raise
        remount(path, sc.MS_RDONLY | _statvfs_flags(path))
    for path in cfg.masked_paths:
        try:
            is_dir = os.path.isdir(path) and not os.path.islink(path)
            if is_dir:
                sc.mount("tmpfs", path, "tmpfs", sc.MS_RDONLY)
            else:
                sc.mount("/dev/null", path, None, sc.MS_BIND)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
    if cfg.readonly:
        remount("/", sc.MS_RDONLY | _statvfs_flags("/"))
