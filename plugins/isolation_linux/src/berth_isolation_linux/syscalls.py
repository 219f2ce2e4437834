"""The Linux system calls Python's ``os`` module lacks, through ctypes (the C library).

Each wrapper raises ``OSError`` with the call's errno and a message naming the call and its
arguments, so that an error reaching a user says what failed.
"""

from __future__ import annotations

import ctypes
import os

from berth_isolation_linux.errors import suppress

_libc = ctypes.CDLL(None, use_errno=True)

# --- constants ----------------------------------------------------------------------------------

CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25
MNT_DETACH = 2

PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

SECCOMP_SET_MODE_FILTER = 1
CLOSE_RANGE_CLOEXEC = 1 << 2

#: Numbers of the calls the C library has no wrapper for, per machine.
_NUMBERS = {
    "x86_64": {"pivot_root": 155, "seccomp": 317, "close_range": 436},
    "aarch64": {"pivot_root": 41, "seccomp": 277, "close_range": 436},
}
_NR = _NUMBERS.get(os.uname().machine, _NUMBERS["x86_64"])

# --- plumbing -----------------------------------------------------------------------------------


def _fail(what: str) -> OSError:
    code = ctypes.get_errno()
    return OSError(code, f"{what}: {os.strerror(code).lower()}")


def _b(value: str | bytes | None) -> bytes | None:
    return os.fsencode(value) if value is not None else None


def _syscall(name: str, *args: int | bytes | ctypes.c_void_p | None) -> int:
    result: int = _libc.syscall(ctypes.c_long(_NR[name]), *args)
    return result


# --- namespaces ---------------------------------------------------------------------------------


def unshare(flags: int) -> None:
    if _libc.unshare(ctypes.c_int(flags)) != 0:
        raise _fail(f"unshare({flags:#x})")


def setns(fd: int, nstype: int, what: str = "") -> None:
    if _libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)) != 0:
        raise _fail(f"setns {what or fd}")


# --- mounts -------------------------------------------------------------------------------------


def mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None
) -> None:
    if (
        _libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data or None))
        != 0
    ):
        kind = fstype or ("bind" if flags & MS_BIND else "propagation")
        raise _fail(f"mount {source or kind} on {target} ({kind}, flags {flags:#x})")


def umount2(target: str, flags: int = 0) -> None:
    if _libc.umount2(_b(target), ctypes.c_int(flags)) != 0:
        raise _fail(f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    if _syscall("pivot_root", _b(new_root), _b(put_old)) != 0:
        raise _fail(f"pivot_root {new_root}")


# --- identity -----------------------------------------------------------------------------------


def sethostname(name: str) -> None:
    raw = name.encode()
    if _libc.sethostname(raw, ctypes.c_size_t(len(raw))) != 0:
        raise _fail(f"sethostname {name!r}")


def setdomainname(name: str) -> None:
    raw = name.encode()
    if _libc.setdomainname(raw, ctypes.c_size_t(len(raw))) != 0:
        raise _fail(f"setdomainname {name!r}")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    result: int = _libc.prctl(
        ctypes.c_int(option),
        ctypes.c_ulong(arg2),
        ctypes.c_ulong(arg3),
        ctypes.c_ulong(arg4),
        ctypes.c_ulong(arg5),
    )
    if result < 0:
        raise _fail(f"prctl({option})")
    return result


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def capset(effective: int, permitted: int, inheritable: int) -> None:
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    for i in range(2):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    if _libc.capset(ctypes.byref(header), data) != 0:
        raise _fail("capset")


# --- seccomp and descriptors --------------------------------------------------------------------


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def seccomp_set_filter(program: bytes, flags: int) -> None:
    """Install a classic BPF filter (``struct sock_filter`` array) on the calling thread."""
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    args = (ctypes.c_long(SECCOMP_SET_MODE_FILTER), ctypes.c_long(flags))
    if _libc.syscall(ctypes.c_long(_NR["seccomp"]), *args, ctypes.byref(fprog)) != 0:
        raise _fail("seccomp(SECCOMP_SET_MODE_FILTER)")


def close_range_cloexec(first: int) -> None:
    """Mark every descriptor from ``first`` up close-on-exec (Linux 5.11+; slower fallback)."""
    result = _libc.syscall(
        ctypes.c_long(_NR["close_range"]),
        ctypes.c_uint(first),
        ctypes.c_uint(0xFFFFFFFF),
        ctypes.c_uint(CLOSE_RANGE_CLOEXEC),
    )
    if result == 0:
        return
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd >= first:
            with suppress(OSError):
                os.set_inheritable(fd, False)
