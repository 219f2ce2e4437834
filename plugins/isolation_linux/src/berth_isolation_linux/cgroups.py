"""A container's control groups, v1 or v2 (found at run time): create, limit, join, freeze,
read, kill and remove.

- **v1** (also the "hybrid" layout, whose unified hierarchy carries no controller): every
  mounted hierarchy that has a controller (memory, cpu, cpuacct, cpuset, pids, freezer,
  devices, blkio, ...) gets a directory at ``<mount point><cgroupsPath>``.
- **v2** (``/sys/fs/cgroup`` is ``cgroup2``): one directory; the controllers berth needs are
  enabled in its ancestors' ``cgroup.subtree_control``.

``cgroupsPath`` is OCI's: absolute paths are relative to each hierarchy's root, relative ones
to the caller's own cgroup. Parent directories left empty by :meth:`Cgroup.destroy` are removed
too, so a test run leaves no ``berth`` directory behind.
"""

from __future__ import annotations

import errno
import os
import time

from berth_isolation_linux.errors import suppress

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

SIGKILL = 9

CGROUP_ROOT = "/sys/fs/cgroup"
#: Controllers a v2 container cgroup gets enabled, when the host has them.
V2_CONTROLLERS = ("cpu", "cpuset", "io", "memory", "pids", "hugetlb")


class CgroupError(OSError):
    """A cgroup operation failed; the message names the file and what to do."""


class Hierarchy:
    __slots__ = ("controllers", "mount_point")

    def __init__(self, mount_point: str, controllers: frozenset[str]) -> None:
        self.mount_point = mount_point
        self.controllers = controllers


class Layout:
    """Where the host's cgroup file systems are: v1 ``hierarchies``, or the v2 ``unified``
    mount point."""

    __slots__ = ("hierarchies", "unified", "version")

    def __init__(
        self, version: int, hierarchies: tuple[Hierarchy, ...] = (), unified: str = ""
    ) -> None:
        self.version = version
        self.hierarchies = hierarchies
        self.unified = unified

    def describe(self) -> str:
        if self.version == 2:
            return f"cgroup v2 at {self.unified}"
        names = ", ".join(sorted(c for h in self.hierarchies for c in h.controllers))
        return f"cgroup v1 ({names})"


def _unescape(field_: str) -> str:
    return field_.encode().decode("unicode_escape") if "\\" in field_ else field_


def detect(mountinfo: str = "/proc/self/mountinfo", root: str = CGROUP_ROOT) -> Layout:
    """The cgroup layout of this host, from the mount table."""
    hierarchies: list[Hierarchy] = []
    unified = ""
    with open(mountinfo) as handle:
        lines = handle.read().splitlines()
    for line in lines:
        fields = line.split(" ")
        try:
            dash = fields.index("-", 6)
        except ValueError:
            continue
        fs_type, options = fields[dash + 1], fields[dash + 3] if len(fields) > dash + 3 else ""
        point, fs_root = _unescape(fields[4]), fields[3]
        if fs_root != "/":
            continue
        if fs_type == "cgroup2":
            if point == root or not unified:
                unified = point
        elif fs_type == "cgroup":
            controllers = frozenset(
                o for o in options.split(",") if o not in ("rw", "ro") and "=" not in o
            )
            controllers -= {"clone_children", "noprefix", "xattr", "cpuset_v2_mode"}
            if controllers:
                hierarchies.append(Hierarchy(point, controllers))
    if unified == root:
        return Layout(2, unified=unified)
    if hierarchies:
        return Layout(1, hierarchies=tuple(hierarchies))
    if unified:
        return Layout(2, unified=unified)
    raise CgroupError(errno.ENOENT, "no cgroup file system is mounted under /sys/fs/cgroup")


def _own_cgroup(controller: str | None) -> str:
    """The caller's cgroup in the hierarchy of ``controller`` (v2 when ``None``)."""
    with open("/proc/self/cgroup") as handle:
        for line in handle:
            _, names, path = line.rstrip("\n").split(":", 2)
            if (controller is None and names == "") or (
                controller is not None and controller in names.split(",")
            ):
                return path
    return "/"


def _read(path: str) -> str:
    with open(path) as handle:
        return handle.read()


def _write(path: str, value: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise CgroupError(exc.errno, f"cannot open {path}: {exc.strerror}") from None
    try:
        os.write(fd, value.encode())
    except OSError as exc:
        raise CgroupError(exc.errno, f"cannot write {value!r} to {path}: {exc.strerror}") from None
    finally:
        os.close(fd)


def _inherit_cpuset(path: str, name: str) -> str:
    """A v1 cpuset cgroup's ``name`` (``cpuset.cpus``, ``cpuset.mems``), copied from the nearest
    ancestor that has one when empty, and written on the way down: a parent that another
    container's start made an instant ago may not have its own yet (then joining fails with
    ENOSPC, "No space left on device")."""
    value = _read(os.path.join(path, name)).strip()
    if value:
        return value
    parent = os.path.dirname(path)
    if parent == path or not os.path.exists(os.path.join(parent, name)):
        return value  # the hierarchy's root
    value = _inherit_cpuset(parent, name)
    if value:
        _write(os.path.join(path, name), value)
    return value


def _keyed(text: str) -> dict[str, int]:
    """``key value`` lines → a mapping (values that are not integers are left out)."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        with suppress(ValueError):
            out[key] = int(value)
    return out


class Cgroup:
    """One container's cgroup: ``paths`` maps each v1 hierarchy's mount point (or the v2 mount
    point) to the container's directory in it; ``controllers`` each v1 controller to its
    directory."""

    __slots__ = ("controllers", "paths", "version")

    def __init__(
        self, version: int, paths: dict[str, str], controllers: dict[str, str] | None = None
    ) -> None:
        self.version = version
        self.paths = paths
        self.controllers = controllers or {}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cgroup) and self.to_json() == other.to_json()

    __hash__ = None  # type: ignore[assignment]

    # --- construction --------------------------------------------------------------------

    @classmethod
    def plan(cls, layout: Layout, cgroups_path: str) -> Cgroup:
        """Where the container's directories go (nothing is created)."""
        if ":" in cgroups_path:
            raise ValueError(
                f"cgroupsPath {cgroups_path!r} is in systemd's slice:prefix:name form; the "
                "linux isolation backend uses the cgroupfs form (/parent/name)"
            )
        parts = [p for p in cgroups_path.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            raise ValueError(f"cgroupsPath {cgroups_path!r} must name a cgroup below the root")
        relative = "/".join(parts)
        if layout.version == 2:
            base = layout.unified
            if not cgroups_path.startswith("/"):
                base = os.path.join(base, _own_cgroup(None).lstrip("/"))
            path = os.path.join(base, relative)
            return cls(2, {layout.unified: path})
        paths: dict[str, str] = {}
        controllers: dict[str, str] = {}
        for hierarchy in layout.hierarchies:
            base = hierarchy.mount_point
            if not cgroups_path.startswith("/"):
                own = _own_cgroup(sorted(hierarchy.controllers)[0])
                base = os.path.join(base, own.lstrip("/"))
            path = os.path.join(base, relative)
            paths[hierarchy.mount_point] = path
            for controller in hierarchy.controllers:
                controllers[controller] = path
        return cls(1, paths, controllers)

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "paths": self.paths, "controllers": self.controllers}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Cgroup:
        return cls(int(data["version"]), dict(data["paths"]), dict(data.get("controllers", {})))

    def dir(self, controller: str) -> str | None:
        """The directory that holds ``controller``'s files, if the host has it."""
        if self.version == 2:
            return next(iter(self.paths.values()))
        return self.controllers.get(controller)

    def create(self, resources: Mapping[str, Any]) -> None:
        """Make the directories and write the limits; on failure, remove what was made."""
        self.make_dirs()
        self.limit(resources)

    def make_dirs(self) -> None:
        """Make the directories (and initialise new parents); on failure, remove them."""
        try:
            for mount_point, path in self.paths.items():
                self._makedirs(mount_point, path)
        except BaseException:
            with suppress(OSError):
                self.destroy()
            raise

    def limit(self, resources: Mapping[str, Any], devices: bool = True) -> None:
        """Write the limits of OCI ``linux.resources`` (the device rules too, unless
        ``devices`` is false: see :meth:`limit_devices`); on failure, remove the directories."""
        try:
            if self.version == 1:
                _apply_v1(self, resources, devices)
            else:
                _apply_v2(self, resources)
        except BaseException:
            with suppress(OSError):
                self.destroy()
            raise

    def limit_devices(self, resources: Mapping[str, Any]) -> None:
        """Write the device rules (v1): after the container made its device nodes, as runc
        does, since the rules also govern ``mknod``."""
        if self.version == 1:
            _apply_v1_devices(self, resources)

    def _makedirs(self, mount_point: str, path: str) -> None:
        relative = os.path.relpath(path, mount_point).split("/")
        for attempt in range(5):
            current = mount_point
            try:
                for part in relative:
                    parent, current = current, os.path.join(current, part)
                    try:
                        os.mkdir(current)
                    except FileExistsError:
                        continue
                    self._init_new(parent, current)
                return
            except FileNotFoundError:
                if attempt == 4:
                    raise
                continue  # a parent was removed at the same time by another container's delete

    def _init_new(self, parent: str, path: str) -> None:
        if self.version == 1:
            # cpuset: a new cgroup starts with no CPUs and no memory nodes
            if os.path.exists(os.path.join(path, "cpuset.cpus")):
                for name in ("cpuset.cpus", "cpuset.mems"):
                    _inherit_cpuset(path, name)
        else:
            self._enable_controllers(parent)

    @staticmethod
    def _enable_controllers(parent: str) -> None:
        try:
            available = _read(os.path.join(parent, "cgroup.controllers")).split()
        except OSError:
            return
        wanted = [f"+{c}" for c in V2_CONTROLLERS if c in available]
        if wanted:
            with suppress(OSError):
                _write(os.path.join(parent, "cgroup.subtree_control"), " ".join(wanted))

    # --- membership ----------------------------------------------------------------------

    def join(self, pid: int) -> None:
        """Move process ``pid`` into the container's cgroup (every hierarchy).

        This waits for an RCU grace period (6-14 ms, or more on a busy host) unless another
        move happened in the last few milliseconds; on v1 a single-threaded process avoids it
        with :func:`join_self`."""
        for path in self.paths.values():
            _write(os.path.join(path, "cgroup.procs"), str(pid))

    def open_tasks(self) -> list[int]:
        """Descriptors open for writing on each v1 hierarchy's ``tasks`` file (see
        :func:`join_self`); empty on v2, where the caller uses :meth:`join`."""
        if self.version == 2:
            return []
        fds: list[int] = []
        try:
            for path in self.paths.values():
                fds.append(os.open(os.path.join(path, "tasks"), os.O_WRONLY | os.O_CLOEXEC))
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            raise CgroupError(
                exc.errno, f"cannot open the cgroup's tasks: {exc.strerror}"
            ) from None
        return fds

    def pids(self) -> list[int]:
        """The processes in the cgroup (empty when it does not exist)."""
        path = self.dir("pids") or self.dir("freezer") or next(iter(self.paths.values()), None)
        if path is None:
            return []
        try:
            return [int(p) for p in _read(os.path.join(path, "cgroup.procs")).split()]
        except OSError:
            return []

    def exists(self) -> bool:
        return any(os.path.isdir(p) for p in self.paths.values())

    # --- freezer -------------------------------------------------------------------------

    def freeze(self, timeout: float = 10.0) -> None:
        self._set_frozen(True, timeout)

    def thaw(self, timeout: float = 10.0) -> None:
        self._set_frozen(False, timeout)

    def frozen(self) -> bool:
        try:
            if self.version == 2:
                events = _keyed(
                    _read(os.path.join(self.paths[next(iter(self.paths))], "cgroup.events"))
                )
                return events.get("frozen") == 1
            path = self.dir("freezer")
            return path is not None and _read(os.path.join(path, "freezer.state")).strip() in (
                "FROZEN",
                "FREEZING",
            )
        except OSError:
            return False

    def _set_frozen(self, frozen: bool, timeout: float) -> None:
        if self.version == 2:
            path = next(iter(self.paths.values()))
            _write(os.path.join(path, "cgroup.freeze"), "1" if frozen else "0")
            state_file, want = os.path.join(path, "cgroup.events"), int(frozen)

            def done() -> bool:
                return _keyed(_read(state_file)).get("frozen") == want

        else:
            freezer = self.dir("freezer")
            if freezer is None:
                raise CgroupError(errno.ENOTSUP, "the freezer cgroup controller is not mounted")
            state_file = os.path.join(freezer, "freezer.state")
            target = "FROZEN" if frozen else "THAWED"
            _write(state_file, target)

            def done() -> bool:
                return _read(state_file).strip() == target

        deadline = time.monotonic() + timeout
        delay = 0.0005
        while not done():
            if time.monotonic() > deadline:
                raise CgroupError(errno.ETIMEDOUT, f"the cgroup did not freeze in {timeout} s")
            if self.version == 1 and frozen:
                _write(state_file, "FROZEN")  # v1 retries a freeze that met a busy task
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    # --- signals and removal -------------------------------------------------------------

    def kill_all(self, sig: int = SIGKILL, timeout: float = 10.0) -> None:
        """Send ``sig`` to every process in the cgroup; with SIGKILL, wait until it is empty."""
        if self.version == 2 and sig == SIGKILL:
            path = next(iter(self.paths.values()))
            kill_file = os.path.join(path, "cgroup.kill")
            if os.path.exists(kill_file):
                _write(kill_file, "1")
                self._wait_empty(timeout)
                return
        freeze = sig == SIGKILL and self.dir("freezer") is not None and self.exists()
        if freeze:
            with suppress(OSError):
                self.freeze(timeout=1.0)  # no forks between listing and killing
        try:
            for pid in self.pids():
                with suppress(ProcessLookupError):
                    os.kill(pid, sig)
        finally:
            if freeze:
                with suppress(OSError):
                    self.thaw(timeout=1.0)
        if sig == SIGKILL:
            self._wait_empty(timeout)

    def _wait_empty(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.pids():
            if time.monotonic() > deadline:
                raise CgroupError(errno.EBUSY, "processes of the container did not die")
            time.sleep(0.002)

    def destroy(self) -> None:
        """Remove the directories (killing what is left inside), then empty ancestors."""
        if not self.exists():
            return
        if self.pids():
            self.kill_all(SIGKILL)
        for mount_point, path in self.paths.items():
            for attempt in range(50):
                try:
                    os.rmdir(path)
                    break
                except FileNotFoundError:
                    break
                except OSError as exc:
                    if exc.errno != errno.EBUSY or attempt == 49:
                        raise CgroupError(
                            exc.errno, f"cannot remove {path}: {exc.strerror}"
                        ) from None
                    time.sleep(0.002)  # exiting tasks leave the cgroup a moment after they die
            _remove_empty_ancestors(mount_point, path)

    # --- accounting ----------------------------------------------------------------------

    def oom_kills(self) -> int:
        """How many processes the OOM killer killed in this cgroup."""
        path = self.dir("memory")
        if path is None:
            return 0
        name = "memory.events" if self.version == 2 else "memory.oom_control"
        try:
            return _keyed(_read(os.path.join(path, name))).get("oom_kill", 0)
        except OSError:
            return 0

    def stats(self) -> dict[str, Any]:
        from berth_isolation_linux.cgstats import read_stats

        return read_stats(self)


def join_self(tasks: list[int]) -> None:
    """Move the calling thread into the cgroup whose ``tasks`` files (v1) the descriptors are
    open on, and close them. The calling process must be single-threaded, so that this moves
    all of it.

    Writing ``0`` to ``tasks`` moves only the caller's own thread, which the kernel does
    without the global lock that moving a whole process (``cgroup.procs``) takes — and
    without that lock's RCU grace period: 0.3 ms for eight hierarchies, against 6-14 ms.
    The descriptors are opened beforehand (:meth:`Cgroup.open_tasks`) because the caller may
    no longer see the host's cgroup file systems (an exec'd process is in the container's
    mount namespace by then).
    """
    for fd in tasks:
        try:
            os.write(fd, b"0")
        except OSError as exc:
            raise CgroupError(
                exc.errno, f"cannot join the container's cgroup: {exc.strerror}"
            ) from None
        finally:
            os.close(fd)


def _remove_empty_ancestors(mount_point: str, path: str) -> None:
    parent = os.path.dirname(path)
    while len(parent) > len(mount_point) and parent.startswith(mount_point + "/"):
        try:
            os.rmdir(parent)
        except OSError:
            return  # not empty (other containers), or gone
        parent = os.path.dirname(parent)


# --- limits -----------------------------------------------------------------------------------


def _num(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"config.json: linux.resources.{where} must be an integer")
    return value


def _device_rule(rule: Mapping[str, Any]) -> str:
    kind = rule.get("type") or "a"
    if kind not in ("a", "b", "c"):
        raise ValueError(f"config.json: device rule type must be a, b or c, not {kind!r}")
    if kind == "a":
        return "a"
    major = rule.get("major")
    minor = rule.get("minor")
    major_s = "*" if major is None or major < 0 else str(major)
    minor_s = "*" if minor is None or minor < 0 else str(minor)
    access = rule.get("access") or "rwm"
    if not set(access) <= set("rwm"):
        raise ValueError(f"config.json: device rule access must be made of r, w, m: {access!r}")
    return f"{kind} {major_s}:{minor_s} {access}"


def _throttle(entries: Any, key: str) -> list[str]:
    out = []
    for entry in entries or ():
        out.append(
            f"{_num(entry.get('major'), key)}:{_num(entry.get('minor'), key)} "
            f"{_num(entry.get('rate'), key)}"
        )
    return out


def _v1_writer(cgroup: Cgroup) -> Callable[..., None]:
    def put(controller: str, name: str, value: str, required: bool = True) -> None:
        path = cgroup.dir(controller)
        if path is None:
            if required:
                raise CgroupError(
                    errno.ENOTSUP,
                    f"the {controller} cgroup controller is not mounted; it is needed for {name}",
                )
            return
        target = os.path.join(path, name)
        if not required and not os.path.exists(target):
            return
        _write(target, value)

    return put


def _apply_v1_devices(cgroup: Cgroup, resources: Mapping[str, Any]) -> None:
    put = _v1_writer(cgroup)
    rules = resources.get("devices")
    if rules and cgroup.dir("devices") is not None:
        for rule in rules:
            put(
                "devices",
                "devices.allow" if rule.get("allow") else "devices.deny",
                _device_rule(rule),
            )


def _apply_v1(cgroup: Cgroup, resources: Mapping[str, Any], devices: bool) -> None:
    put = _v1_writer(cgroup)
    for rule in resources.get("devices") or ():
        _device_rule(rule)  # checked now, written by _apply_v1_devices
    if devices:
        _apply_v1_devices(cgroup, resources)

    memory = resources.get("memory") or {}
    limit = memory.get("limit")
    if limit is not None and _num(limit, "memory.limit") > 0:
        put("memory", "memory.limit_in_bytes", str(limit))
    swap = memory.get("swap")
    if swap is not None and _num(swap, "memory.swap") != 0:
        path = cgroup.dir("memory")
        if path is None or not os.path.exists(os.path.join(path, "memory.memsw.limit_in_bytes")):
            if swap != -1:
                raise CgroupError(
                    errno.ENOTSUP,
                    "this kernel has no swap accounting (memory.memsw.*); run without "
                    "--memory-swap or boot with swapaccount=1",
                )
        else:
            put("memory", "memory.memsw.limit_in_bytes", str(swap))
    if memory.get("reservation") is not None and _num(memory["reservation"], "reservation") > 0:
        put("memory", "memory.soft_limit_in_bytes", str(memory["reservation"]))
    if memory.get("swappiness") is not None:
        swappiness = _num(memory["swappiness"], "memory.swappiness")
        if 0 <= swappiness <= 100:
            put("memory", "memory.swappiness", str(swappiness), required=False)
    if memory.get("disableOOMKiller"):
        put("memory", "memory.oom_control", "1")

    cpu = resources.get("cpu") or {}
    if cpu.get("shares"):
        put("cpu", "cpu.shares", str(_num(cpu["shares"], "cpu.shares")))
    if cpu.get("period"):
        put("cpu", "cpu.cfs_period_us", str(_num(cpu["period"], "cpu.period")))
    if cpu.get("quota"):
        put("cpu", "cpu.cfs_quota_us", str(_num(cpu["quota"], "cpu.quota")))
    if cpu.get("realtimePeriod"):
        put("cpu", "cpu.rt_period_us", str(_num(cpu["realtimePeriod"], "cpu.realtimePeriod")))
    if cpu.get("realtimeRuntime"):
        put("cpu", "cpu.rt_runtime_us", str(_num(cpu["realtimeRuntime"], "realtimeRuntime")))
    if cpu.get("cpus"):
        put("cpuset", "cpuset.cpus", str(cpu["cpus"]))
    if cpu.get("mems"):
        put("cpuset", "cpuset.mems", str(cpu["mems"]))

    pids = resources.get("pids") or {}
    if pids.get("limit") is not None:
        value = _num(pids["limit"], "pids.limit")
        put("pids", "pids.max", str(value) if value > 0 else "max")

    block = resources.get("blockIO") or {}
    if block.get("weight"):
        name = "blkio.weight"
        path = cgroup.dir("blkio")
        if path is not None and not os.path.exists(os.path.join(path, name)):
            name = "blkio.bfq.weight"
        put("blkio", name, str(_num(block["weight"], "blockIO.weight")), required=False)
    for key, name in (
        ("throttleReadBpsDevice", "blkio.throttle.read_bps_device"),
        ("throttleWriteBpsDevice", "blkio.throttle.write_bps_device"),
        ("throttleReadIOPSDevice", "blkio.throttle.read_iops_device"),
        ("throttleWriteIOPSDevice", "blkio.throttle.write_iops_device"),
    ):
        for line in _throttle(block.get(key), key):
            put("blkio", name, line)


def _apply_v2(cgroup: Cgroup, resources: Mapping[str, Any]) -> None:
    path = next(iter(cgroup.paths.values()))

    def put(name: str, value: str) -> None:
        _write(os.path.join(path, name), value)

    memory = resources.get("memory") or {}
    limit = memory.get("limit")
    if limit is not None and _num(limit, "memory.limit") > 0:
        put("memory.max", str(limit))
        swap = memory.get("swap")
        if swap is not None and swap != 0 and os.path.exists(os.path.join(path, "memory.swap.max")):
            put("memory.swap.max", "max" if swap < 0 else str(max(swap - limit, 0)))
    if memory.get("reservation"):
        put("memory.low", str(_num(memory["reservation"], "memory.reservation")))
    if memory.get("disableOOMKiller"):
        raise CgroupError(errno.ENOTSUP, "cgroup v2 cannot disable the OOM killer")

    cpu = resources.get("cpu") or {}
    if cpu.get("shares"):
        shares = _num(cpu["shares"], "cpu.shares")
        put("cpu.weight", str(1 + ((max(shares, 2) - 2) * 9999) // 262142))
    if cpu.get("quota") or cpu.get("period"):
        quota = cpu.get("quota") or 0
        period = cpu.get("period") or 100000
        put("cpu.max", f"{quota if quota > 0 else 'max'} {period}")
    if cpu.get("cpus"):
        put("cpuset.cpus", str(cpu["cpus"]))
    if cpu.get("mems"):
        put("cpuset.mems", str(cpu["mems"]))

    pids = resources.get("pids") or {}
    if pids.get("limit") is not None:
        value = _num(pids["limit"], "pids.limit")
        put("pids.max", str(value) if value > 0 else "max")

    block = resources.get("blockIO") or {}
    if block.get("weight"):
        weight = _num(block["weight"], "blockIO.weight")
        put("io.weight", str(1 + (weight - 10) * 9999 // 990))
    for key, name in (
        ("throttleReadBpsDevice", "rbps"),
        ("throttleWriteBpsDevice", "wbps"),
        ("throttleReadIOPSDevice", "riops"),
        ("throttleWriteIOPSDevice", "wiops"),
    ):
        for line in _throttle(block.get(key), key):
            device, rate = line.split(" ")
            put("io.max", f"{device} {name}={rate}")

    for name, value in (resources.get("unified") or {}).items():
        if "/" in name or name.startswith("."):
            raise ValueError(f"config.json: bad unified cgroup key {name!r}")
        put(name, str(value))
