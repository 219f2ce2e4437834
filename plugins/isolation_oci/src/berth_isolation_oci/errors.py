"""A runtime's error messages, as the launcher protocol wants them: one line that says what is
wrong, and an errno that tells Docker's exit codes apart.

- A program that cannot be executed: runc wraps Docker's text (``runc create failed: unable
  to start container process: exec: "nope": executable file not found in $PATH``); the launcher
  keeps the text from ``exec: "`` on, with ENOENT (exit code 127) or EACCES/EISDIR/ENOTDIR (126).
- An rlimit the host does not allow: runc says ``error setting rlimit type 7: operation not
  permitted``; the launcher names the limit, the values asked for and the host's hard limit.
- Anything else: ``OCI runtime <command> failed: <the runtime's message>``.

Launcher side: standard library only.
"""

from __future__ import annotations

import errno

#: Linux's RLIMIT_* numbers, as runc reports them.
RLIMIT_NAMES = (
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
_RLIMIT_MARK = "error setting rlimit type "
_EXEC_MARK = 'exec: "'
#: Debian's crun 1.8 on a host with both cgroup v1 and a cgroup2 hierarchy with controllers.
_HYBRID_MARK = "cgroups in hybrid mode not supported"


def exec_errno(message: str) -> int:
    """The errno of a program that could not be executed, from its message."""
    text = message.lower()
    if "executable file not found" in text or "no such file or directory" in text:
        return errno.ENOENT
    if "not a directory" in text:
        return errno.ENOTDIR
    if "is a directory" in text:
        return errno.EISDIR
    return errno.EACCES


def _rlimit_text(message: str, rlimits: list[dict[str, object]]) -> str:
    start = message.index(_RLIMIT_MARK) + len(_RLIMIT_MARK)
    digits = message[start:].split(":", 1)[0].strip()
    if not digits.isdigit() or int(digits) >= len(RLIMIT_NAMES):
        return ""
    name = RLIMIT_NAMES[int(digits)]
    asked = next((r for r in rlimits if r.get("type") == name), None)
    values = f" to {asked.get('soft')}:{asked.get('hard')}" if asked else ""
    host = ""
    try:
        import resource

        hard = resource.getrlimit(int(digits))[1]
        if hard != resource.RLIM_INFINITY:
            host = f"; the hard limit here is {hard} and raising it needs CAP_SYS_RESOURCE"
    except (ImportError, OSError, ValueError):
        host = ""
    return f"setrlimit {name}{values}: operation not permitted{host}"


def launch_error(
    command: str, message: str, rlimits: list[dict[str, object]] | None = None
) -> OSError:
    """The OSError a launcher raises for the runtime's failed ``command``."""
    if _EXEC_MARK in message:
        text = message[message.index(_EXEC_MARK) :]
        error = OSError(exec_errno(text), text)
        # Docker's exit code, as the launcher contract asks (127: not found; 126: cannot run).
        error.exit_code = 127 if error.errno == errno.ENOENT else 126  # type: ignore[attr-defined]
        return error
    if _RLIMIT_MARK in message:
        text = _rlimit_text(message, rlimits or [])
        if text:
            return OSError(errno.EPERM, text)
    if _HYBRID_MARK in message:
        return OSError(
            errno.ENOTSUP,
            f'crun refuses this host\'s hybrid cgroup layout ("{_HYBRID_MARK}"); use runc or '
            "the native linux runtime",
        )
    return OSError(errno.EIO, f"OCI runtime {command} failed: {message}")
