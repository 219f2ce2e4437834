"""The OCI runtime spec (``config.json``) of a container, built the way Docker builds it.

:func:`build_spec` turns a stored container (its merged ``Config`` and checked ``HostConfig``,
see :mod:`berth.engine.containers.hostconfig`) plus what the engine prepared for this start
(the mounted root file system, the resolved user, the hostname/hosts/resolv.conf files, the
network namespace) into an OCI runtime spec. It is a function of its arguments and of the
host's device nodes (``--device``, ``--privileged``), nothing else, and is called at every
start, as Docker does.

What it gives a container, by default (Docker's defaults):

- namespaces: mount, network (none: a new one with only loopback; ``host``: the host's; or
  the path given), uts, pid, ipc; cgroup where the HostConfig says ``private`` (cgroup v2);
- mounts: ``/proc``, ``/dev`` (tmpfs), ``/dev/pts``, ``/sys`` (read-only), ``/sys/fs/cgroup``
  (read-only), ``/dev/mqueue``, ``/dev/shm`` (``--shm-size``), and bind mounts of the
  container's ``/etc/hostname``, ``/etc/hosts``, ``/etc/resolv.conf``; ``--tmpfs``;
- masked paths (``/proc/kcore``, ``/sys/firmware``, …) and read-only paths (``/proc/sys``, …);
- the 14 default capabilities (bounding, effective, permitted; effective and permitted are
  empty for a non-root user, as execve would leave them); no inheritable or ambient ones;
- Docker's default seccomp profile; ``no_new_privs`` with ``--security-opt no-new-privileges``;
- the device cgroup: everything denied, then the standard devices (null, zero, full, random,
  urandom, tty, console, ptmx, pts, tun) and ``mknod`` of any node allowed — Docker's rules
  with the ones runc adds by itself written out, so every backend enforces the same set;
- ``PATH``, ``HOSTNAME``, ``TERM=xterm`` (with a TTY) and ``HOME`` (from passwd) in the
  environment unless the container sets them;
- the cgroup ``<parent>/<id>`` with ``--memory``, ``--memory-swap``, ``--memory-reservation``,
  ``--cpus``, ``--cpu-shares``, ``--cpu-period``/``--cpu-quota``, ``--cpuset-cpus``/``-mems``,
  ``--pids-limit``, ``--blkio-weight``; rlimits from ``--ulimit``;
- ``--privileged``: every capability berthd holds, every host device, ``/sys`` writable, no
  masked or read-only paths, no seccomp filter; ``--read-only``: the root and the default
  mounts but ``/proc``, ``/dev*`` read-only.

Bundles: :func:`write_bundle` writes ``config.json`` into the bundle directory,
``<exec-root>/containers/<id>/`` (the monitor's state directory too). ``root.path`` is the
absolute path of the storage driver's mount of the container's root file system; nothing is
mounted inside the bundle directory.
"""

from __future__ import annotations

import json
import os
import posixpath
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from berth.engine.containers import hostconfig, seccomp
from berth.engine.containers.hostconfig import HostFacts, Ulimit
from berth.engine.containers.model import Container, merge_env
from berth.engine.containers.resolv import EtcFiles
from berth.engine.containers.users import ResolvedUser
from berth.engine.errors import BadParameter
from berth.engine.statefile import write_atomic
from berth.plugins.layers.rootfs import make_dirs

OCI_VERSION = "1.0.2"
DEFAULT_PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: Where ``--init`` puts the init binary in the container (Docker's path).
INIT_IN_CONTAINER = "/sbin/docker-init"
#: ``netns`` value: join the host's network namespace (no network namespace of its own).
NETNS_HOST = "host"
CGROUP_PARENT = "/berth"
RLIM_INFINITY = 2**64 - 1

_NOSUID_NOEXEC_NODEV = ["nosuid", "noexec", "nodev"]

#: Device cgroup rules: deny everything, then allow what Docker allows and what runc adds.
DEFAULT_DEVICE_RULES: tuple[dict[str, Any], ...] = (
    {"allow": False, "type": "a", "access": "rwm"},
    {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},  # /dev/zero
    {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},  # /dev/null
    {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},  # /dev/urandom
    {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},  # /dev/random
    {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},  # /dev/tty
    {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"},  # /dev/console
    {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"},  # /dev/fuse
    # what runc allows on its own, written out
    {"allow": True, "type": "c", "major": -1, "minor": -1, "access": "m"},
    {"allow": True, "type": "b", "major": -1, "minor": -1, "access": "m"},
    {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "rwm"},  # /dev/full
    {"allow": True, "type": "c", "major": 136, "minor": -1, "access": "rwm"},  # /dev/pts/*
    {"allow": True, "type": "c", "major": 5, "minor": 2, "access": "rwm"},  # /dev/ptmx
    {"allow": True, "type": "c", "major": 10, "minor": 200, "access": "rwm"},  # /dev/net/tun
)

#: Directories of the host's /dev not walked for ``--privileged`` (runc's list).
_SKIPPED_DEV_DIRS = frozenset({"pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"})
#: Default mounts that stay writable with ``--read-only``.
_WRITABLE_WITH_READONLY_ROOT = frozenset({"/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev"})


# --- environment ---------------------------------------------------------------------------


def container_env(
    config: Mapping[str, Any], user: ResolvedUser, tty: bool, extra: Sequence[str] = ()
) -> list[str]:
    """Docker's process environment: ``PATH``, ``HOSTNAME``, ``TERM`` (TTY) then the container's
    ``Env`` (then ``extra``, for exec) replacing them; ``HOME`` from passwd when still unset."""
    base = [DEFAULT_PATH_ENV, f"HOSTNAME={config.get('Hostname') or ''}"]
    if tty:
        base.append("TERM=xterm")
    env = merge_env(base, [str(e) for e in config.get("Env") or ()])
    if extra:
        env = merge_env(env, list(extra))
    if not any(item.startswith("HOME=") for item in env):
        env.append(f"HOME={user.home or '/'}")
    return env


def _capabilities(caps: list[str], uid: int) -> dict[str, list[str]]:
    effective = list(caps) if uid == 0 else []
    return {"bounding": list(caps), "effective": effective, "permitted": list(effective)}


# --- devices ------------------------------------------------------------------------------


def _device_entry(path: str, node: tuple[str, int, int, int, int, int]) -> dict[str, Any]:
    kind, major, minor, mode, uid, gid = node
    return {
        "path": path,
        "type": kind,
        "major": major,
        "minor": minor,
        "fileMode": mode,
        "uid": uid,
        "gid": gid,
    }


def _rule_of(entry: Mapping[str, Any], access: str) -> dict[str, Any]:
    return {
        "allow": True,
        "type": entry["type"],
        "major": entry["major"],
        "minor": entry["minor"],
        "access": access,
    }


def host_devices(root: str = "/dev") -> list[dict[str, Any]]:
    """Every device node under ``root`` (what ``--privileged`` containers get)."""
    found: list[dict[str, Any]] = []

    def walk(directory: str) -> None:
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            path = entry.path
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                if entry.name not in _SKIPPED_DEV_DIRS:
                    walk(path)
                continue
            if entry.name == "console" or not (
                stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
            ):
                continue
            kind = "c" if stat.S_ISCHR(info.st_mode) else "b"
            node = (kind, os.major(info.st_rdev), os.minor(info.st_rdev),
                    stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)  # fmt: skip
            found.append(_device_entry(path, node))

    walk(root)
    return found


def devices_from_path(
    on_host: str, in_container: str, access: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The devices (and their cgroup rules) of ``--device on_host:in_container:access``: one
    node, or every node below a directory. Raises BadParameter with Docker's text."""
    resolved = os.path.realpath(on_host) if os.path.islink(on_host) else on_host
    try:
        node = hostconfig.device_of(resolved)
    except OSError as exc:
        raise BadParameter(
            f'error gathering device information while adding custom device "{on_host}": '
            f"{(exc.strerror or str(exc)).lower()}"
        ) from None
    if node is not None:
        entry = _device_entry(in_container, node)
        return [entry], [_rule_of(entry, access)]
    devices: list[dict[str, Any]] = []
    if os.path.isdir(resolved):
        for top, dirs, files in os.walk(resolved):
            dirs.sort()
            for name in sorted(files):
                path = os.path.join(top, name)
                try:
                    if os.path.islink(path):
                        continue
                    child = hostconfig.device_of(path)
                except OSError:
                    continue
                if child is not None:
                    inside = in_container + path[len(resolved) :]
                    devices.append(_device_entry(inside, child))
    if not devices:
        raise BadParameter(
            f'error gathering device information while adding custom device "{on_host}": '
            "not a device node"
        )
    return devices, [_rule_of(d, access) for d in devices]


def _devices(hc: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    mappings = [m for m in hc.get("Devices") or () if isinstance(m, Mapping)]
    devices: list[dict[str, Any]] = []
    if hc.get("Privileged"):
        devices = host_devices()
        for mapping in mappings:
            source = str(mapping.get("PathOnHost") or "")
            target = str(mapping.get("PathInContainer") or source)
            if source != target:
                devices += devices_from_path(source, target, "rwm")[0]
        return devices, [{"allow": True, "type": "a", "access": "rwm"}]
    rules = [dict(rule) for rule in DEFAULT_DEVICE_RULES]
    for mapping in mappings:
        source = str(mapping.get("PathOnHost") or "")
        target = str(mapping.get("PathInContainer") or source)
        access = str(mapping.get("CgroupPermissions") or "rwm")
        found, allowed = devices_from_path(source, target, access)
        devices += found
        rules += allowed
    for text in hc.get("DeviceCgroupRules") or ():
        rules.append(hostconfig.parse_device_cgroup_rule(str(text)))
    return devices, rules


# --- mounts -------------------------------------------------------------------------------


def _default_mounts(hc: Mapping[str, Any]) -> list[dict[str, Any]]:
    mounts: list[dict[str, Any]] = [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
    ]  # fmt: skip
    ipc = hc.get("IpcMode") or "private"
    if ipc not in ("none", "host") and not str(ipc).startswith("container:"):
        size = int(hc.get("ShmSize") or 0) or 64 * 1024 * 1024
        mounts.append(
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={size}"]}
        )  # fmt: skip
    return mounts


_FLAG_PAIRS = {
    "exec": "exec", "noexec": "exec", "suid": "suid", "nosuid": "suid", "dev": "dev",
    "nodev": "dev", "rw": "rw", "ro": "rw", "atime": "atime", "noatime": "atime",
    "diratime": "diratime", "nodiratime": "diratime", "relatime": "relatime",
    "norelatime": "relatime", "strictatime": "strictatime", "nostrictatime": "strictatime",
}  # fmt: skip


def merge_tmpfs_options(options: Sequence[str]) -> list[str]:
    """Later options win over earlier ones of the same kind (``exec`` over ``noexec``,
    ``size=1g`` over ``size=64m``), order otherwise kept."""
    kinds: dict[str, int] = {}
    result: list[str] = []
    for option in options:
        if not option:
            continue
        kind = _FLAG_PAIRS.get(option) or option.split("=", 1)[0]
        if kind in kinds:
            result[kinds[kind]] = option
        else:
            kinds[kind] = len(result)
            result.append(option)
    return result


def _tmpfs_mounts(hc: Mapping[str, Any]) -> list[dict[str, Any]]:
    mounts = []
    for destination, data in sorted((hc.get("Tmpfs") or {}).items()):
        options = ["noexec", "nosuid", "nodev", "rprivate"]
        options += [o for o in str(data or "").split(",") if o]
        mounts.append(
            {
                "destination": posixpath.normpath(str(destination)),
                "type": "tmpfs",
                "source": "tmpfs",
                "options": merge_tmpfs_options(options),
            }
        )
    return mounts


def _depth(mount: Mapping[str, Any]) -> int:
    return len(posixpath.normpath(str(mount["destination"])).split("/"))


def _mounts(
    hc: Mapping[str, Any],
    files: EtcFiles | None,
    extra: Sequence[Mapping[str, Any]],
    init_path: str,
) -> list[dict[str, Any]]:
    readonly = bool(hc.get("ReadonlyRootfs"))
    user: list[dict[str, Any]] = [dict(m) for m in extra]
    user += _tmpfs_mounts(hc)
    if hc.get("IpcMode") == "host":
        user.append(
            {"destination": "/dev/shm", "type": "bind", "source": "/dev/shm",
             "options": ["rbind", "rprivate"]}
        )  # fmt: skip
    taken = {posixpath.normpath(str(m["destination"])) for m in user}
    if files is not None:
        for destination, source in (
            ("/etc/resolv.conf", files.resolv_conf),
            ("/etc/hostname", files.hostname),
            ("/etc/hosts", files.hosts),
        ):
            if destination in taken:
                continue
            options = ["rbind", "rprivate"] + (["ro"] if readonly else [])
            user.append(
                {"destination": destination, "type": "bind", "source": source, "options": options}
            )
            taken.add(destination)
    user.sort(key=_depth)

    mounts = []
    dev_mounted = "/dev" in taken
    for mount in _default_mounts(hc):
        destination = mount["destination"]
        if destination in taken or (dev_mounted and destination.startswith("/dev/")):
            continue
        writable = destination in _WRITABLE_WITH_READONLY_ROOT
        if readonly and not writable and "ro" not in mount["options"]:
            mount["options"].append("ro")
        if hc.get("Privileged") and destination in ("/sys", "/sys/fs/cgroup"):
            mount["options"] = [o for o in mount["options"] if o != "ro"]
        mounts.append(mount)
    mounts += user
    if init_path:
        mounts.append(
            {"destination": INIT_IN_CONTAINER, "type": "bind", "source": init_path,
             "options": ["bind", "ro"]}
        )  # fmt: skip
    return mounts


# --- resources ----------------------------------------------------------------------------


def _resources(hc: Mapping[str, Any], device_rules: list[dict[str, Any]]) -> dict[str, Any]:
    resources: dict[str, Any] = {"devices": device_rules}
    memory: dict[str, Any] = {}
    limit = int(hc.get("Memory") or 0)
    swap = int(hc.get("MemorySwap") or 0)
    if limit > 0:
        memory["limit"] = limit
    if int(hc.get("MemoryReservation") or 0) > 0:
        memory["reservation"] = int(hc["MemoryReservation"])
    if swap > 0:
        memory["swap"] = swap
    elif swap == -1 and limit > 0:
        memory["swap"] = -1
    if hc.get("MemorySwappiness") is not None:
        memory["swappiness"] = int(hc["MemorySwappiness"])
    if hc.get("OomKillDisable"):
        memory["disableOOMKiller"] = True
    if memory:
        resources["memory"] = memory
    cpu: dict[str, Any] = {}
    if int(hc.get("CpuShares") or 0) > 0:
        cpu["shares"] = int(hc["CpuShares"])
    nano = int(hc.get("NanoCpus") or 0)
    if nano > 0:
        cpu["period"] = 100_000
        cpu["quota"] = nano * 100_000 // 1_000_000_000
    if int(hc.get("CpuPeriod") or 0):
        cpu["period"] = int(hc["CpuPeriod"])
    if int(hc.get("CpuQuota") or 0):
        cpu["quota"] = int(hc["CpuQuota"])
    if hc.get("CpusetCpus"):
        cpu["cpus"] = str(hc["CpusetCpus"])
    if hc.get("CpusetMems"):
        cpu["mems"] = str(hc["CpusetMems"])
    if cpu:
        resources["cpu"] = cpu
    pids = hc.get("PidsLimit")
    if pids is not None:
        resources["pids"] = {"limit": int(pids) if int(pids) > 0 else -1}
    if int(hc.get("BlkioWeight") or 0) > 0:
        resources["blockIO"] = {"weight": int(hc["BlkioWeight"])}
    return resources


def _rlimits(hc: Mapping[str, Any], defaults: Sequence[Ulimit]) -> list[dict[str, Any]]:
    merged = {limit.name: limit for limit in defaults}
    for limit in hostconfig.ulimits_of(hc.get("Ulimits")):
        merged[limit.name] = limit
    return [
        {
            "type": hostconfig.ULIMITS[limit.name],
            "hard": RLIM_INFINITY if limit.hard == -1 else limit.hard,
            "soft": RLIM_INFINITY if limit.soft == -1 else limit.soft,
        }
        for limit in merged.values()
    ]


def cgroups_path(container_id: str, hc: Mapping[str, Any], parent: str = CGROUP_PARENT) -> str:
    """``<parent>/<id>``: the HostConfig's ``CgroupParent`` or the daemon's parent."""
    chosen = str(hc.get("CgroupParent") or parent or CGROUP_PARENT)
    if ".." in chosen.split("/"):
        raise BadParameter(f"invalid cgroup parent {chosen!r}: '..' is not allowed")
    return posixpath.join("/" + chosen.strip("/"), container_id)


# --- namespaces ---------------------------------------------------------------------------


def _namespaces(
    hc: Mapping[str, Any], netns: str | None, paths: Mapping[str, str]
) -> list[dict[str, str]]:
    namespaces: list[dict[str, str]] = [{"type": "mount"}]
    if netns is None and hostconfig.is_host_network(hc):
        netns = NETNS_HOST
    if netns is None and hostconfig.is_container_network(hc):
        netns = paths.get("network")
        if not netns:
            raise BadParameter(
                f"cannot join the network of {hc.get('NetworkMode')}: it is not running"
            )
    if netns != NETNS_HOST:
        namespaces.append({"type": "network", "path": netns} if netns else {"type": "network"})
    if hc.get("UTSMode") != "host":
        namespaces.append({"type": "uts"})
    for kind, key in (("pid", "PidMode"), ("ipc", "IpcMode")):
        mode = str(hc.get(key) or "")
        if mode == "host":
            continue
        if mode.startswith("container:"):
            path = paths.get(kind)
            if not path:
                raise BadParameter(f"cannot join the {kind} namespace of {mode}: it is not running")
            namespaces.append({"type": kind, "path": path})
        else:
            namespaces.append({"type": kind})
    if hc.get("CgroupnsMode") == "private":
        namespaces.append({"type": "cgroup"})
    return namespaces


def _sysctls(hc: Mapping[str, Any], host: HostFacts, private_network: bool) -> dict[str, str]:
    sysctls: dict[str, str] = {}
    if private_network:
        defaults = hostconfig.DEFAULT_NET_SYSCTLS
        sysctls.update({k: v for k, v in defaults.items() if k in host.sysctls})
    sysctls.update({str(k): str(v) for k, v in (hc.get("Sysctls") or {}).items()})
    return sysctls


# --- the spec -----------------------------------------------------------------------------


def build_spec(
    container: Container,
    *,
    rootfs: str,
    user: ResolvedUser,
    files: EtcFiles | None,
    host: HostFacts,
    cgroup_parent: str = CGROUP_PARENT,
    netns: str | None = None,
    namespace_paths: Mapping[str, str] | None = None,
    init_path: str = "",
    mounts: Sequence[Mapping[str, Any]] = (),
    default_ulimits: Sequence[Ulimit] = (),
) -> dict[str, Any]:
    """The OCI runtime spec of ``container`` for one start.

    - ``rootfs``: absolute path of the mounted root file system;
    - ``user``: from :func:`users.resolve_user` on that rootfs with ``Config.User`` and
      ``HostConfig.GroupAdd``;
    - ``files``: the container's hostname/hosts/resolv.conf (None: the image's are kept);
    - ``netns``: None → from ``NetworkMode`` (``host``: the host's, else a new namespace with
      only loopback); :data:`NETNS_HOST`; or the path of a namespace to join (bridge);
    - ``namespace_paths``: ``{"ipc"|"pid"|"network": "/proc/N/ns/…"}`` for ``container:X`` modes;
    - ``init_path``: the host's init binary, bind-mounted at ``/sbin/docker-init`` and put in
      front of the command when ``HostConfig.Init`` is true (and the pid namespace is ours);
    - ``mounts``: more OCI mounts (volumes, binds), placed like Docker's user mounts;
    - ``default_ulimits``: the daemon's ``default-ulimits``, overridden by the container's.

    Raises BadParameter for what only shows at start (a missing ``--device``, a profile that
    does not parse).
    """
    hc = container.host_config
    config = container.config
    paths = dict(namespace_paths or {})
    security = hostconfig.parse_security_opts(hc.get("SecurityOpt"))
    privileged = bool(hc.get("Privileged"))
    caps = hostconfig.container_capabilities(hc, host)
    tty = bool(config.get("Tty"))

    args = [container.path, *container.args]
    if not container.path:
        raise BadParameter("No command specified")
    init_mount = ""
    if hc.get("Init") and not hc.get("PidMode"):
        if not init_path:
            raise BadParameter(
                "--init needs an init binary (docker-init or tini) on the host; none was found"
            )
        args = [INIT_IN_CONTAINER, "--", *args]
        init_mount = init_path

    process: dict[str, Any] = {
        "terminal": tty,
        "user": {
            "uid": user.uid,
            "gid": user.gid,
            "additionalGids": list(user.additional_gids),
        },
        "args": args,
        "env": container_env(config, user, tty),
        "cwd": str(config.get("WorkingDir") or "/"),
        "capabilities": _capabilities(caps, user.uid),
        "noNewPrivileges": security.no_new_privileges,
        "oomScoreAdj": int(hc.get("OomScoreAdj") or 0),
    }
    height, width = [*(hc.get("ConsoleSize") or []), 0, 0][:2]
    if tty and height and width:
        process["consoleSize"] = {"height": int(height), "width": int(width)}
    rlimits = _rlimits(hc, default_ulimits)
    if rlimits:
        process["rlimits"] = rlimits

    devices, device_rules = _devices(hc)
    namespaces = _namespaces(hc, netns, paths)
    private_network = not hostconfig.is_container_network(hc) and any(
        ns["type"] == "network" for ns in namespaces
    )
    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "devices": devices,
        "cgroupsPath": cgroups_path(container.id, hc, cgroup_parent),
        "resources": _resources(hc, device_rules),
        "sysctl": _sysctls(hc, host, private_network),
    }
    if not privileged:
        masked = hc.get("MaskedPaths")
        readonly = hc.get("ReadonlyPaths")
        linux["maskedPaths"] = list(hostconfig.DEFAULT_MASKED_PATHS if masked is None else masked)
        linux["readonlyPaths"] = list(
            hostconfig.DEFAULT_READONLY_PATHS if readonly is None else readonly
        )
    profile = seccomp.for_container(
        [str(opt) for opt in hc.get("SecurityOpt") or ()], privileged, caps, host.arch, host.kernel
    )
    if profile is not None:
        linux["seccomp"] = profile

    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": rootfs, "readonly": bool(hc.get("ReadonlyRootfs"))},
        "mounts": _mounts(hc, files, mounts, init_mount),
        "linux": linux,
    }
    if hc.get("UTSMode") != "host":
        spec["hostname"] = str(config.get("Hostname") or "")
        if config.get("Domainname"):
            spec["domainname"] = str(config["Domainname"])
    annotations = {str(k): str(v) for k, v in (hc.get("Annotations") or {}).items()}
    if annotations:
        spec["annotations"] = annotations
    return spec


def exec_process(
    container: Container,
    cmd: Sequence[str],
    user: ResolvedUser,
    host: HostFacts,
    *,
    env: Sequence[str] = (),
    working_dir: str = "",
    tty: bool = False,
    privileged: bool = False,
    console_size: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The OCI ``process`` of ``docker exec``: the container's environment with the exec's
    ``Env`` on top, its capabilities (all berthd holds with ``--privileged``), its
    no-new-privileges, the exec's user and working directory (default: the container's)."""
    if not cmd:
        raise BadParameter("No exec command specified")
    hc = container.host_config
    if privileged:
        caps = [c for c in host.known_capabilities if c in host.bounding]
    else:
        caps = hostconfig.container_capabilities(hc, host)
    security = hostconfig.parse_security_opts(hc.get("SecurityOpt"))
    cwd = working_dir or str(container.config.get("WorkingDir") or "/")
    if not cwd.startswith("/"):
        raise BadParameter(
            f"the working directory '{cwd}' is invalid, it needs to be an absolute path"
        )
    process: dict[str, Any] = {
        "terminal": tty,
        "user": {
            "uid": user.uid,
            "gid": user.gid,
            "additionalGids": list(user.additional_gids),
        },
        "args": [str(a) for a in cmd],
        "env": container_env(container.config, user, tty, env),
        "cwd": cwd,
        "capabilities": _capabilities(caps, user.uid),
        "noNewPrivileges": security.no_new_privileges,
    }
    if tty and console_size and console_size[0] and console_size[1]:
        process["consoleSize"] = {"height": console_size[0], "width": console_size[1]}
    return process


def write_bundle(directory: str | Path, spec: Mapping[str, Any]) -> Path:
    """Write ``config.json`` of ``spec`` into the bundle ``directory`` (created, mode 0711;
    the file 0600 as it holds the environment); returns the file's path."""
    bundle = Path(directory)
    bundle.mkdir(mode=0o711, parents=True, exist_ok=True)
    path = bundle / "config.json"
    write_atomic(path, json.dumps(spec, indent=None, separators=(",", ":")).encode(), mode=0o600)
    return path


def ensure_working_dir(rootfs: str | Path, working_dir: str) -> None:
    """Create the container's working directory inside ``rootfs`` if missing (0755, root's), as
    Docker does before a start; symlinks on the way resolve inside the rootfs. Raises
    BadParameter when something that is not a directory is in the way."""
    relative = posixpath.normpath("/" + (working_dir or "/")).lstrip("/")
    if not relative:
        return
    root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = make_dirs(root_fd, os.fsencode(relative), 0o755)
        os.close(fd)
    except (NotADirectoryError, FileExistsError):
        raise BadParameter(f"Cannot mkdir: {working_dir} is not a directory") from None
    except FileNotFoundError:
        raise BadParameter(
            f"Cannot mkdir: {working_dir}: a symlink on the way points to a directory that "
            "does not exist in the container"
        ) from None
    finally:
        os.close(root_fd)
