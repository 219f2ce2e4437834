"""The seccomp compiler: compiled programs run through a BPF interpreter (below), and one in
the kernel."""

from __future__ import annotations

import errno
import os
import random
import struct
from collections.abc import Sequence
from typing import Any

import pytest
from berth_isolation_linux import seccomp
from berth_isolation_linux.seccomp import (
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_ERRNO,
    SECCOMP_RET_KILL_PROCESS,
    SECCOMP_RET_KILL_THREAD,
    SECCOMP_RET_LOG,
    SECCOMP_RET_TRACE,
    SECCOMP_RET_TRAP,
    SeccompError,
    compile_profile,
)
from berth_isolation_linux.syscall_table import X32_SYSCALL_BIT, table

# --- a classic-BPF interpreter: the instructions the compiler emits, and no other ----------

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003


def seccomp_data(nr: int, arch: int = AUDIT_ARCH_X86_64, args: Sequence[int] = ()) -> bytes:
    values = list(args) + [0] * (6 - len(args))
    return struct.pack("<iIQ6Q", nr, arch, 0x401000, *values)


def run(program: bytes, data: bytes) -> int:
    """The value the filter returns for ``data`` (a ``struct seccomp_data``)."""
    code = [struct.unpack_from("<HBBI", program, i) for i in range(0, len(program), 8)]
    acc = 0
    pc = 0
    steps = 0
    while True:
        steps += 1
        assert steps < 100_000, "the filter loops"
        assert 0 <= pc < len(code), f"jumped outside the program: {pc}"
        op, jt, jf, k = code[pc]
        pc += 1
        if op == 0x20:  # ld w abs
            assert k % 4 == 0 and k + 4 <= len(data), f"bad load offset {k}"
            acc = struct.unpack_from("<I", data, k)[0]
        elif op == 0x54:  # and k
            acc &= k
        elif op == 0x05:  # ja
            pc += k
        elif op in (0x15, 0x25, 0x35, 0x45):
            taken = {
                0x15: acc == k,
                0x25: acc > k,
                0x35: acc >= k,
                0x45: bool(acc & k),
            }[op]
            pc += jt if taken else jf
        elif op == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected instruction {op:#x}")


NR = table("x86_64")
NR32 = table("x86")
EPERM = SECCOMP_RET_ERRNO | errno.EPERM
ALL_X86 = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]


def verdict(profile: dict[str, Any], name: str, *args: int, arch: str = "x86_64") -> int:
    program = compile_profile(profile).program
    if arch == "x86":
        return run(program, seccomp_data(NR32[name], AUDIT_ARCH_I386, args))
    nr = NR[name] | (X32_SYSCALL_BIT if arch == "x32" else 0)
    return run(program, seccomp_data(nr, AUDIT_ARCH_X86_64, args))


def allowlist(*names: str, **extra: Any) -> dict[str, Any]:
    profile: dict[str, Any] = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ALL_X86,
        "syscalls": [{"names": list(names), "action": "SCMP_ACT_ALLOW"}],
    }
    profile.update(extra)
    return profile


class TestActions:
    def test_allowlist_allows_what_it_names_and_denies_the_rest(self) -> None:
        profile = allowlist("read", "write", "exit_group")
        assert verdict(profile, "read") == SECCOMP_RET_ALLOW
        assert verdict(profile, "exit_group") == SECCOMP_RET_ALLOW
        assert verdict(profile, "open") == EPERM
        assert verdict(profile, "mount") == EPERM

    def test_default_errno_ret(self) -> None:
        profile = allowlist("read", "exit_group", defaultErrnoRet=errno.EACCES)
        assert verdict(profile, "open") == SECCOMP_RET_ERRNO | errno.EACCES

    @pytest.mark.parametrize(
        ("action", "value"),
        [
            ("SCMP_ACT_KILL", SECCOMP_RET_KILL_THREAD),
            ("SCMP_ACT_KILL_THREAD", SECCOMP_RET_KILL_THREAD),
            ("SCMP_ACT_KILL_PROCESS", SECCOMP_RET_KILL_PROCESS),
            ("SCMP_ACT_TRAP", SECCOMP_RET_TRAP),
            ("SCMP_ACT_LOG", SECCOMP_RET_LOG),
            ("SCMP_ACT_TRACE", SECCOMP_RET_TRACE | errno.EPERM),
            ("SCMP_ACT_ERRNO", SECCOMP_RET_ERRNO | errno.EPERM),
        ],
    )
    def test_each_action(self, action: str, value: int) -> None:
        profile = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["ptrace"], "action": action}],
        }
        assert verdict(profile, "ptrace") == value
        assert verdict(profile, "read") == SECCOMP_RET_ALLOW

    def test_many_calls_share_their_return_across_runs(self) -> None:
        names = sorted(NR)[:300]  # more than one run of 200 checks
        profile = allowlist(*names)
        for name in names:
            assert verdict(profile, name) == SECCOMP_RET_ALLOW, name
        others = [n for n in NR if n not in names and NR[n] < max(NR[m] for m in names)]
        for name in others[:30]:
            assert verdict(profile, name) == EPERM, name

    def test_newer_calls_than_the_profile_knows_get_enosys(self) -> None:
        profile = allowlist("read", "openat")
        assert verdict(profile, "clone3") == SECCOMP_RET_ERRNO | errno.ENOSYS
        assert verdict(profile, "mount") == EPERM  # older than openat: a plain denial

    def test_no_enosys_when_the_default_allows(self) -> None:
        profile = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO"}],
        }
        assert verdict(profile, "clone3") == SECCOMP_RET_ALLOW


class TestArchitectures:
    def test_i386_calls_use_their_own_numbers(self) -> None:
        profile = allowlist("read", "socketcall")
        assert verdict(profile, "socketcall", arch="x86") == SECCOMP_RET_ALLOW
        assert verdict(profile, "read", arch="x86") == SECCOMP_RET_ALLOW
        # i386's number of "read" is 3, which is x86_64's "close": not confused
        assert NR32["read"] == NR["close"]
        assert verdict(profile, "close", arch="x86") == EPERM

    def test_x32_calls(self) -> None:
        profile = allowlist("read", "exit_group")
        assert verdict(profile, "read", arch="x32") == SECCOMP_RET_ALLOW
        assert verdict(profile, "write", arch="x32") == EPERM

    def test_unlisted_architectures_are_killed(self) -> None:
        profile = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_ERRNO"}],
        }
        assert verdict(profile, "read") == SECCOMP_RET_ALLOW
        assert verdict(profile, "read", arch="x86") == SECCOMP_RET_KILL_PROCESS
        assert verdict(profile, "read", arch="x32") == SECCOMP_RET_KILL_PROCESS
        program = compile_profile(profile).program
        assert run(program, seccomp_data(0, 0xC00000B7)) == SECCOMP_RET_KILL_PROCESS  # aarch64

    def test_no_architecture_means_native_only(self) -> None:
        profile = {"defaultAction": "SCMP_ACT_ALLOW"}
        assert verdict(profile, "read") == SECCOMP_RET_ALLOW
        assert verdict(profile, "read", arch="x86") == SECCOMP_RET_KILL_PROCESS

    def test_foreign_architectures_are_ignored(self) -> None:
        profile = allowlist("read", architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"])
        assert verdict(profile, "read") == SECCOMP_RET_ALLOW

    def test_names_unknown_to_an_architecture_are_skipped(self) -> None:
        profile = allowlist("socketcall", "arch_prctl", "no_such_call")
        assert verdict(profile, "arch_prctl") == SECCOMP_RET_ALLOW
        assert verdict(profile, "socketcall", arch="x86") == SECCOMP_RET_ALLOW


# --- argument conditions ---------------------------------------------------------------------

OPS = {
    "SCMP_CMP_EQ": lambda a, v, _: a == v,
    "SCMP_CMP_NE": lambda a, v, _: a != v,
    "SCMP_CMP_LT": lambda a, v, _: a < v,
    "SCMP_CMP_LE": lambda a, v, _: a <= v,
    "SCMP_CMP_GT": lambda a, v, _: a > v,
    "SCMP_CMP_GE": lambda a, v, _: a >= v,
    "SCMP_CMP_MASKED_EQ": lambda a, mask, datum: a & mask == datum,
}
EDGES = [0, 1, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**63, 2**64 - 1, 0x1_0000_0005, 5]


def conditional(op: str, value: int, value_two: int = 0, index: int = 0) -> dict[str, Any]:
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ALL_X86,
        "syscalls": [
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": index, "value": value, "valueTwo": value_two, "op": op}],
            }
        ],
    }


class TestArguments:
    @pytest.mark.parametrize("op", sorted(OPS))
    def test_64_bit_comparisons_on_edges(self, op: str) -> None:
        for value in EDGES:
            value_two = value & 0xFFFF0000FFFF
            program = compile_profile(conditional(op, value, value_two)).program
            for arg in EDGES:
                got = run(program, seccomp_data(NR["personality"], args=[arg]))
                expected = OPS[op](arg, value, value_two)
                want = SECCOMP_RET_ALLOW if expected else EPERM
                assert got == want, f"{op} arg={arg:#x} value={value:#x}"

    @pytest.mark.parametrize("op", sorted(OPS))
    def test_random_values(self, op: str) -> None:
        rng = random.Random(op)
        for _ in range(20):
            value = rng.choice([rng.getrandbits(64), rng.getrandbits(32), rng.getrandbits(8)])
            value_two = value & rng.getrandbits(64)
            program = compile_profile(conditional(op, value, value_two, index=3)).program
            for _ in range(20):
                arg = rng.choice([value, value + 1, value - 1, rng.getrandbits(64)]) % 2**64
                got = run(program, seccomp_data(NR["personality"], args=[0, 0, 0, arg]))
                want = SECCOMP_RET_ALLOW if OPS[op](arg, value, value_two) else EPERM
                assert got == want, f"{op} arg={arg:#x} value={value:#x}"

    def test_32_bit_architecture_compares_low_halves(self) -> None:
        program = compile_profile(conditional("SCMP_CMP_EQ", 0x1_0000_0008)).program
        data = seccomp_data(NR32["personality"], AUDIT_ARCH_I386, [8])
        assert run(program, data) == SECCOMP_RET_ALLOW

    def test_conditions_of_one_rule_must_all_hold(self) -> None:
        profile = {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {
                    "names": ["kill"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [
                        {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                        {"index": 1, "value": 10, "op": "SCMP_CMP_EQ"},
                    ],
                }
            ],
        }
        assert verdict(profile, "kill", 1, 10) == EPERM
        assert verdict(profile, "kill", 1, 9) == SECCOMP_RET_ALLOW
        assert verdict(profile, "kill", 2, 10) == SECCOMP_RET_ALLOW

    def test_rules_of_one_call_are_alternatives(self) -> None:
        profile = {
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {
                    "names": ["personality"],
                    "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 0, "value": value, "op": "SCMP_CMP_EQ"}],
                }
                for value in (0, 8, 0x20000, 0xFFFFFFFF)
            ],
        }
        for value in (0, 8, 0x20000, 0xFFFFFFFF):
            assert verdict(profile, "personality", value) == SECCOMP_RET_ALLOW
        assert verdict(profile, "personality", 9) == EPERM

    def test_a_conditional_rule_beats_an_unconditional_one(self) -> None:
        profile = {
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["socket"], "action": "SCMP_ACT_ALLOW"},
                {
                    "names": ["socket"],
                    "action": "SCMP_ACT_ERRNO",
                    "errnoRet": errno.EAFNOSUPPORT,
                    "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_EQ"}],
                },
            ],
        }
        assert verdict(profile, "socket", 2) == SECCOMP_RET_ALLOW
        assert verdict(profile, "socket", 40) == SECCOMP_RET_ERRNO | errno.EAFNOSUPPORT

    def test_dockers_clone_rule(self) -> None:
        namespaces = 0x7E020000  # CLONE_NEW* flags Docker's profile refuses without SYS_ADMIN
        profile = {
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {
                    "names": ["clone"],
                    "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 0, "value": namespaces, "op": "SCMP_CMP_MASKED_EQ"}],
                },
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS},
            ],
        }
        assert verdict(profile, "clone", 0x01200011) == SECCOMP_RET_ALLOW  # fork's flags
        assert verdict(profile, "clone", 0x01200011 | 0x20000000) == EPERM  # CLONE_NEWPID
        assert verdict(profile, "clone3") == SECCOMP_RET_ERRNO | errno.ENOSYS


class TestBadProfiles:
    @pytest.mark.parametrize(
        ("profile", "message"),
        [
            ({"defaultAction": "SCMP_ACT_NOPE"}, "unknown action"),
            ({}, "unknown action"),
            ({"defaultAction": "SCMP_ACT_NOTIFY"}, "not supported"),
            (
                {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": "/run/x.sock"},
                "listenerPath",
            ),
            (
                {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_Z80"]},
                "unknown architecture",
            ),
            ({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["NOPE"]}, "filter flag"),
            (
                {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]},
                "names",
            ),
            (
                {
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [
                        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}
                    ],
                },
                "errnoRet",
            ),
            (
                {
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [
                        {
                            "names": ["kill"],
                            "action": "SCMP_ACT_ERRNO",
                            "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}],
                        }
                    ],
                },
                "index",
            ),
            (
                {
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [
                        {
                            "names": ["kill"],
                            "action": "SCMP_ACT_ERRNO",
                            "args": [{"index": 0, "value": -1, "op": "SCMP_CMP_EQ"}],
                        }
                    ],
                },
                "unsigned 64-bit",
            ),
            (
                {
                    "defaultAction": "SCMP_ACT_ALLOW",
                    "syscalls": [
                        {
                            "names": ["kill"],
                            "action": "SCMP_ACT_ERRNO",
                            "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}],
                        }
                    ],
                },
                "comparison",
            ),
        ],
    )
    def test_refused_in_one_line(self, profile: dict[str, Any], message: str) -> None:
        with pytest.raises(SeccompError) as caught:
            compile_profile(profile)
        assert message in str(caught.value)
        assert "\n" not in str(caught.value)

    def test_a_profile_too_long_for_the_kernel(self) -> None:
        rules = [
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": value, "op": "SCMP_CMP_GT"}],
            }
            for value in range(1000)
        ]
        with pytest.raises(SeccompError, match="4096"):
            compile_profile({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": rules})

    def test_flags(self) -> None:
        profile = {"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_LOG"]}
        assert compile_profile(profile).flags == seccomp.FILTER_FLAGS["SECCOMP_FILTER_FLAG_LOG"]


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86-64 filters")
def test_the_kernel_accepts_and_enforces_a_compiled_filter() -> None:
    """Install a filter in a child process: getppid fails with the rule's errno."""
    from berth_isolation_linux import syscalls

    program = compile_profile(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ALL_X86,
            "syscalls": [
                {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EROFS},
                {
                    "names": ["getpriority"],
                    "action": "SCMP_ACT_ERRNO",
                    "errnoRet": errno.EXDEV,
                    "args": [{"index": 1, "value": 4242, "op": "SCMP_CMP_EQ"}],
                },
            ],
        }
    )
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)
            syscalls.seccomp_set_filter(program.program, program.flags)
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            results = []
            getppid, getpriority = 110, 140
            for call in (
                lambda: libc.syscall(getppid),
                lambda: libc.syscall(getpriority, 0, 4242),
                lambda: libc.syscall(getpriority, 0, 0),
            ):
                ctypes.set_errno(0)
                value = call()
                results.append(f"{value}:{ctypes.get_errno()}")
            os.write(write, " ".join(results).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    out = os.read(read, 1000).decode()
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    getppid, blocked, allowed = out.split()
    assert getppid == f"-1:{errno.EROFS}"
    assert blocked == f"-1:{errno.EXDEV}"
    assert allowed.split(":")[0] != "-1"
