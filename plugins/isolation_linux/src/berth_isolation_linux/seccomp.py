"""An OCI ``linux.seccomp`` profile compiled to a classic BPF seccomp filter, in Python.

The program (x86-64 hosts; the architectures ``SCMP_ARCH_X86_64``, ``SCMP_ARCH_X86`` and
``SCMP_ARCH_X32``):

1. the architecture check: a call made in an architecture the profile does not list is killed
   (``SECCOMP_RET_KILL_PROCESS``), as libseccomp's "bad architecture" action does;
2. per architecture, calls numbered above every call the profile names get ``ENOSYS`` when the
   default action denies (what runc does, so that a C library falls back from a call newer
   than the profile, such as ``clone3``, instead of failing with ``EPERM``);
3. a chain of ``syscall == N`` checks; a call with only unconditional rules returns its action
   at once, one with argument conditions jumps to its own block: the conditional rules in the
   profile's order (every condition of a rule must hold), then the unconditional one, then the
   default action;
4. the default action.

64-bit argument values are compared as two 32-bit halves (classic BPF has 32-bit registers);
comparisons are unsigned, like libseccomp's. For 32-bit x86, only the low halves count.
"""

from __future__ import annotations

import errno
import struct

from berth_isolation_linux.syscall_table import X32_SYSCALL_BIT, table

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from typing import Any

# --- BPF --------------------------------------------------------------------------------------

BPF_LD_W_ABS = 0x20
BPF_ALU_AND_K = 0x54
BPF_JMP_JA = 0x05
BPF_JMP_JEQ_K = 0x15
BPF_JMP_JGT_K = 0x25
BPF_JMP_JGE_K = 0x35
BPF_RET_K = 0x06
#: The kernel's limit on a filter's length.
BPF_MAXINSNS = 4096

# offsets in struct seccomp_data
OFFSET_NR = 0
OFFSET_ARCH = 4
OFFSET_ARGS = 16

# --- seccomp ------------------------------------------------------------------------------------

SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_KILL_THREAD = 0x00000000
SECCOMP_RET_TRAP = 0x00030000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_LOG = 0x7FFC0000
SECCOMP_RET_ALLOW = 0x7FFF0000

AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003

#: OCI architecture names → (audit arch value, syscall table).
ARCHITECTURES: dict[str, tuple[int, str]] = {
    "SCMP_ARCH_X86_64": (AUDIT_ARCH_X86_64, "x86_64"),
    "SCMP_ARCH_X86": (AUDIT_ARCH_I386, "x86"),
    "SCMP_ARCH_X32": (AUDIT_ARCH_X86_64, "x32"),
}

#: Architectures a profile may name that cannot run on an x86-64 host (ignored).
FOREIGN_ARCHITECTURES = frozenset(
    {
        "SCMP_ARCH_ARM",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_MIPS",
        "SCMP_ARCH_MIPS64",
        "SCMP_ARCH_MIPS64N32",
        "SCMP_ARCH_MIPSEL",
        "SCMP_ARCH_MIPSEL64",
        "SCMP_ARCH_MIPSEL64N32",
        "SCMP_ARCH_PPC",
        "SCMP_ARCH_PPC64",
        "SCMP_ARCH_PPC64LE",
        "SCMP_ARCH_S390",
        "SCMP_ARCH_S390X",
        "SCMP_ARCH_PARISC",
        "SCMP_ARCH_PARISC64",
        "SCMP_ARCH_RISCV64",
        "SCMP_ARCH_LOONGARCH64",
    }
)

FILTER_FLAGS: dict[str, int] = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1,
    "SECCOMP_FILTER_FLAG_LOG": 2,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
}

#: Actions that let a call through (the others deny it).
_PERMISSIVE = (SECCOMP_RET_ALLOW, SECCOMP_RET_LOG)

COMPARISONS = frozenset(
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

_U64 = (1 << 64) - 1


class SeccompError(ValueError):
    """The profile cannot be compiled; the message says what to fix."""


class Condition:
    __slots__ = ("index", "op", "value", "value_two")

    def __init__(self, index: int, value: int, value_two: int, op: str) -> None:
        self.index = index
        self.value = value
        self.value_two = value_two
        self.op = op


class Rule:
    __slots__ = ("action", "conditions")

    def __init__(self, conditions: tuple[Condition, ...], action: int) -> None:
        self.conditions = conditions
        self.action = action


class Filter:
    """A compiled filter: the program's bytes (``struct sock_filter`` array) and its flags."""

    __slots__ = ("flags", "program")

    def __init__(self, program: bytes, flags: int) -> None:
        self.program = program
        self.flags = flags

    @property
    def length(self) -> int:
        return len(self.program) // 8


def action_value(name: str, errno_ret: int | None, where: str) -> int:
    """The ``SECCOMP_RET_*`` value of an OCI action name."""
    if name in ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD"):
        return SECCOMP_RET_KILL_THREAD
    if name == "SCMP_ACT_KILL_PROCESS":
        return SECCOMP_RET_KILL_PROCESS
    if name == "SCMP_ACT_TRAP":
        return SECCOMP_RET_TRAP
    if name == "SCMP_ACT_ALLOW":
        return SECCOMP_RET_ALLOW
    if name == "SCMP_ACT_LOG":
        return SECCOMP_RET_LOG
    if name in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        data = errno.EPERM if errno_ret is None else errno_ret
        if not isinstance(data, int) or isinstance(data, bool) or not 0 <= data <= 0xFFFF:
            raise SeccompError(f"seccomp {where}: errnoRet must be 0..65535, not {data!r}")
        base = SECCOMP_RET_ERRNO if name == "SCMP_ACT_ERRNO" else SECCOMP_RET_TRACE
        return base | data
    if name == "SCMP_ACT_NOTIFY":
        raise SeccompError(
            f"seccomp {where}: SCMP_ACT_NOTIFY (a user-space listener) is not supported by "
            "the linux isolation backend; use another action"
        )
    raise SeccompError(f"seccomp {where}: unknown action {name!r}")


def _u64(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _U64:
        raise SeccompError(f"seccomp: {what} must be an unsigned 64-bit integer, not {value!r}")
    return value


def parse_rules(profile: Mapping[str, Any]) -> tuple[int, list[tuple[list[str], Rule]]]:
    """The default action and, in profile order, each entry's syscall names and rule."""
    if not isinstance(profile, dict):
        raise SeccompError("linux.seccomp must be an object")
    if profile.get("listenerPath"):
        raise SeccompError("seccomp: listenerPath (a user-space notifier) is not supported")
    default = action_value(
        str(profile.get("defaultAction", "")), profile.get("defaultErrnoRet"), "defaultAction"
    )
    entries: list[tuple[list[str], Rule]] = []
    for number, entry in enumerate(profile.get("syscalls") or (), 1):
        where = f"rule {number}"
        names = entry.get("names") or ([entry["name"]] if entry.get("name") else [])
        if not names or not all(isinstance(n, str) for n in names):
            raise SeccompError(f"seccomp {where}: 'names' must list system call names")
        action = action_value(str(entry.get("action", "")), entry.get("errnoRet"), where)
        conditions = []
        for arg in entry.get("args") or ():
            op = arg.get("op")
            if op not in COMPARISONS:
                raise SeccompError(f"seccomp {where}: unknown comparison {op!r}")
            index = arg.get("index")
            if not isinstance(index, int) or not 0 <= index <= 5:
                raise SeccompError(f"seccomp {where}: argument index must be 0..5, not {index!r}")
            conditions.append(
                Condition(
                    index,
                    _u64(arg.get("value", 0), f"{where} value"),
                    _u64(arg.get("valueTwo", 0), f"{where} valueTwo"),
                    op,
                )
            )
        entries.append((list(names), Rule(tuple(conditions), action)))
    return default, entries


def architectures(profile: Mapping[str, Any]) -> list[str]:
    """The syscall tables to compile: the profile's x86 family, or x86_64 alone if it names
    none (libseccomp's native architecture)."""
    listed = profile.get("architectures") or []
    unknown = [a for a in listed if a not in ARCHITECTURES and a not in FOREIGN_ARCHITECTURES]
    if unknown:
        raise SeccompError(f"seccomp: unknown architecture {unknown[0]!r}")
    found = [ARCHITECTURES[a][1] for a in listed if a in ARCHITECTURES]
    return sorted(set(found), key=["x86_64", "x32", "x86"].index) or ["x86_64"]


def filter_flags(profile: Mapping[str, Any]) -> int:
    flags = 0
    for name in profile.get("flags") or ():
        if name not in FILTER_FLAGS:
            raise SeccompError(f"seccomp: unsupported filter flag {name!r}")
        flags |= FILTER_FLAGS[name]
    return flags


# --- assembly -----------------------------------------------------------------------------------


class Label:
    """A jump target, placed with :meth:`Program.place`."""

    __slots__ = ("at",)

    def __init__(self) -> None:
        self.at = -1


Target = Label | int  # an int is a relative offset


class Program:
    def __init__(self) -> None:
        self.code: list[tuple[int, Target, Target, int | Label]] = []

    def place(self, label: Label) -> None:
        label.at = len(self.code)

    def load(self, offset: int) -> None:
        self.code.append((BPF_LD_W_ABS, 0, 0, offset))

    def and_(self, mask: int) -> None:
        self.code.append((BPF_ALU_AND_K, 0, 0, mask))

    def jump(self, op: int, k: int, jt: Target = 0, jf: Target = 0) -> None:
        self.code.append((op, jt, jf, k))

    def goto(self, label: Label) -> None:
        self.code.append((BPF_JMP_JA, 0, 0, label))

    def ret(self, value: int) -> None:
        self.code.append((BPF_RET_K, 0, 0, value))

    def assemble(self) -> bytes:
        if len(self.code) > BPF_MAXINSNS:
            raise SeccompError(
                f"seccomp: the profile compiles to {len(self.code)} instructions, more than "
                f"the kernel's {BPF_MAXINSNS}; simplify the profile"
            )
        out = bytearray()
        for at, (op, jt, jf, k) in enumerate(self.code):
            rel_t, rel_f = _relative(jt, at), _relative(jf, at)
            if isinstance(k, Label):
                k = _relative(k, at)
            out += struct.pack("<HBBI", op, rel_t, rel_f, k)
        return bytes(out)


def _relative(target: Target, at: int) -> int:
    if isinstance(target, int):
        return target
    if target.at <= at:
        raise AssertionError("a label was never placed, or is behind its jump")
    return target.at - at - 1


def _check_short(program: Program) -> None:
    for at, (op, jt, jf, _k) in enumerate(program.code):
        if op in (BPF_JMP_JEQ_K, BPF_JMP_JGT_K, BPF_JMP_JGE_K):
            for target in (jt, jf):
                if _relative(target, at) > 255:
                    raise SeccompError("seccomp: a rule has too many argument conditions")


def _condition(program: Program, cond: Condition, fail: Label, wide: bool) -> None:
    """Fall through when ``cond`` holds; jump to ``fail`` when not."""
    lo_at = OFFSET_ARGS + 8 * cond.index
    hi_at = lo_at + 4
    value = cond.value if wide else cond.value & 0xFFFFFFFF
    v_hi, v_lo = value >> 32, value & 0xFFFFFFFF
    done = Label()
    op = cond.op
    if op == "SCMP_CMP_MASKED_EQ":
        mask = cond.value if wide else cond.value & 0xFFFFFFFF
        datum = cond.value_two if wide else cond.value_two & 0xFFFFFFFF
        if wide:
            program.load(hi_at)
            program.and_(mask >> 32)
            program.jump(BPF_JMP_JEQ_K, datum >> 32, 0, fail)
        program.load(lo_at)
        program.and_(mask & 0xFFFFFFFF)
        program.jump(BPF_JMP_JEQ_K, datum & 0xFFFFFFFF, 0, fail)
        return
    if not wide:  # 32-bit arguments: one comparison of the low halves
        program.load(lo_at)
        _compare_low(program, op, v_lo, fail, done)
        program.place(done)
        return
    program.load(hi_at)
    if op == "SCMP_CMP_EQ":
        program.jump(BPF_JMP_JEQ_K, v_hi, 0, fail)
    elif op == "SCMP_CMP_NE":
        program.jump(BPF_JMP_JEQ_K, v_hi, 0, done)
    elif op in ("SCMP_CMP_GT", "SCMP_CMP_GE"):
        program.jump(BPF_JMP_JGT_K, v_hi, done, 0)
        program.jump(BPF_JMP_JEQ_K, v_hi, 0, fail)
    else:  # LT, LE
        program.jump(BPF_JMP_JGT_K, v_hi, fail, 0)
        program.jump(BPF_JMP_JEQ_K, v_hi, 0, done)
    program.load(lo_at)
    _compare_low(program, op, v_lo, fail, done)
    program.place(done)


def _compare_low(program: Program, op: str, v_lo: int, fail: Label, done: Label) -> None:
    if op == "SCMP_CMP_EQ":
        program.jump(BPF_JMP_JEQ_K, v_lo, 0, fail)
    elif op == "SCMP_CMP_NE":
        program.jump(BPF_JMP_JEQ_K, v_lo, fail, 0)
    elif op == "SCMP_CMP_GT":
        program.jump(BPF_JMP_JGT_K, v_lo, 0, fail)
    elif op == "SCMP_CMP_GE":
        program.jump(BPF_JMP_JGE_K, v_lo, 0, fail)
    elif op == "SCMP_CMP_LT":
        program.jump(BPF_JMP_JGE_K, v_lo, fail, 0)
    elif op == "SCMP_CMP_LE":
        program.jump(BPF_JMP_JGT_K, v_lo, fail, 0)
    else:
        raise AssertionError(op)


#: The longest run of ``syscall == N`` checks that share one return instruction.
_RUN = 200


def _chain(
    program: Program,
    numbers: Mapping[int, list[Rule]],
    default: int,
    bodies: list[tuple[Label, list[Rule]]],
) -> None:
    """The ``syscall == N`` chain of one architecture; the accumulator holds the number."""
    plain: dict[int, list[int]] = {}
    for number in sorted(numbers):
        rules = numbers[number]
        if any(rule.conditions for rule in rules):
            body = Label()
            bodies.append((body, rules))
            program.jump(BPF_JMP_JEQ_K, number, 0, 1)
            program.goto(body)
            continue
        action = rules[0].action
        if action != default:
            plain.setdefault(action, []).append(number)
    for action, run in plain.items():
        for start in range(0, len(run), _RUN):
            part = run[start : start + _RUN]
            for i, number in enumerate(part):
                program.jump(BPF_JMP_JEQ_K, number, len(part) - i - 1, 0)
            # the last check falls through to the next run when it does not match
            program.code[-1] = (BPF_JMP_JEQ_K, 0, 1, part[-1])
            program.ret(action)
    program.ret(default)


def _body(program: Program, rules: Sequence[Rule], default: int, wide: bool) -> None:
    ordered = [r for r in rules if r.conditions] + [r for r in rules if not r.conditions]
    for rule in ordered:
        next_rule = Label()
        for cond in rule.conditions:
            _condition(program, cond, next_rule, wide)
        program.ret(rule.action)
        program.place(next_rule)
        if not rule.conditions:
            return  # an unconditional rule always matches: what follows is unreachable
    program.ret(default)


def _numbers(entries: Iterable[tuple[list[str], Rule]], arch: str) -> dict[int, list[Rule]]:
    names = table(arch)
    numbers: dict[int, list[Rule]] = {}
    for syscall_names, rule in entries:
        for name in syscall_names:
            number = names.get(name)
            if number is None:
                continue  # not a call of this architecture (or newer than this table): skip
            numbers.setdefault(number, []).append(rule)
    return numbers


def compile_profile(profile: Mapping[str, Any]) -> Filter:
    """Compile an OCI ``linux.seccomp`` object; raises :class:`SeccompError` on bad input."""
    default, entries = parse_rules(profile)
    arches = architectures(profile)
    flags = filter_flags(profile)
    denying = default not in _PERMISSIVE
    program = Program()
    bodies: list[tuple[Label, list[Rule], bool]] = []
    labels = {arch: Label() for arch in arches}

    program.load(OFFSET_ARCH)
    if "x86_64" in arches or "x32" in arches:
        first = labels.get("x86_64") or labels["x32"]
        program.jump(BPF_JMP_JEQ_K, AUDIT_ARCH_X86_64, 0, 1)
        program.goto(first)
    if "x86" in arches:
        program.jump(BPF_JMP_JEQ_K, AUDIT_ARCH_I386, 0, 1)
        program.goto(labels["x86"])
    program.ret(SECCOMP_RET_KILL_PROCESS)  # an architecture the profile does not list

    for arch in arches:
        numbers = _numbers(entries, arch)
        arch_bodies: list[tuple[Label, list[Rule]]] = []
        program.place(labels[arch])
        program.load(OFFSET_NR)
        if arch == "x86_64":
            x32 = labels.get("x32")
            program.jump(BPF_JMP_JGE_K, X32_SYSCALL_BIT, 0, 1)
            if x32 is not None:
                program.goto(x32)
            else:
                program.ret(SECCOMP_RET_KILL_PROCESS)
        elif arch == "x32":
            program.jump(BPF_JMP_JGE_K, X32_SYSCALL_BIT, 1, 0)
            program.ret(SECCOMP_RET_KILL_PROCESS)
        if denying and numbers:
            program.jump(BPF_JMP_JGT_K, max(numbers), 0, 1)
            program.ret(SECCOMP_RET_ERRNO | errno.ENOSYS)
        _chain(program, numbers, default, arch_bodies)
        bodies.extend((label, rules, arch != "x86") for label, rules in arch_bodies)

    for label, rules, wide in bodies:
        program.place(label)
        _body(program, rules, default, wide)
    _check_short(program)
    return Filter(program.assemble(), flags)
