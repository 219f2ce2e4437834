"""The last steps of any container process before ``execve``: rlimits, no_new_privs, user and
groups, capabilities, seccomp, working directory, and finding the program — with Docker's
messages when that fails.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # the C module behind signal
import errno
import os
import resource
import stat

from berth_isolation_linux import caps
from berth_isolation_linux import syscalls as sc
from berth_isolation_linux.config import Process, Rlimit

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from berth_isolation_linux.seccomp import Filter

SIGKILL, SIGSTOP = 9, 19


def reset_signals() -> None:
    """Default dispositions and an empty mask: a Python parent ignores SIGPIPE and SIGXFSZ,
    and ignored signals stay ignored across ``execve``. (The C module, with plain numbers:
    the ``signal`` wrapper's enum conversions cost half a millisecond in a fresh child.)"""
    for sig in range(1, _signal.NSIG):
        if sig in (SIGKILL, SIGSTOP):
            continue
        try:
            # Python knows every disposition since its start: only change what is not default
            if _signal.getsignal(sig) != _signal.SIG_DFL:
                _signal.signal(sig, _signal.SIG_DFL)
        except (OSError, ValueError, RuntimeError):
            continue
    _signal.pthread_sigmask(_signal.SIG_SETMASK, [])


# --- rlimits ----------------------------------------------------------------------------------


def _effective_caps() -> int:
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def _show(value: int) -> str:
    return "unlimited" if value == resource.RLIM_INFINITY else str(value)


def rlimit_problem(limit: Rlimit) -> str | None:
    """Why ``limit`` cannot be set here, or ``None`` if it can."""
    _, hard = resource.getrlimit(limit.resource)
    raising = hard != resource.RLIM_INFINITY and (
        limit.hard == resource.RLIM_INFINITY or limit.hard > hard
    )
    if not raising or _effective_caps() >> caps.CAP_SYS_RESOURCE & 1:
        return None
    short = limit.name.removeprefix("RLIMIT_").lower()
    return (
        f"cannot set {limit.name} to {_show(limit.soft)}:{_show(limit.hard)}: the hard limit "
        f"here is {hard} and raising it needs CAP_SYS_RESOURCE, which this host does not grant; "
        f"ask for at most {hard} (--ulimit {short}={hard}:{hard})"
    )


def check_rlimits(process: Process) -> None:
    """Refuse, before anything is forked, rlimits the host will not allow."""
    for limit in process.rlimits:
        problem = rlimit_problem(limit)
        if problem:
            raise OSError(errno.EPERM, problem)


def apply_rlimits(process: Process) -> None:
    for limit in process.rlimits:
        try:
            resource.setrlimit(limit.resource, (limit.soft, limit.hard))
        except (OSError, ValueError) as exc:
            problem = rlimit_problem(limit) or (
                f"cannot set {limit.name} to {_show(limit.soft)}:{_show(limit.hard)}: {exc}"
            )
            raise OSError(errno.EPERM, problem) from None


# --- identity ---------------------------------------------------------------------------------


def switch_user(process: Process) -> None:
    """Bounding set, user and groups, then effective/permitted/inheritable/ambient capabilities."""
    sets = process.capabilities
    user = process.user
    sc.prctl(sc.PR_SET_KEEPCAPS, 1)
    caps.drop_bounding(sets.bounding)
    try:
        os.setgroups(list(user.groups))
        os.setresgid(user.gid, user.gid, user.gid)
        os.setresuid(user.uid, user.uid, user.uid)
    except OSError as exc:
        raise OSError(
            exc.errno, f"cannot switch to user {user.uid}:{user.gid}: {exc.strerror}"
        ) from None
    sc.prctl(sc.PR_SET_KEEPCAPS, 0)
    caps.apply(sets)
    os.umask(user.umask if user.umask is not None else 0o022)


def home_of(uid: int, passwd: str = "/etc/passwd") -> str:
    """The home directory of ``uid`` in the container's /etc/passwd, or ``/``."""
    try:
        with open(passwd, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                fields = line.rstrip("\n").split(":")
                if len(fields) >= 6 and fields[2] == str(uid) and fields[5]:
                    return fields[5]
    except OSError:
        pass
    return "/"


def environment(process: Process) -> dict[str, str]:
    """The process's environment; ``HOME`` from /etc/passwd when the spec leaves it out."""
    env = process.env_map
    if "HOME" not in env:
        env["HOME"] = home_of(process.user.uid)
    return env


# --- the program ------------------------------------------------------------------------------


class ExecFailed(OSError):
    """A program that cannot be executed; ``exit_code`` is Docker's (127 not found, else 126)."""

    def __init__(self, errno_value: int, message: str) -> None:
        super().__init__(errno_value, message)
        self.exit_code = 127 if errno_value == errno.ENOENT else 126


class Failure:
    """Why the program cannot run: an errno and Docker's one-line text."""

    __slots__ = ("errno", "message")

    def __init__(self, errno_value: int, message: str) -> None:
        self.errno = errno_value
        self.message = message

    @property
    def exit_code(self) -> int:
        return 127 if self.errno == errno.ENOENT else 126

    def error(self) -> ExecFailed:
        return ExecFailed(self.errno, self.message)


def _why_not_executable(path: str) -> tuple[int, str] | None:
    try:
        st = os.stat(path)
    except OSError as exc:
        code = exc.errno or errno.ENOENT
        return code, f"stat {path}: {os.strerror(code).lower()}"
    if stat.S_ISDIR(st.st_mode):
        return errno.EISDIR, "is a directory"
    if st.st_mode & 0o111:
        return None
    return errno.EACCES, "permission denied"


def lookup(program: str, env: Mapping[str, str]) -> str | Failure:
    """Find ``program`` as Go's ``exec.LookPath`` does (what Docker's messages come from)."""
    if "/" in program:
        problem = _why_not_executable(program)
        if problem is None:
            return program
        return Failure(problem[0], f'exec: "{program}": {problem[1]}')
    for directory in env.get("PATH", "").split(":"):
        candidate = os.path.join(directory or ".", program)
        if _why_not_executable(candidate) is None:
            return candidate
    return Failure(errno.ENOENT, f'exec: "{program}": executable file not found in $PATH')


def change_directory(cwd: str) -> None:
    try:
        os.chdir(cwd)
    except OSError as exc:
        reason = os.strerror(exc.errno or errno.EIO).lower()
        raise OSError(
            exc.errno, f'chdir to cwd ("{cwd}") set in config.json failed: {reason}'
        ) from None


class Prepared:
    """A process ready for ``execve`` (or knowing why it cannot run)."""

    __slots__ = ("args", "env", "late_seccomp", "program")

    def __init__(
        self,
        program: str | Failure,
        args: tuple[str, ...],
        env: dict[str, str],
        late_seccomp: Filter | None,
    ) -> None:
        self.program = program
        self.args = args
        self.env = env
        self.late_seccomp = late_seccomp


def prepare(process: Process, seccomp: Filter | None) -> Prepared:
    """Everything up to ``execve``; the caller then waits for its go and calls :func:`run`."""
    apply_rlimits(process)
    if process.no_new_privileges:
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    elif seccomp is not None:
        # without no_new_privs, installing a filter needs CAP_SYS_ADMIN: do it before the drop
        install_seccomp(seccomp)
    switch_user(process)
    change_directory(process.cwd)
    env = environment(process)
    program = lookup(process.args[0], env)
    late = seccomp if process.no_new_privileges else None
    return Prepared(program, process.args, env, late)


def install_seccomp(program: Filter) -> None:
    try:
        sc.seccomp_set_filter(program.program, program.flags)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot install the seccomp filter: {exc.strerror}") from None


def run(prepared: Prepared) -> Failure:
    """``execve`` the program; returns only if that failed, with why."""
    if isinstance(prepared.program, Failure):
        return prepared.program
    if prepared.late_seccomp is not None:
        install_seccomp(prepared.late_seccomp)
    try:
        os.execve(prepared.program, list(prepared.args), prepared.env)
    except OSError as exc:
        code = exc.errno or errno.ENOEXEC
        return Failure(code, f"exec {prepared.program}: {os.strerror(code).lower()}")
    raise AssertionError("execve returned")
