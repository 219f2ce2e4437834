"""The launcher protocol: how a container's monitor creates and starts its processes.

berthd is never a container's parent. Each container has a small **monitor** process (core's
``berth.monitor``) that holds its stdio and waits for it. The monitor does not load plugins: it
imports one module, the *launcher* named by the backend's
:attr:`~berth.plugins.IsolationRuntimeSpec.launcher`, and calls the functions below in its own
process. A launcher module is therefore light: **the standard library (ctypes included) and its
own package only** — never pluggy, structlog or ``berth`` itself (``berth.plugins`` pulls pluggy
in; this module is for type checking and documentation, import it only under
``typing.TYPE_CHECKING``).

The five functions, module-level in the launcher::

    create(bundle, state_dir, stdio, console) -> int
    start(state_dir) -> None
    exec(bundle, state_dir, process, stdio, console) -> int
    oom_killed(state_dir) -> bool
    delete(state_dir) -> None

Arguments and rules common to all of them:

- ``bundle``: an OCI runtime bundle directory: ``config.json`` (OCI runtime spec 1.0) and the
  root file system its ``root.path`` names (relative to the bundle or absolute).
- ``state_dir``: an existing directory the backend owns for this one container (its files are
  the backend's business). The caller creates it empty before ``create`` and removes it after
  ``delete``. The daemon-side :class:`~berth.plugins.IsolationRuntime` reads the same directory.
- ``stdio``: three file descriptors (stdin, stdout, stderr) the process gets; ``-1`` means
  ``/dev/null``. The caller keeps its own copies (the launcher duplicates them).
- ``console``: ``None``, or a connected ``AF_UNIX`` socket. Then the process gets a terminal
  (``process.terminal`` is true): the launcher allocates a pseudo-terminal *inside* the
  container (from its ``/dev/pts``), makes the slave the process's controlling terminal and its
  stdin/stdout/stderr (``stdio`` is ignored), and sends the master to the caller over
  ``console``: one message whose ancillary data carries exactly one descriptor
  (``SCM_RIGHTS``), as runc's ``--console-socket`` does.
- The caller must be able to wait for the processes: ``create`` makes the calling process a
  child subreaper (``PR_SET_CHILD_SUBREAPER``), so the container's init and exec'd processes
  are the caller's children (after intermediate helpers exit) and it reaps them with
  ``waitpid``. Helpers the launcher forks are reaped by the launcher; a caller that reaps with
  ``waitpid(-1)`` at the same time must ignore PIDs it was not given.
- ``create``, ``start`` and ``exec`` of one container are called from one process (the
  monitor); ``start`` follows its ``create``.
- Errors: a user's mistake or a host limit raises ``ValueError`` or ``OSError`` whose message
  is **one line** saying what is wrong (``setrlimit RLIMIT_NOFILE to 30000: operation not
  permitted; the hard limit here is 20000 ...``); a failed ``create`` leaves nothing behind.
- A program that cannot be executed raises ``OSError`` whose ``strerror`` is Docker's text,
  whose ``errno`` says why, and which has an ``exit_code`` attribute with Docker's exit code —
  the attribute is what tells it from other errors:

  ======================================================  =========  =========
  message                                                 errno      exit_code
  ======================================================  =========  =========
  ``exec: "nope": executable file not found in $PATH``    ENOENT     127
  ``exec: "/x": stat /x: no such file or directory``      ENOENT     127
  ``exec: "/etc": is a directory``                        EISDIR     126
  ``exec: "/etc/passwd": permission denied``              EACCES     126
  ======================================================  =========  =========

  (runc 1.1 built with an older Go says ``exec: "/etc": permission denied`` for a directory.)

  ``start`` raises it when the init's ``execve`` fails (the init then exits with that code by
  itself, and the caller still reaps it); a backend that finds out earlier (runc looks the
  program up during ``create``) may raise it from ``create`` instead, with nothing left to
  reap. ``exec`` raises it for its process (and reaps that process).
"""

from __future__ import annotations

import errno
from collections.abc import Mapping
from typing import Any, Protocol

#: Exit code of a process whose program was not found (Docker's).
EXIT_NOT_FOUND = 127
#: Exit code of a process whose program was found but could not be executed (Docker's).
EXIT_CANNOT_EXECUTE = 126


def exec_exit_code(error: OSError) -> int | None:
    """Docker's exit code if ``error`` says a program could not be executed, else ``None``."""
    code = getattr(error, "exit_code", None)
    return code if isinstance(code, int) else None


def exit_code_for(errno_value: int) -> int:
    """Docker's exit code for an ``execve`` that failed with ``errno_value``: 127 if the
    program does not exist, 126 otherwise."""
    return EXIT_NOT_FOUND if errno_value == errno.ENOENT else EXIT_CANNOT_EXECUTE


class Launcher(Protocol):
    """A launcher module, as the monitor sees it (a module satisfies this protocol)."""

    def create(
        self, bundle: str, state_dir: str, stdio: tuple[int, int, int], console: int | None
    ) -> int:
        """Create the container's init process from the bundle and return its host PID.

        Everything is set up — namespaces, cgroup with its limits, mounts, the root file system
        pivoted, hostname, rlimits, user, capabilities, seccomp — and the process is blocked
        just before ``execve``: nothing of the user's program has run yet.
        """
        ...

    def start(self, state_dir: str) -> None:
        """Let the created init ``execve`` its program; return when that succeeded.

        Raises ``OSError`` with Docker's text and an ``exit_code`` attribute when the program
        cannot be executed (see the module's documentation); the init then exits with it.
        """
        ...

    def exec(
        self,
        bundle: str,
        state_dir: str,
        process: Mapping[str, Any],
        stdio: tuple[int, int, int],
        console: int | None,
    ) -> int:
        """Run another process (an OCI ``process`` object) in the running container's
        namespaces and cgroup, with the container's seccomp profile; return its host PID once
        its ``execve`` succeeded. Raises like :meth:`start`."""
        ...

    def oom_killed(self, state_dir: str) -> bool:
        """Whether the kernel's OOM killer killed a process of the container since ``create``.

        Call it after the init exited and before :meth:`delete`.
        """
        ...

    def delete(self, state_dir: str) -> None:
        """Release what the container held: kill any process still in it (``SIGKILL``), remove
        its cgroups. Idempotent; the caller removes ``state_dir`` afterwards."""
        ...
