"""An OCI runtime ``config.json`` read and checked before anything is forked.

Everything the container's processes need later (mount flags, capability masks, rlimit
numbers, the seccomp filter) is worked out here, in the caller, so that a mistake in the
bundle is one clear ``ValueError`` and nothing has to be undone.
"""

from __future__ import annotations

import os
import resource

from berth_isolation_linux import caps, jsonio
from berth_isolation_linux import syscalls as sc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

# --- mount options (the table runc and mount(8) use) -------------------------------------------

#: option → (flags to set, flags to clear)
MOUNT_FLAGS: dict[str, tuple[int, int]] = {
    "defaults": (0, 0),
    "ro": (sc.MS_RDONLY, 0),
    "rw": (0, sc.MS_RDONLY),
    "nosuid": (sc.MS_NOSUID, 0),
    "suid": (0, sc.MS_NOSUID),
    "nodev": (sc.MS_NODEV, 0),
    "dev": (0, sc.MS_NODEV),
    "noexec": (sc.MS_NOEXEC, 0),
    "exec": (0, sc.MS_NOEXEC),
    "sync": (sc.MS_SYNCHRONOUS, 0),
    "async": (0, sc.MS_SYNCHRONOUS),
    "dirsync": (sc.MS_DIRSYNC, 0),
    "remount": (sc.MS_REMOUNT, 0),
    "mand": (sc.MS_MANDLOCK, 0),
    "nomand": (0, sc.MS_MANDLOCK),
    "noatime": (sc.MS_NOATIME, 0),
    "atime": (0, sc.MS_NOATIME),
    "nodiratime": (sc.MS_NODIRATIME, 0),
    "diratime": (0, sc.MS_NODIRATIME),
    "relatime": (sc.MS_RELATIME, 0),
    "norelatime": (0, sc.MS_RELATIME),
    "strictatime": (sc.MS_STRICTATIME, 0),
    "nostrictatime": (0, sc.MS_STRICTATIME),
    "lazytime": (sc.MS_LAZYTIME, 0),
    "nolazytime": (0, sc.MS_LAZYTIME),
    "nosymfollow": (sc.MS_NOSYMFOLLOW, 0),
    "symfollow": (0, sc.MS_NOSYMFOLLOW),
    "silent": (sc.MS_SILENT, 0),
    "loud": (0, sc.MS_SILENT),
    "bind": (sc.MS_BIND, 0),
    "rbind": (sc.MS_BIND | sc.MS_REC, 0),
}

PROPAGATION: dict[str, int] = {
    "private": sc.MS_PRIVATE,
    "rprivate": sc.MS_PRIVATE | sc.MS_REC,
    "shared": sc.MS_SHARED,
    "rshared": sc.MS_SHARED | sc.MS_REC,
    "slave": sc.MS_SLAVE,
    "rslave": sc.MS_SLAVE | sc.MS_REC,
    "unbindable": sc.MS_UNBINDABLE,
    "runbindable": sc.MS_UNBINDABLE | sc.MS_REC,
}

#: Options some runtimes understand that change nothing here.
IGNORED_OPTIONS = frozenset({"tmpcopyup", "notmpcopyup"})

NAMESPACE_FLAGS: dict[str, int] = {
    "user": sc.CLONE_NEWUSER,
    "ipc": sc.CLONE_NEWIPC,
    "uts": sc.CLONE_NEWUTS,
    "network": sc.CLONE_NEWNET,
    "pid": sc.CLONE_NEWPID,
    "cgroup": sc.CLONE_NEWCGROUP,
    "mount": sc.CLONE_NEWNS,
    "time": sc.CLONE_NEWTIME,
}
#: The ``/proc/<pid>/ns/`` name of each namespace type.
NAMESPACE_FILES: dict[str, str] = {
    "user": "user",
    "ipc": "ipc",
    "uts": "uts",
    "network": "net",
    "pid": "pid",
    "cgroup": "cgroup",
    "mount": "mnt",
    "time": "time",
}

#: rlimit numbers (asm-generic/resource.h; the same on x86-64 and arm64)
RLIMITS: dict[str, int] = {
    name: number
    for number, name in enumerate(
        (
            "RLIMIT_CPU",
            "RLIMIT_FSIZE",
            "RLIMIT_DATA",
            "RLIMIT_STACK",
            "RLIMIT_CORE",
            "RLIMIT_RSS",
            "RLIMIT_NPROC",
            "RLIMIT_NOFILE",
            "RLIMIT_MEMLOCK",
            "RLIMIT_AS",
            "RLIMIT_LOCKS",
            "RLIMIT_SIGPENDING",
            "RLIMIT_MSGQUEUE",
            "RLIMIT_NICE",
            "RLIMIT_RTPRIO",
            "RLIMIT_RTTIME",
        )
    )
}
_UNLIMITED = 2**64 - 1


class Mount:
    __slots__ = ("data", "destination", "flags", "options", "propagation", "source", "type")

    def __init__(
        self,
        destination: str,
        type: str,
        source: str,
        flags: int,
        data: str,
        propagation: tuple[int, ...],
        options: tuple[str, ...],
    ) -> None:
        self.destination = destination
        self.type = type
        self.source = source
        self.flags = flags
        self.data = data
        self.propagation = propagation
        self.options = options

    @property
    def is_bind(self) -> bool:
        return bool(self.flags & sc.MS_BIND) or self.type == "bind"


class Device:
    __slots__ = ("gid", "major", "minor", "mode", "path", "type", "uid")

    def __init__(
        self, path: str, type: str, major: int, minor: int, mode: int, uid: int, gid: int
    ) -> None:
        self.path = path
        self.type = type
        self.major = major
        self.minor = minor
        self.mode = mode
        self.uid = uid
        self.gid = gid


class User:
    __slots__ = ("gid", "groups", "uid", "umask")

    def __init__(
        self, uid: int = 0, gid: int = 0, groups: tuple[int, ...] = (), umask: int | None = None
    ) -> None:
        self.uid = uid
        self.gid = gid
        self.groups = groups
        self.umask = umask


class Rlimit:
    __slots__ = ("hard", "name", "resource", "soft")

    def __init__(self, name: str, resource: int, soft: int, hard: int) -> None:
        self.name = name
        self.resource = resource
        self.soft = soft
        self.hard = hard


class Process:
    __slots__ = (
        "args",
        "capabilities",
        "console_size",
        "cwd",
        "env",
        "no_new_privileges",
        "oom_score_adj",
        "rlimits",
        "terminal",
        "user",
    )

    def __init__(
        self,
        args: tuple[str, ...],
        env: tuple[str, ...],
        cwd: str,
        user: User,
        capabilities: caps.CapabilitySets,
        rlimits: tuple[Rlimit, ...],
        no_new_privileges: bool,
        terminal: bool,
        console_size: tuple[int, int] | None,
        oom_score_adj: int | None,
    ) -> None:
        self.args = args
        self.env = env
        self.cwd = cwd
        self.user = user
        self.capabilities = capabilities
        self.rlimits = rlimits
        self.no_new_privileges = no_new_privileges
        self.terminal = terminal
        self.console_size = console_size
        self.oom_score_adj = oom_score_adj

    @property
    def env_map(self) -> dict[str, str]:
        """The environment as a mapping (the last of duplicate names wins, as for execve)."""
        out: dict[str, str] = {}
        for item in self.env:
            name, _, value = item.partition("=")
            out[name] = value
        return out


class Config:
    """The checked spec. ``namespaces`` maps each namespace type to its path, or to ``None``
    for a new one."""

    def __init__(
        self,
        *,
        bundle: str,
        root: str,
        readonly: bool,
        hostname: str | None,
        domainname: str | None,
        mounts: tuple[Mount, ...],
        process: Process,
        namespaces: dict[str, str | None],
        devices: tuple[Device, ...],
        cgroups_path: str | None,
        resources: dict[str, Any],
        root_propagation: int,
        masked_paths: tuple[str, ...],
        readonly_paths: tuple[str, ...],
        sysctl: dict[str, str],
        seccomp: dict[str, Any] | None,
        annotations: dict[str, str],
    ) -> None:
        self.bundle = bundle
        self.root = root
        self.readonly = readonly
        self.hostname = hostname
        self.domainname = domainname
        self.mounts = mounts
        self.process = process
        self.namespaces = namespaces
        self.devices = devices
        self.cgroups_path = cgroups_path
        self.resources = resources
        self.root_propagation = root_propagation
        self.masked_paths = masked_paths
        self.readonly_paths = readonly_paths
        self.sysctl = sysctl
        self.seccomp = seccomp
        self.annotations = annotations

    def new_namespace(self, kind: str) -> bool:
        return kind in self.namespaces and self.namespaces[kind] is None


# --- readers --------------------------------------------------------------------------------


def _obj(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"config.json: {where} must be an object")
    return value


def _list(value: Any, where: str) -> Sequence[Any]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise ValueError(f"config.json: {where} must be a list")
    return value


def _int(value: Any, where: str, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"config.json: {where} must be an integer, not {value!r}")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    items = _list(value, where)
    if not all(isinstance(item, str) for item in items):
        raise ValueError(f"config.json: {where} must be a list of strings")
    return tuple(items)


def parse_mount(entry: Mapping[str, Any], where: str) -> Mount:
    destination = entry.get("destination")
    if not isinstance(destination, str) or not destination.startswith("/"):
        raise ValueError(f"config.json: {where}.destination must be an absolute path")
    options = _strings(entry.get("options"), f"{where}.options")
    flags, data, propagation = 0, [], []
    for option in options:
        if option in MOUNT_FLAGS:
            set_flags, clear = MOUNT_FLAGS[option]
            flags = (flags | set_flags) & ~clear
        elif option in PROPAGATION:
            propagation.append(PROPAGATION[option])
        elif option in IGNORED_OPTIONS:
            continue
        elif option in ("rro", "rrw", "rnosuid", "rnodev", "rnoexec", "idmap", "ridmap"):
            raise ValueError(
                f"config.json: {where}: the mount option {option!r} is not supported by the "
                "linux isolation backend"
            )
        else:
            data.append(option)
    kind = str(entry.get("type") or ("bind" if flags & sc.MS_BIND else ""))
    if kind == "bind":
        flags |= sc.MS_BIND
    if not kind:
        raise ValueError(f"config.json: {where} has no type and is not a bind mount")
    source = str(entry.get("source") or kind)
    return Mount(destination, kind, source, flags, ",".join(data), tuple(propagation), options)


def parse_user(value: Any) -> User:
    user = _obj(value, "process.user")
    umask = user.get("umask")
    return User(
        uid=_int(user.get("uid"), "process.user.uid", 0),
        gid=_int(user.get("gid"), "process.user.gid", 0),
        groups=tuple(
            _int(g, "process.user.additionalGids") for g in _list(user.get("additionalGids"), "")
        ),
        umask=None if umask is None else _int(umask, "process.user.umask"),
    )


def parse_rlimit(entry: Mapping[str, Any]) -> Rlimit:
    name = entry.get("type")
    if name not in RLIMITS:
        raise ValueError(f"config.json: unknown rlimit type {name!r}")
    soft = _int(entry.get("soft"), f"{name} soft")
    hard = _int(entry.get("hard"), f"{name} hard")
    if soft > hard:
        raise ValueError(f"{name}: the soft limit {soft} is above the hard limit {hard}")

    def clamp(value: int) -> int:
        return resource.RLIM_INFINITY if value < 0 or value >= _UNLIMITED else value

    return Rlimit(str(name), RLIMITS[str(name)], clamp(soft), clamp(hard))


def parse_process(value: Any, where: str = "process") -> Process:
    process = _obj(value, where)
    args = _strings(process.get("args"), f"{where}.args")
    if not args or not args[0]:
        raise ValueError(f"config.json: {where}.args is empty: there is no command to run")
    cwd = process.get("cwd", "/")
    if not isinstance(cwd, str) or not cwd.startswith("/"):
        raise ValueError(f"the working directory must be an absolute path, not {cwd!r}")
    size = _obj(process.get("consoleSize"), f"{where}.consoleSize")
    console_size = None
    if size:
        console_size = (_int(size.get("height"), "height", 0), _int(size.get("width"), "width", 0))
    oom = process.get("oomScoreAdj")
    return Process(
        args=args,
        env=_strings(process.get("env"), f"{where}.env"),
        cwd=cwd,
        user=parse_user(process.get("user")),
        capabilities=caps.parse(_obj(process.get("capabilities"), f"{where}.capabilities")),
        rlimits=tuple(
            parse_rlimit(_obj(e, "rlimit")) for e in _list(process.get("rlimits"), "rlimits")
        ),
        no_new_privileges=bool(process.get("noNewPrivileges", False)),
        terminal=bool(process.get("terminal", False)),
        console_size=console_size,
        oom_score_adj=None if oom is None else _int(oom, f"{where}.oomScoreAdj"),
    )


def parse_device(entry: Mapping[str, Any]) -> Device:
    path = entry.get("path")
    if not isinstance(path, str) or not path.startswith("/dev/"):
        raise ValueError(f"config.json: a device path must be under /dev, not {path!r}")
    kind = entry.get("type")
    if kind not in ("c", "b", "u", "p"):
        raise ValueError(f"config.json: device {path}: unknown type {kind!r}")
    return Device(
        path=path,
        type=str(kind),
        major=_int(entry.get("major"), f"device {path} major", 0),
        minor=_int(entry.get("minor"), f"device {path} minor", 0),
        mode=_int(entry.get("fileMode"), f"device {path} fileMode", 0o666) & 0o7777,
        uid=_int(entry.get("uid"), f"device {path} uid", 0),
        gid=_int(entry.get("gid"), f"device {path} gid", 0),
    )


def parse(spec: Mapping[str, Any], bundle: str) -> Config:
    """Check an OCI runtime spec (already decoded) and turn it into a :class:`Config`."""
    if not isinstance(spec, dict):
        raise ValueError("config.json must hold a JSON object")
    root = _obj(spec.get("root"), "root")
    root_path = root.get("path")
    if not isinstance(root_path, str) or not root_path:
        raise ValueError("config.json: root.path is missing")
    root_path = os.path.normpath(os.path.join(bundle, root_path))
    if not os.path.isdir(root_path):
        raise ValueError(f"the root file system {root_path} is not a directory")
    linux = _obj(spec.get("linux"), "linux")
    if linux.get("uidMappings") or linux.get("gidMappings"):
        raise ValueError(
            "user namespaces (uidMappings/gidMappings) are not supported by the linux "
            "isolation backend yet; run without --userns or use the runc runtime"
        )
    namespaces: dict[str, str | None] = {}
    for entry in _list(linux.get("namespaces"), "linux.namespaces"):
        entry = _obj(entry, "linux.namespaces[]")
        kind = entry.get("type")
        if kind not in NAMESPACE_FLAGS:
            raise ValueError(f"config.json: unknown namespace type {kind!r}")
        if kind in ("user", "time"):
            raise ValueError(f"{kind} namespaces are not supported by the linux isolation backend")
        if kind in namespaces:
            raise ValueError(f"config.json: the {kind} namespace is listed twice")
        path = entry.get("path") or None
        if path is not None and not os.path.exists(path):
            raise ValueError(f"the {kind} namespace {path} does not exist")
        namespaces[str(kind)] = path
    if "mount" not in namespaces or namespaces["mount"] is not None:
        raise ValueError("config.json: the container needs a new mount namespace")
    hostname = spec.get("hostname")
    if hostname and not ("uts" in namespaces and namespaces["uts"] is None):
        raise ValueError("a hostname needs a new UTS namespace (the spec shares the host's)")
    propagation_name = linux.get("rootfsPropagation") or "rslave"
    if propagation_name not in PROPAGATION:
        raise ValueError(f"config.json: unknown rootfsPropagation {propagation_name!r}")
    mounts = tuple(
        parse_mount(_obj(m, "mounts[]"), f"mounts[{i}]")
        for i, m in enumerate(_list(spec.get("mounts"), "mounts"))
    )
    personality = _obj(linux.get("personality"), "linux.personality")
    if personality and personality.get("domain", "LINUX") != "LINUX":
        raise ValueError("linux.personality other than LINUX is not supported")
    sysctl = _obj(linux.get("sysctl"), "linux.sysctl")
    seccomp = linux.get("seccomp")
    return Config(
        bundle=bundle,
        root=root_path,
        readonly=bool(root.get("readonly", False)),
        hostname=str(hostname) if hostname else None,
        domainname=str(spec.get("domainname")) if spec.get("domainname") else None,
        mounts=mounts,
        process=parse_process(spec.get("process")),
        namespaces=namespaces,
        devices=tuple(
            parse_device(_obj(d, "device")) for d in _list(linux.get("devices"), "linux.devices")
        ),
        cgroups_path=linux.get("cgroupsPath") or None,
        resources=_obj(linux.get("resources"), "linux.resources"),
        root_propagation=PROPAGATION[propagation_name],
        masked_paths=_strings(linux.get("maskedPaths"), "linux.maskedPaths"),
        readonly_paths=_strings(linux.get("readonlyPaths"), "linux.readonlyPaths"),
        sysctl={str(k): str(v) for k, v in sysctl.items()},
        seccomp=_obj(seccomp, "linux.seccomp") if seccomp else None,
        annotations={str(k): str(v) for k, v in _obj(spec.get("annotations"), "").items()},
    )


def load(bundle: str) -> Config:
    """Read and check ``<bundle>/config.json``."""
    path = os.path.join(bundle, "config.json")
    try:
        with open(path, "rb") as handle:
            spec = jsonio.loads(handle.read())
    except FileNotFoundError:
        raise ValueError(f"the bundle {bundle} has no config.json") from None
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    return parse(spec, os.path.abspath(bundle))
