"""Seccomp: Docker's default profile as data, and its rendering into the OCI spec.

A profile (Docker's format, :class:`Profile`) lists rules that apply only on some
architectures, only when the container has some capability, or only from some kernel on.
Rendering it for one container (:func:`render`) keeps the rules that apply and gives the OCI
``linux.seccomp`` object: default action, the native architecture and its sub-architectures,
and the syscalls allowed (or answered with an errno).

The default profile is Docker's semantics, written out here: everything not listed fails with
EPERM; a long list of ordinary syscalls is allowed; ``socket`` is allowed except for AF_VSOCK;
``personality`` only with the few personas programs use; ``clone`` only without namespace
flags and ``clone3`` answers ENOSYS (so libc falls back to ``clone``) unless the container has
CAP_SYS_ADMIN; and groups of syscalls open up with the capability that governs them
(CAP_SYS_ADMIN: mount, unshare, setns, …; CAP_SYS_PTRACE: ptrace, process_vm_*, …).

``--privileged`` and ``--security-opt seccomp=unconfined`` mean no filter at all;
``seccomp=<profile JSON>`` (what the docker CLI sends for ``seccomp=file.json``) uses that
profile instead of the default.
"""

from __future__ import annotations

import errno
import json
import platform
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from berth.engine.errors import BadParameter

ALLOW = "SCMP_ACT_ALLOW"
ERRNO = "SCMP_ACT_ERRNO"
UNCONFINED = "unconfined"
DEFAULT = "builtin"

#: ``platform.machine()`` → the Go architecture names profiles use in ``includes.arches``.
MACHINE_TO_GOARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "i386": "x86",
    "i686": "x86",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "mips64": "mips64",
}

#: Go architecture name → libseccomp's name of the native architecture.
GOARCH_TO_SECCOMP = {
    "amd64": "SCMP_ARCH_X86_64",
    "x86": "SCMP_ARCH_X86",
    "arm64": "SCMP_ARCH_AARCH64",
    "arm": "SCMP_ARCH_ARM",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "s390x": "SCMP_ARCH_S390X",
    "riscv64": "SCMP_ARCH_RISCV64",
    "mips64": "SCMP_ARCH_MIPS64",
}

_OPS = frozenset(
    {
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ",
    }
)
_ACTIONS = frozenset(
    {
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_TRAP",
        ERRNO,
        "SCMP_ACT_TRACE",
        ALLOW,
        "SCMP_ACT_LOG",
        "SCMP_ACT_NOTIFY",
    }
)

AF_VSOCK = 40
#: CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
#: CLONE_NEWCGROUP: the flags that create namespaces.
CLONE_NAMESPACE_FLAGS = (
    0x00020000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x02000000
)


@dataclass(frozen=True)
class Arg:
    index: int
    value: int
    op: str
    value_two: int = 0

    def to_oci(self) -> dict[str, Any]:
        return {"index": self.index, "value": self.value, "valueTwo": self.value_two, "op": self.op}


@dataclass(frozen=True)
class Filter:
    """A rule's condition: every cap (includes) or any cap (excludes), the architecture, and a
    minimum kernel version."""

    caps: tuple[str, ...] = ()
    arches: tuple[str, ...] = ()
    min_kernel: tuple[int, int] | None = None


@dataclass(frozen=True)
class Rule:
    names: tuple[str, ...]
    action: str = ALLOW
    args: tuple[Arg, ...] = ()
    errno_ret: int | None = None
    includes: Filter = field(default_factory=Filter)
    excludes: Filter = field(default_factory=Filter)
    comment: str = ""


@dataclass(frozen=True)
class Profile:
    default_action: str
    rules: tuple[Rule, ...]
    default_errno_ret: int | None = None
    #: native libseccomp arch → its sub-architectures (``archMap``)
    arch_map: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    #: explicit architectures (``architectures``); exclusive with ``arch_map``
    architectures: tuple[str, ...] = ()


def _allow(*names: str, caps: Sequence[str] = (), arches: Sequence[str] = ()) -> Rule:
    return Rule(tuple(names), includes=Filter(tuple(caps), tuple(arches)))


# The syscalls every container may make: what ordinary programs need, and nothing that reaches
# beyond the container (no mount, no module loading, no clock setting, no keyrings, …).
# fmt: off
_ALLOWED = (
    "accept", "accept4", "access", "adjtimex", "alarm", "bind", "brk", "capget", "capset", "chdir",
    "chmod", "chown", "chown32", "clock_adjtime", "clock_adjtime64", "clock_getres",
    "clock_getres_time64", "clock_gettime", "clock_gettime64", "clock_nanosleep",
    "clock_nanosleep_time64", "close", "close_range", "connect", "copy_file_range", "creat", "dup",
    "dup2", "dup3", "epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait",
    "epoll_pwait2", "epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "execve", "execveat",
    "exit", "exit_group", "faccessat", "faccessat2", "fadvise64", "fadvise64_64", "fallocate",
    "fanotify_mark", "fchdir", "fchmod", "fchmodat", "fchmodat2", "fchown", "fchown32", "fchownat",
    "fcntl", "fcntl64", "fdatasync", "fgetxattr", "flistxattr", "flock", "fork", "fremovexattr",
    "fsetxattr", "fstat", "fstat64", "fstatat64", "fstatfs", "fstatfs64", "fsync", "ftruncate",
    "ftruncate64", "futex", "futex_requeue", "futex_time64", "futex_wait", "futex_waitv",
    "futex_wake", "futimesat", "getcpu", "getcwd", "getdents", "getdents64", "getegid",
    "getegid32", "geteuid", "geteuid32", "getgid", "getgid32", "getgroups", "getgroups32",
    "getitimer", "getpeername", "getpgid", "getpgrp", "getpid", "getppid", "getpriority",
    "getrandom", "getresgid", "getresgid32", "getresuid", "getresuid32", "getrlimit",
    "get_robust_list", "getrusage", "getsid", "getsockname", "getsockopt", "get_thread_area",
    "gettid", "gettimeofday", "getuid", "getuid32", "getxattr", "inotify_add_watch",
    "inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel", "ioctl", "io_destroy",
    "io_getevents", "io_pgetevents", "io_pgetevents_time64", "ioprio_get", "ioprio_set",
    "io_setup", "io_submit", "ipc", "kill", "landlock_add_rule", "landlock_create_ruleset",
    "landlock_restrict_self", "lchown", "lchown32", "lgetxattr", "link", "linkat", "listen",
    "listxattr", "llistxattr", "_llseek", "lremovexattr", "lseek", "lsetxattr", "lstat", "lstat64",
    "madvise", "map_shadow_stack", "membarrier", "memfd_create", "memfd_secret", "mincore",
    "mkdir", "mkdirat", "mknod", "mknodat", "mlock", "mlock2", "mlockall", "mmap", "mmap2",
    "mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
    "mq_timedreceive_time64", "mq_timedsend", "mq_timedsend_time64", "mq_unlink", "mremap",
    "msgctl", "msgget", "msgrcv", "msgsnd", "msync", "munlock", "munlockall", "munmap",
    "name_to_handle_at", "nanosleep", "newfstatat", "_newselect", "open", "openat", "openat2",
    "pause", "pidfd_open", "pidfd_send_signal", "pipe", "pipe2", "pkey_alloc", "pkey_free",
    "pkey_mprotect", "poll", "ppoll", "ppoll_time64", "prctl", "pread64", "preadv", "preadv2",
    "prlimit64", "process_mrelease", "pselect6", "pselect6_time64", "pwrite64", "pwritev",
    "pwritev2", "read", "readahead", "readlink", "readlinkat", "readv", "recv", "recvfrom",
    "recvmmsg", "recvmmsg_time64", "recvmsg", "remap_file_pages", "removexattr", "rename",
    "renameat", "renameat2", "restart_syscall", "rmdir", "rseq", "rt_sigaction", "rt_sigpending",
    "rt_sigprocmask", "rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
    "rt_sigtimedwait_time64", "rt_tgsigqueueinfo", "sched_getaffinity", "sched_getattr",
    "sched_getparam", "sched_get_priority_max", "sched_get_priority_min", "sched_getscheduler",
    "sched_rr_get_interval", "sched_rr_get_interval_time64", "sched_setaffinity", "sched_setattr",
    "sched_setparam", "sched_setscheduler", "sched_yield", "seccomp", "select", "semctl", "semget",
    "semop", "semtimedop", "semtimedop_time64", "send", "sendfile", "sendfile64", "sendmmsg",
    "sendmsg", "sendto", "setfsgid", "setfsgid32", "setfsuid", "setfsuid32", "setgid", "setgid32",
    "setgroups", "setgroups32", "setitimer", "setpgid", "setpriority", "setregid", "setregid32",
    "setresgid", "setresgid32", "setresuid", "setresuid32", "setreuid", "setreuid32", "setrlimit",
    "set_robust_list", "setsid", "setsockopt", "set_thread_area", "set_tid_address", "setuid",
    "setuid32", "setxattr", "shmat", "shmctl", "shmdt", "shmget", "shutdown", "sigaltstack",
    "signalfd", "signalfd4", "sigprocmask", "sigreturn", "socketcall", "socketpair", "splice",
    "stat", "stat64", "statfs", "statfs64", "statx", "symlink", "symlinkat", "sync",
    "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time", "timer_create",
    "timer_delete", "timer_getoverrun", "timer_gettime", "timer_gettime64", "timer_settime",
    "timer_settime64", "timerfd_create", "timerfd_gettime", "timerfd_gettime64", "timerfd_settime",
    "timerfd_settime64", "times", "tkill", "truncate", "truncate64", "ugetrlimit", "umask",
    "uname", "unlink", "unlinkat", "utime", "utimensat", "utimensat_time64", "utimes", "vfork",
    "vmsplice", "wait4", "waitid", "waitpid", "write", "writev",
)
# fmt: on


def _personality(value: int) -> Rule:
    return Rule(("personality",), args=(Arg(0, value, "SCMP_CMP_EQ"),))


DEFAULT_PROFILE = Profile(
    default_action=ERRNO,
    default_errno_ret=errno.EPERM,
    arch_map={
        "SCMP_ARCH_X86_64": ("SCMP_ARCH_X86", "SCMP_ARCH_X32"),
        "SCMP_ARCH_AARCH64": ("SCMP_ARCH_ARM",),
        "SCMP_ARCH_MIPS64": ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"),
        "SCMP_ARCH_MIPS64N32": ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"),
        "SCMP_ARCH_MIPSEL64": ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"),
        "SCMP_ARCH_MIPSEL64N32": ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"),
        "SCMP_ARCH_S390X": ("SCMP_ARCH_S390",),
        "SCMP_ARCH_RISCV64": (),
        "SCMP_ARCH_PPC64LE": (),
    },
    rules=(
        Rule(_ALLOWED),
        Rule(
            ("process_vm_readv", "process_vm_writev", "ptrace"),
            includes=Filter(min_kernel=(4, 8)),
            comment="ptrace cannot bypass seccomp from kernel 4.8 on",
        ),
        Rule(("socket",), args=(Arg(0, AF_VSOCK, "SCMP_CMP_NE"),)),
        _personality(0x0),  # PER_LINUX
        _personality(0x0008),  # UNAME26
        _personality(0x20000),  # PER_LINUX32
        _personality(0x20008),  # PER_LINUX32 | UNAME26
        _personality(0xFFFFFFFF),  # query the current persona
        _allow("sync_file_range2", "swapcontext", arches=("ppc64le",)),
        _allow(
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
            arches=("arm", "arm64"),
        ),
        _allow("arch_prctl", arches=("amd64", "x32")),
        _allow("modify_ldt", arches=("amd64", "x32", "x86")),
        _allow(
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
            arches=("s390", "s390x"),
        ),
        _allow("riscv_flush_icache", arches=("riscv64",)),
        _allow("open_by_handle_at", caps=("CAP_DAC_READ_SEARCH",)),
        _allow(
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
            caps=("CAP_SYS_ADMIN",),
        ),
        Rule(
            ("clone",),
            args=(Arg(0, CLONE_NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ", 0),),
            excludes=Filter(caps=("CAP_SYS_ADMIN",), arches=("s390", "s390x")),
            comment="clone without namespace flags",
        ),
        Rule(
            ("clone",),
            args=(Arg(1, CLONE_NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ", 0),),
            includes=Filter(arches=("s390", "s390x")),
            excludes=Filter(caps=("CAP_SYS_ADMIN",)),
            comment="s390 passes clone's flags second",
        ),
        Rule(
            ("clone3",),
            action=ERRNO,
            errno_ret=errno.ENOSYS,
            excludes=Filter(caps=("CAP_SYS_ADMIN",)),
            comment="flags of clone3 live in memory seccomp cannot see: make libc use clone",
        ),
        _allow("reboot", caps=("CAP_SYS_BOOT",)),
        _allow("chroot", caps=("CAP_SYS_CHROOT",)),
        _allow("delete_module", "init_module", "finit_module", caps=("CAP_SYS_MODULE",)),
        _allow("acct", caps=("CAP_SYS_PACCT",)),
        _allow(
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
            caps=("CAP_SYS_PTRACE",),
        ),
        _allow("iopl", "ioperm", caps=("CAP_SYS_RAWIO",)),
        _allow("settimeofday", "stime", "clock_settime", "clock_settime64", caps=("CAP_SYS_TIME",)),
        _allow("vhangup", caps=("CAP_SYS_TTY_CONFIG",)),
        _allow(
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
            caps=("CAP_SYS_NICE",),
        ),
        _allow("syslog", caps=("CAP_SYSLOG",)),
        _allow("bpf", caps=("CAP_BPF",)),
        _allow("perf_event_open", caps=("CAP_PERFMON",)),
    ),
)


# --- host facts ---------------------------------------------------------------------------


def host_goarch(machine: str | None = None) -> str:
    """This host's architecture in Go's naming (``amd64``), which profiles' filters use."""
    name = machine if machine is not None else platform.machine()
    return MACHINE_TO_GOARCH.get(name, name)


def host_kernel(release: str | None = None) -> tuple[int, int]:
    """(major, minor) of the running kernel (``6.1.0-13-amd64`` → (6, 1))."""
    text = release if release is not None else platform.release()
    match = re.match(r"(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


# --- rendering ----------------------------------------------------------------------------


def _applies(rule: Rule, caps: Collection[str], arch: str, kernel: tuple[int, int]) -> bool:
    ex, inc = rule.excludes, rule.includes
    if ex.arches and arch in ex.arches:
        return False
    if ex.caps and any(cap in caps for cap in ex.caps):
        return False
    if ex.min_kernel is not None and kernel >= ex.min_kernel:
        return False
    if inc.arches and arch not in inc.arches:
        return False
    if inc.caps and not all(cap in caps for cap in inc.caps):
        return False
    return not (inc.min_kernel is not None and kernel < inc.min_kernel)


def render(
    profile: Profile,
    caps: Collection[str],
    arch: str | None = None,
    kernel: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The OCI ``linux.seccomp`` object of ``profile`` for a container whose bounding set is
    ``caps``, on architecture ``arch`` (Go naming) and kernel ``kernel``."""
    goarch = arch or host_goarch()
    release = kernel or host_kernel()
    architectures = list(profile.architectures)
    native = GOARCH_TO_SECCOMP.get(goarch)
    if native is not None and native in profile.arch_map:
        architectures += [native, *profile.arch_map[native]]
    syscalls = []
    for rule in profile.rules:
        if not _applies(rule, caps, goarch, release):
            continue
        entry: dict[str, Any] = {"names": list(rule.names), "action": rule.action}
        if rule.args:
            entry["args"] = [arg.to_oci() for arg in rule.args]
        if rule.errno_ret is not None:
            entry["errnoRet"] = rule.errno_ret
        syscalls.append(entry)
    result: dict[str, Any] = {"defaultAction": profile.default_action}
    if profile.default_errno_ret is not None:
        result["defaultErrnoRet"] = profile.default_errno_ret
    if architectures:
        result["architectures"] = architectures
    result["syscalls"] = syscalls
    return result


# --- Docker-format profiles ---------------------------------------------------------------


class ProfileError(BadParameter):
    pass


def _filter(data: Any, what: str) -> Filter:
    if data is None:
        return Filter()
    if not isinstance(data, Mapping):
        raise ProfileError(f"Decoding seccomp profile failed: {what} is not an object")
    kernel = data.get("minKernel") or ""
    min_kernel = None
    if kernel:
        parts = str(kernel).split(".")
        try:
            min_kernel = (int(parts[0]), int(parts[1]) if len(parts) > 1 else 0)
        except ValueError:
            raise ProfileError(f"invalid kernel version: {kernel}") from None
    return Filter(
        tuple(str(c) for c in data.get("caps") or ()),
        tuple(str(a) for a in data.get("arches") or ()),
        min_kernel,
    )


def _int(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProfileError(f"Decoding seccomp profile failed: {what} must be a number")
    return value


def load_profile(text: str) -> Profile:
    """A profile in Docker's JSON format (``defaultAction``, ``architectures`` or ``archMap``,
    ``syscalls`` with ``names``/``name``, ``action``, ``args``, ``includes``, ``excludes``).
    Raises ProfileError with Docker's texts."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ProfileError(f"Decoding seccomp profile failed: {exc}") from None
    if not isinstance(data, Mapping):
        raise ProfileError("Decoding seccomp profile failed: not a JSON object")
    if data.get("architectures") and data.get("archMap"):
        raise ProfileError(
            "'architectures' and 'archMap' were specified in the seccomp profile, "
            "use either 'architectures' or 'archMap'"
        )
    default_action = str(data.get("defaultAction") or "")
    if default_action and default_action not in _ACTIONS:
        raise ProfileError(f"Decoding seccomp profile failed: unknown action {default_action!r}")
    arch_map: dict[str, tuple[str, ...]] = {}
    for item in data.get("archMap") or ():
        if not isinstance(item, Mapping) or not item.get("architecture"):
            raise ProfileError("Decoding seccomp profile failed: bad archMap entry")
        subs = tuple(str(sub) for sub in item.get("subArchitectures") or ())
        arch_map[str(item["architecture"])] = subs
    rules = []
    for i, call in enumerate(data.get("syscalls") or ()):
        if not isinstance(call, Mapping):
            raise ProfileError(f"Decoding seccomp profile failed: syscalls[{i}] is not an object")
        if call.get("name") and call.get("names"):
            raise ProfileError(
                "'name' and 'names' were specified in the seccomp profile, "
                "use either 'name' or 'names'"
            )
        if call.get("name"):
            names = [str(call["name"])]
        else:
            names = [str(n) for n in call.get("names") or ()]
        action = str(call.get("action") or "")
        if action not in _ACTIONS:
            raise ProfileError(f"Decoding seccomp profile failed: unknown action {action!r}")
        args = []
        for arg in call.get("args") or ():
            op = str(arg.get("op") or "")
            if op not in _OPS:
                raise ProfileError(f"Decoding seccomp profile failed: unknown operator {op!r}")
            args.append(
                Arg(
                    _int(arg.get("index", 0), "index"),
                    _int(arg.get("value", 0), "value"),
                    op,
                    _int(arg.get("valueTwo", 0), "valueTwo"),
                )
            )
        errno_ret = call.get("errnoRet")
        rules.append(
            Rule(
                tuple(names),
                action,
                tuple(args),
                _int(errno_ret, "errnoRet") if errno_ret is not None else None,
                _filter(call.get("includes"), "includes"),
                _filter(call.get("excludes"), "excludes"),
                str(call.get("comment") or ""),
            )
        )
    default_errno = data.get("defaultErrnoRet")
    return Profile(
        default_action,
        tuple(rules),
        _int(default_errno, "defaultErrnoRet") if default_errno is not None else None,
        arch_map,
        tuple(str(a) for a in data.get("architectures") or ()),
    )


def seccomp_option(security_opts: Sequence[str]) -> str:
    """The ``seccomp=`` value of ``--security-opt`` (``""`` when not given; ``:`` is accepted as
    separator, as Docker still does)."""
    value = ""
    for opt in security_opts:
        for sep in ("=", ":"):
            key, found, rest = opt.partition(sep)
            if found and key == "seccomp":
                value = rest
                break
    return value


def for_container(
    security_opts: Sequence[str],
    privileged: bool,
    caps: Collection[str],
    arch: str | None = None,
    kernel: tuple[int, int] | None = None,
) -> dict[str, Any] | None:
    """The ``linux.seccomp`` of a container, or None for none (privileged, unconfined, or a
    profile with neither default action nor rules, which Docker reads as "disabled")."""
    if privileged:
        return None
    option = seccomp_option(security_opts)
    if option == UNCONFINED:
        return None
    if option in ("", DEFAULT):
        profile = DEFAULT_PROFILE
    else:
        profile = load_profile(option)
        if not profile.default_action and not profile.rules:
            return None
    return render(profile, caps, arch, kernel)
