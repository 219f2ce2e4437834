"""Docker's default seccomp profile, rendered per container; custom profiles; opting out."""

from __future__ import annotations

import errno
import json
from collections.abc import Collection
from typing import Any

import pytest
from berth.engine.containers import seccomp
from berth.engine.containers.hostconfig import CAPABILITIES, DEFAULT_CAPABILITIES

from .kit import one_line

DEFAULT = list(DEFAULT_CAPABILITIES)


def rendered(
    caps: Collection[str] = DEFAULT, arch: str = "amd64", kernel: tuple[int, int] = (6, 1)
) -> dict[str, Any]:
    return seccomp.render(seccomp.DEFAULT_PROFILE, caps, arch, kernel)


def allowed_plainly(profile: dict[str, Any]) -> set[str]:
    """Syscalls allowed whatever their arguments."""
    return {
        name
        for rule in profile["syscalls"]
        if rule["action"] == seccomp.ALLOW and not rule.get("args")
        for name in rule["names"]
    }


def rules_for(profile: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [rule for rule in profile["syscalls"] if name in rule["names"]]


def test_default_action_is_eperm_on_the_native_arches() -> None:
    profile = rendered()
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert profile["defaultErrnoRet"] == errno.EPERM == 1
    assert profile["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert rendered(arch="arm64")["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert rendered(arch="riscv64")["architectures"] == ["SCMP_ARCH_RISCV64"]
    assert "architectures" not in rendered(arch="sparc64")  # unknown: libseccomp's native


def test_ordinary_syscalls_are_allowed_and_dangerous_ones_are_not() -> None:
    allowed = allowed_plainly(rendered())
    for name in ("read", "write", "openat", "execve", "futex", "exit_group", "arch_prctl", "rseq"):
        assert name in allowed, name
    for name in (
        "mount", "umount2", "unshare", "setns", "init_module", "finit_module", "delete_module",
        "reboot", "kexec_load", "swapon", "acct", "settimeofday", "clock_settime", "add_key",
        "keyctl", "request_key", "bpf", "perf_event_open", "iopl", "ioperm", "open_by_handle_at",
        "kcmp", "pidfd_getfd", "syslog", "vhangup", "userfaultfd", "clone3",
    ):  # fmt: skip
        assert name not in allowed, name
    everything = {n for rule in rendered()["syscalls"] for n in rule["names"]}
    assert "mount" not in everything and "kexec_load" not in everything
    assert len(allowed) > 300


def test_clone_is_allowed_only_without_namespace_flags() -> None:
    profile = rendered()
    (clone,) = rules_for(profile, "clone")
    assert clone["action"] == seccomp.ALLOW
    assert clone["args"] == [
        {"index": 0, "value": 2114060288, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}
    ]
    assert seccomp.CLONE_NAMESPACE_FLAGS == 0x7E020000
    (clone3,) = rules_for(profile, "clone3")
    assert clone3 == {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS}
    s390 = rendered(arch="s390x")
    (clone_s390,) = rules_for(s390, "clone")
    assert clone_s390["args"][0]["index"] == 1


def test_sys_admin_opens_the_admin_group_and_plain_clone() -> None:
    profile = rendered([*DEFAULT, "CAP_SYS_ADMIN"])
    allowed = allowed_plainly(profile)
    for name in ("mount", "umount2", "unshare", "setns", "clone", "clone3", "sethostname", "bpf"):
        assert name in allowed, name
    assert not any(rule.get("errnoRet") == errno.ENOSYS for rule in profile["syscalls"])
    assert all(not rule.get("args") for rule in rules_for(profile, "clone"))


@pytest.mark.parametrize(
    "cap, names",
    [
        ("CAP_SYS_PTRACE", ("kcmp", "pidfd_getfd", "process_madvise")),
        ("CAP_SYS_MODULE", ("init_module", "finit_module", "delete_module")),
        ("CAP_SYS_TIME", ("settimeofday", "clock_settime")),
        ("CAP_SYS_BOOT", ("reboot",)),
        ("CAP_SYS_RAWIO", ("iopl", "ioperm")),
        ("CAP_SYS_NICE", ("mbind", "set_mempolicy")),
        ("CAP_DAC_READ_SEARCH", ("open_by_handle_at",)),
        ("CAP_BPF", ("bpf",)),
        ("CAP_PERFMON", ("perf_event_open",)),
        ("CAP_SYSLOG", ("syslog",)),
        ("CAP_SYS_PACCT", ("acct",)),
        ("CAP_SYS_TTY_CONFIG", ("vhangup",)),
    ],
)
def test_capabilities_open_their_syscalls(cap: str, names: tuple[str, ...]) -> None:
    without = allowed_plainly(rendered())
    with_cap = allowed_plainly(rendered([*DEFAULT, cap]))
    for name in names:
        assert name not in without and name in with_cap, (cap, name)


def test_chroot_follows_sys_chroot() -> None:
    assert "chroot" in allowed_plainly(rendered())  # a default capability
    dropped = [c for c in DEFAULT if c != "CAP_SYS_CHROOT"]
    assert "chroot" not in allowed_plainly(rendered(dropped))


def test_ptrace_needs_kernel_4_8_or_the_capability() -> None:
    assert "ptrace" in allowed_plainly(rendered(kernel=(4, 8)))
    assert "ptrace" not in allowed_plainly(rendered(kernel=(4, 4)))
    assert "ptrace" in allowed_plainly(rendered([*DEFAULT, "CAP_SYS_PTRACE"], kernel=(4, 4)))


def test_personality_and_socket_are_conditional() -> None:
    profile = rendered()
    values = sorted(rule["args"][0]["value"] for rule in rules_for(profile, "personality"))
    assert values == [0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF]
    assert all(r["args"][0]["op"] == "SCMP_CMP_EQ" for r in rules_for(profile, "personality"))
    (socket,) = rules_for(profile, "socket")
    assert socket["args"] == [{"index": 0, "value": 40, "valueTwo": 0, "op": "SCMP_CMP_NE"}]


def test_arch_specific_rules() -> None:
    assert "arch_prctl" in allowed_plainly(rendered(arch="amd64"))
    assert "modify_ldt" in allowed_plainly(rendered(arch="amd64"))
    arm = allowed_plainly(rendered(arch="arm64"))
    assert "arch_prctl" not in arm and "cacheflush" in arm and "modify_ldt" not in arm


def test_privileged_and_unconfined_have_no_filter() -> None:
    assert seccomp.for_container([], privileged=True, caps=DEFAULT) is None
    assert seccomp.for_container(["seccomp=unconfined"], False, DEFAULT) is None
    assert seccomp.for_container(["seccomp:unconfined"], False, DEFAULT) is None
    default = seccomp.for_container(["no-new-privileges"], False, DEFAULT, "amd64", (6, 1))
    assert default == rendered()
    assert seccomp.for_container(["seccomp=builtin"], False, DEFAULT, "amd64", (6, 1)) == default


def test_all_capabilities_allow_more_than_defaults() -> None:
    assert allowed_plainly(rendered(DEFAULT)) < allowed_plainly(rendered(CAPABILITIES))


CUSTOM = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
    "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        {"name": "chmod", "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_FOWNER"]}},
        {"name": "chown", "action": "SCMP_ACT_ERRNO", "excludes": {"minKernel": "4.0"}},
        {
            "names": ["socket"],
            "action": "SCMP_ACT_ERRNO",
            "args": [{"index": 0, "value": 10, "op": "SCMP_CMP_EQ"}],
        },
    ],
}


def test_custom_profiles_are_rendered_the_same_way() -> None:
    profile = seccomp.for_container([f"seccomp={json.dumps(CUSTOM)}"], False, DEFAULT, "amd64")
    assert profile is not None
    assert profile["defaultAction"] == "SCMP_ACT_ALLOW" and "defaultErrnoRet" not in profile
    assert profile["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    names = [rule["names"] for rule in profile["syscalls"]]
    assert names == [["mkdir", "mkdirat"], ["chmod"], ["socket"]]  # chown excluded on 6.x
    assert profile["syscalls"][0]["errnoRet"] == 13
    assert profile["syscalls"][2]["args"] == [
        {"index": 0, "value": 10, "valueTwo": 0, "op": "SCMP_CMP_EQ"}
    ]
    empty = seccomp.for_container(['seccomp={"syscalls": []}'], False, DEFAULT)
    assert empty is None  # Docker reads an empty profile as "no filter"


@pytest.mark.parametrize(
    "text, message",
    [
        ("{nope", "Decoding seccomp profile failed: "),
        ("[]", "Decoding seccomp profile failed: not a JSON object"),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], '
            '"archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}',
            "'architectures' and 'archMap' were specified in the seccomp profile, "
            "use either 'architectures' or 'archMap'",
        ),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "a", "names": ["b"], '
            '"action": "SCMP_ACT_ALLOW"}]}',
            "'name' and 'names' were specified in the seccomp profile, "
            "use either 'name' or 'names'",
        ),
        ('{"defaultAction": "SCMP_ACT_NOPE"}', "unknown action 'SCMP_ACT_NOPE'"),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], '
            '"action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "LT"}]}]}',
            "unknown operator 'LT'",
        ),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], '
            '"action": "SCMP_ACT_ALLOW", "args": [{"index": -1, "value": 1, '
            '"op": "SCMP_CMP_EQ"}]}]}',
            "index must be a number",
        ),
        (
            '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["a"], '
            '"action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "x.y"}}]}',
            "invalid kernel version: x.y",
        ),
    ],
)
def test_bad_profiles_fail_clearly(text: str, message: str) -> None:
    with pytest.raises(seccomp.ProfileError) as caught:
        seccomp.load_profile(text)
    assert message in one_line(caught)


def test_host_helpers() -> None:
    assert seccomp.host_goarch("x86_64") == "amd64"
    assert seccomp.host_goarch("aarch64") == "arm64"
    assert seccomp.host_kernel("6.1.0-13-amd64") == (6, 1)
    assert seccomp.host_kernel("5.15rc1") == (5, 15)
    assert seccomp.host_kernel("6") == (0, 0)
    assert seccomp.host_kernel("garbage") == (0, 0)
    assert seccomp.seccomp_option(["label=x", "seccomp=/p.json"]) == "/p.json"
    assert seccomp.seccomp_option([]) == ""
