"""Session-wide check: the test run leaves nothing behind on the host.

Before the first test and after the last one, this takes a snapshot of what tests could leak —
mounts under the data/exec roots or temporary directories, network links named ``berth*`` or
``veth*``, network namespaces, ``berth*`` cgroups, and ``berthd`` processes — and fails the
session (exit status 1, with a report) if anything is new at the end.

It runs in the process that sees the whole run: the xdist controller when tests run in
parallel (workers would see each other's work in progress), or the single pytest process.
Because it uses session hooks rather than a fixture, it covers every test path of the run
(core/tests, plugins/*/tests, tests/) as long as ``tests`` is among them, as in run-tests.sh.
Set ``BERTH_LEFTOVER_CHECK=0`` to turn it off while debugging.

Tests of the check itself use the ``leftover_probe`` fixture (tests/test_leftovers.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Mounts whose mount point is at or under one of these are the tests' business.
MOUNT_ROOTS: tuple[str, ...] = ("/var/lib/berth", "/run/berth", "/tmp", "/var/tmp")
#: Network links whose names start with one of these.
LINK_PREFIXES: tuple[str, ...] = ("berth", "veth")
#: Cgroup directories whose names start with this, anywhere below a hierarchy's top level.
CGROUP_PREFIX = "berth"
#: Process names counted as berth daemons.
DAEMON_NAMES: frozenset[str] = frozenset({"berthd"})
#: Marks every process of this test session (inherited by xdist workers and their children).
SESSION_ENV = "BERTH_TEST_SESSION"
#: How long to wait at the end for things that go away on their own (exiting processes).
GRACE_SECONDS = float(os.environ.get("BERTH_LEFTOVER_GRACE", "3"))

_SNAPSHOT_KEY = pytest.StashKey["Snapshot"]()
_LEFTOVERS_KEY = pytest.StashKey[list[str]]()


@dataclass(frozen=True)
class Snapshot:
    """What the tests could leave behind, as sets of printable descriptions."""

    mounts: frozenset[str]
    links: frozenset[str]
    netns: frozenset[str]
    cgroups: frozenset[str]
    daemons: frozenset[str]

    def new_since(self, before: Snapshot) -> list[str]:
        """One line per thing present now but not in ``before``."""
        found: list[str] = []
        for kind in ("mounts", "links", "netns", "cgroups", "daemons"):
            added = getattr(self, kind) - getattr(before, kind)
            label = kind if kind == "netns" else kind[:-1]
            found.extend(f"{label}: {item}" for item in sorted(added))
        return found


def _unescape_mountinfo(field: str) -> str:
    """Mount points in mountinfo escape space, tab, newline and backslash as \\ooo."""
    out, i = [], 0
    while i < len(field):
        code = field[i + 1 : i + 4]
        if field[i] == "\\" and len(code) == 3 and all(c in "01234567" for c in code):
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def _under(path: str, roots: Iterable[str]) -> bool:
    return any(path == root or path.startswith(root.rstrip("/") + "/") for root in roots)


def mount_roots() -> tuple[str, ...]:
    roots = {*MOUNT_ROOTS, tempfile.gettempdir()}
    roots |= {os.path.realpath(r) for r in roots}
    return tuple(sorted(roots))


def list_mounts(mountinfo: Path = Path("/proc/self/mountinfo")) -> frozenset[str]:
    roots = mount_roots()
    try:
        lines = mountinfo.read_text().splitlines()
    except OSError:
        return frozenset()
    found = set()
    for line in lines:
        fields = line.split(" ")
        if len(fields) > 4:
            point = _unescape_mountinfo(fields[4])
            if _under(point, roots):
                found.add(point)
    return frozenset(found)


def list_links(sys_class_net: Path = Path("/sys/class/net")) -> frozenset[str]:
    try:
        names = os.listdir(sys_class_net)
    except OSError:
        return frozenset()
    return frozenset(n for n in names if n.startswith(LINK_PREFIXES))


def list_netns(run_netns: Path = Path("/run/netns")) -> frozenset[str]:
    """Named network namespaces: /run/netns, plus what `ip netns list` says where it exists."""
    found: set[str] = set()
    with contextlib.suppress(OSError):
        found.update(os.listdir(run_netns))
    ip = shutil.which("ip")
    if ip is not None:
        try:
            out = subprocess.run(
                [ip, "netns", "list"], capture_output=True, text=True, timeout=10, check=False
            ).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        found.update(line.split()[0] for line in out.splitlines() if line.strip())
    return frozenset(found)


def list_cgroups(cgroup_root: Path = Path("/sys/fs/cgroup")) -> frozenset[str]:
    """Directories named berth* directly under the cgroup root or a v1 hierarchy, and below."""
    tops: list[Path] = []
    try:
        for entry in os.scandir(cgroup_root):
            if not entry.is_dir(follow_symlinks=False):
                continue
            if entry.name.startswith(CGROUP_PREFIX):
                tops.append(Path(entry.path))
                continue
            try:
                tops.extend(
                    Path(sub.path)
                    for sub in os.scandir(entry.path)
                    if sub.name.startswith(CGROUP_PREFIX) and sub.is_dir(follow_symlinks=False)
                )
            except OSError:
                continue
    except OSError:
        return frozenset()
    found: set[str] = set()
    for top in tops:
        found.add(str(top))
        for dirpath, dirnames, _files in os.walk(top, onerror=lambda _e: None):
            found.update(os.path.join(dirpath, d) for d in dirnames)
    return frozenset(found)


def _is_daemon(proc: Path, pid: str) -> bool:
    """berthd run as itself, as `python .../berthd`, or as `python -m berth.daemon.main`."""
    try:
        comm = (proc / pid / "comm").read_text().strip()
        argv = (proc / pid / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    if comm in DAEMON_NAMES:
        return True
    args = [os.fsdecode(a) for a in argv if a]
    if not args:
        return False
    if os.path.basename(args[0]) in DAEMON_NAMES:
        return True
    if not os.path.basename(args[0]).startswith("python"):
        return False
    return (len(args) > 1 and os.path.basename(args[1]) in DAEMON_NAMES) or args[1:3] == [
        "-m",
        "berth.daemon.main",
    ]


def _session_of(proc: Path, pid: str) -> str | None:
    """The test session a process was started by (its SESSION_ENV), if it says."""
    try:
        environ = (proc / pid / "environ").read_bytes().split(b"\0")
    except OSError:
        return None
    prefix = SESSION_ENV.encode() + b"="
    for item in environ:
        if item.startswith(prefix):
            return os.fsdecode(item[len(prefix) :])
    return None


def list_daemons(proc: Path = Path("/proc"), session: str | None = None) -> frozenset[str]:
    """Live berthd processes as "PID (started at tick T)", so that a reused PID counts as new.

    Daemons marked as started by another test session (another pytest run on this machine at
    the same time) are not ours and are left out.
    """
    session = session if session is not None else os.environ.get(SESSION_ENV)
    found: set[str] = set()
    try:
        pids = [p for p in os.listdir(proc) if p.isdigit()]
    except OSError:
        return frozenset()
    for pid in pids:
        if not _is_daemon(proc, pid):
            continue
        try:
            fields = (proc / pid / "stat").read_text().rsplit(")", 1)[1].split()
            state, start = fields[0], fields[19]
        except (OSError, IndexError):
            continue
        if state in ("Z", "X"):
            continue  # dead; on a machine whose init does not reap orphans, it stays a zombie
        owner = _session_of(proc, pid)
        if owner is not None and session is not None and owner != session:
            continue
        found.add(f"{pid} (started at tick {start})")
    return frozenset(found)


def take_snapshot() -> Snapshot:
    return Snapshot(
        mounts=list_mounts(),
        links=list_links(),
        netns=list_netns(),
        cgroups=list_cgroups(),
        daemons=list_daemons(),
    )


def find_leftovers(before: Snapshot, grace: float = GRACE_SECONDS) -> list[str]:
    """What is new since ``before``, after giving exiting processes ``grace`` seconds."""
    deadline = time.monotonic() + grace
    while True:
        leftovers = take_snapshot().new_since(before)
        if not leftovers or time.monotonic() >= deadline:
            return leftovers
        time.sleep(0.2)


def _enabled(config: pytest.Config) -> bool:
    if os.environ.get("BERTH_LEFTOVER_CHECK", "1") == "0":
        return False
    return not hasattr(config, "workerinput")  # an xdist worker: the controller checks


def pytest_configure(config: pytest.Config) -> None:
    if _enabled(config):  # the controller: a fresh mark, which workers and children inherit
        os.environ[SESSION_ENV] = uuid.uuid4().hex


def pytest_sessionstart(session: pytest.Session) -> None:
    if _enabled(session.config):
        session.config.stash[_SNAPSHOT_KEY] = take_snapshot()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.config.stash.get(_SNAPSHOT_KEY, None)
    if before is None:
        return
    leftovers = find_leftovers(before)
    session.config.stash[_LEFTOVERS_KEY] = leftovers
    if leftovers and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    leftovers = terminalreporter.config.stash.get(_LEFTOVERS_KEY, [])
    if not leftovers:
        return
    terminalreporter.section("LEFTOVERS: the tests left these behind", sep="=", red=True)
    for line in leftovers:
        terminalreporter.line(f"  {line}", red=True)
    terminalreporter.line(
        "The session fails: every test must clean up its mounts, links, namespaces, cgroups "
        "and processes (clean up by hand before the next run). Another test run on this "
        "machine at the same time can cause the same report.",
        red=True,
    )


class LeftoverProbe:
    """The check's functions, for tests of the check itself."""

    Snapshot = Snapshot
    take_snapshot = staticmethod(take_snapshot)
    find_leftovers = staticmethod(find_leftovers)
    list_mounts = staticmethod(list_mounts)
    list_links = staticmethod(list_links)
    list_netns = staticmethod(list_netns)
    list_cgroups = staticmethod(list_cgroups)
    list_daemons = staticmethod(list_daemons)
    unescape_mountinfo = staticmethod(_unescape_mountinfo)


@pytest.fixture
def leftover_probe() -> type[LeftoverProbe]:
    return LeftoverProbe
