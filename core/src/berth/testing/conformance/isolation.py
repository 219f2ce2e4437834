"""Conformance suite of isolation backends (entry-point group ``berth.isolation.v1``).

A backend's tests subclass :class:`IsolationRuntimeSuite` and name the plugin::

    from berth.testing.conformance import IsolationRuntimeSuite

    class TestLinux(IsolationRuntimeSuite):
        name = "linux"
        distribution = "berth-isolation-linux"

Besides the registration checks, the suite runs real containers: a busybox root file system
made from the host's static busybox (Debian's ``busybox-static``), an OCI spec with Docker's
defaults (:mod:`berth.testing.ocispec`), the backend's **launcher** driven by a stand-in for
the monitor (:mod:`berth.testing.launcher_harness`), and the backend's daemon side
(:class:`~berth.plugins.IsolationRuntime`, the ``driver`` fixture) for state, signals, the
freezer, stats, the OOM verdict and deletion. What it checks, from inside the container:
its own PID 1, hostname and mounts; host processes invisible; /proc; Docker's 14 default
capabilities exactly; ``mount``, ``unshare``, /proc/sys and /sys writes refused; seccomp active
and its rules (with an argument condition) enforced; memory limit → OOM kill reported (137,
``oom_killed``); a fork bomb held by the pids limit; an rlimit above the hard limit refused
clearly; user and groups, environment, working directory; exit codes, signals (128+n) and
Docker's 126/127 texts; exec into a running container; pause/resume; stats; a terminal; and
nothing left behind (cgroups, processes, mounts).

Needs root and a static ``/bin/busybox``; skipped with the reason otherwise (or where the
backend's probe says it cannot run).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from berth.plugins import AnySpec, DriverKind, IsolationRuntime, IsolationRuntimeSpec
from berth.testing.busybox import busybox_unavailable, clone_rootfs, make_busybox_rootfs
from berth.testing.conformance.registration import DriverRegistrationSuite
from berth.testing.launcher_harness import Harness, LaunchFailed, import_paths, process_spec
from berth.testing.mounts import mounts_under
from berth.testing.ocispec import DOCKER_CAPABILITY_MASK, docker_like_config, write_bundle

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: Debian's static tini: what Docker's --init runs as /sbin/docker-init.
TINI = Path("/usr/bin/tini-static")
#: Parent of the suite's cgroups (removed again when empty).
CGROUP_PARENT = "berth-conformance"
#: Modules a launcher must not pull into the monitor.
HEAVY_FOR_A_MONITOR = ("pluggy", "structlog", "stevedore", "h11", "aiohttp", "pyroute2", "berth")

Config = dict[str, Any]


def cgroup_dirs(cgroups_path: str) -> list[Path]:
    """The directories of ``cgroups_path`` that exist, in every hierarchy."""
    relative = cgroups_path.strip("/")
    found = []
    candidates = [CGROUP_ROOT / relative]
    with contextlib.suppress(OSError):
        candidates += [entry / relative for entry in CGROUP_ROOT.iterdir() if entry.is_dir()]
    for candidate in candidates:
        if candidate.is_dir():
            found.append(candidate)
    return found


def remove_empty_parent() -> None:
    for top in [CGROUP_ROOT, *(p for p in CGROUP_ROOT.iterdir() if p.is_dir())]:
        with contextlib.suppress(OSError):
            (top / CGROUP_PARENT).rmdir()


def in_cgroup(pid: int, cgroups_path: str, controller: str) -> bool:
    """Whether ``pid`` is in ``cgroups_path`` for ``controller`` (v1) or in the v2 hierarchy."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if (controller in names.split(",") or names == "") and path.rstrip("/").endswith(
            cgroups_path.rstrip("/")
        ):
            return True
    return False


def require_in_cgroup(box: Box, controller: str) -> None:
    """Fail (before a workload that needs the limit runs) unless the init is in its cgroup: a
    fork bomb or a memory hog outside its cgroup would take the host down."""
    pid = box.harness.init_pid
    if not in_cgroup(pid, box.cgroups_path, controller):
        os.kill(pid, signal.SIGKILL)
        raise AssertionError(f"the init is not in its {controller} cgroup {box.cgroups_path}")


def status_field(text: str, name: str) -> str:
    match = re.search(rf"^{name}:\s*(\S+)", text, re.M)
    assert match, f"{name} is missing from /proc/self/status:\n{text}"
    return match.group(1)


class Box:
    """One test container: its config (edit it before :meth:`create`), bundle and launcher."""

    def __init__(
        self, launcher: str, workdir: Path, template: Path, args: Sequence[str], name: str
    ) -> None:
        self.workdir = workdir
        self.bundle = workdir / "bundle"
        self.bundle.mkdir(parents=True)
        self.rootfs = clone_rootfs(template, self.bundle / "rootfs")
        self.state_dir = workdir / "state" / name
        self.state_dir.mkdir(parents=True)
        output = workdir / "output"
        output.mkdir()
        self.cgroups_path = f"/{CGROUP_PARENT}/{name}"
        self.config: Config = docker_like_config(args, cgroups_path=self.cgroups_path)
        self.harness = Harness(launcher, self.bundle, self.state_dir, output)

    @property
    def process(self) -> dict[str, Any]:
        process: dict[str, Any] = self.config["process"]
        return process

    @property
    def linux(self) -> dict[str, Any]:
        linux: dict[str, Any] = self.config["linux"]
        return linux

    def create(self, stdin: Path | None = None, tty: bool = False, input: str = "") -> int:
        write_bundle(self.bundle, self.config)
        return self.harness.create(stdin=stdin, tty=tty, input=input)

    def start(self) -> None:
        self.harness.start()

    def wait(self, pid: int | None = None, timeout: float = 30.0) -> int:
        return self.harness.wait(pid, timeout)

    def run(self, timeout: float = 30.0) -> int:
        self.create()
        self.start()
        return self.wait(timeout=timeout)

    def exec(self, args: Sequence[str], **kwargs: Any) -> tuple[int, Path, Path]:
        process = process_spec(args, capabilities=self.process["capabilities"]["bounding"])
        process.update(kwargs)
        return self.harness.exec(process)

    def exec_output(self, args: Sequence[str], **kwargs: Any) -> tuple[int, str, str]:
        """Run a process in the container to its end: exit code, stdout, stderr."""
        pid, out, err = self.exec(args, **kwargs)
        code = self.wait(pid)
        return code, _read(out), _read(err)

    @property
    def stdout(self) -> str:
        return self.harness.stdout

    @property
    def stderr(self) -> str:
        return self.harness.stderr

    def close(self) -> None:
        self.harness.close()


BoxFactory = Callable[..., Box]


class IsolationRuntimeSuite(DriverRegistrationSuite):
    """Subclass it and set ``name`` (the entry-point name) and ``distribution``."""

    kind: ClassVar[DriverKind] = "isolation"
    spec_type: ClassVar[type[AnySpec]] = IsolationRuntimeSpec
    contract: ClassVar[type] = IsolationRuntime

    # --- fixtures ------------------------------------------------------------------------

    @pytest.fixture(scope="class")
    @classmethod
    def busybox_template(cls, tmp_path_factory: pytest.TempPathFactory) -> Path:
        reason = busybox_unavailable()
        if reason:
            pytest.skip(reason)
        return make_busybox_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")

    @pytest.fixture
    def launcher_module(self, spec: AnySpec) -> str:
        assert isinstance(spec, IsolationRuntimeSpec)
        if not spec.launcher:
            pytest.fail(f"the spec of {self.name!r} names no launcher module")
        return spec.launcher

    @pytest.fixture
    def runtime(self, driver: IsolationRuntime) -> IsolationRuntime:
        """The backend's daemon side (the ``driver`` fixture, skipped where the probe says no)."""
        if os.geteuid() != 0:
            pytest.skip("running containers needs root")
        return driver

    @pytest.fixture
    def box(
        self,
        runtime: IsolationRuntime,
        launcher_module: str,
        busybox_template: Path,
        tmp_path: Path,
    ) -> Iterator[BoxFactory]:
        """``box(["sh", "-c", ...])`` → a :class:`Box`; everything is torn down after the test
        and the test fails if a cgroup or process of it survives."""
        made: list[Box] = []

        def make(args: Sequence[str]) -> Box:
            name = f"{self.name}-{uuid.uuid4().hex[:12]}"
            made.append(Box(launcher_module, tmp_path / name, busybox_template, args, name))
            return made[-1]

        yield make
        leftovers: list[str] = []
        for each in made:
            init = each.harness.init_pid
            each.close()
            if init and _alive(init):  # the backend lost it: kill its PID namespace
                with contextlib.suppress(ProcessLookupError):
                    os.kill(init, signal.SIGKILL)
                leftovers.append(f"process {init}")
            with contextlib.suppress(Exception):
                runtime.delete(each.state_dir, force=True)
            for path in cgroup_dirs(each.cgroups_path):
                leftovers.append(str(path))
                with contextlib.suppress(OSError):
                    path.rmdir()  # reported; removed so the host stays clean
            leftovers += [str(p) for p in mounts_under(each.workdir)]
        remove_empty_parent()
        assert not leftovers, f"left behind: {leftovers}"

    # --- the launcher module -------------------------------------------------------------

    def test_launcher_imports_light(self, launcher_module: str) -> None:
        code = (
            "import importlib, json, sys\n"
            f"sys.path[:0] = {import_paths(launcher_module)!r}\n"
            f"module = importlib.import_module({launcher_module!r})\n"
            "names = ('create', 'start', 'exec', 'oom_killed', 'delete')\n"
            "missing = [n for n in names if not callable(getattr(module, n, None))]\n"
            "print(json.dumps([sorted(sys.modules), missing]))\n"
        )
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"importing {launcher_module} failed:\n{done.stderr}"
        loaded, missing = json.loads(done.stdout.splitlines()[-1])
        heavy = sorted(m for m in loaded if m.split(".")[0] in HEAVY_FOR_A_MONITOR)
        assert not heavy, f"the launcher pulls {heavy} into the monitor; use the stdlib only"
        assert not missing, f"the launcher module lacks {missing}"

    # --- a process and its exit ----------------------------------------------------------

    def test_runs_the_command_and_reports_its_exit_code(self, box: BoxFactory) -> None:
        b = box(["sh", "-c", "echo hello; echo oops >&2; exit 3"])
        assert b.run() == 3
        assert b.stdout == "hello\n"
        assert b.stderr == "oops\n"

    def test_stdin_reaches_the_process(self, box: BoxFactory, tmp_path: Path) -> None:
        given = tmp_path / "input"
        given.write_text("line one\nline two\n")
        b = box(["cat"])
        b.create(stdin=given)
        b.start()
        assert b.wait() == 0
        assert b.stdout == "line one\nline two\n"

    def test_environment_and_working_directory(self, box: BoxFactory) -> None:
        b = box(["sh", "-c", 'echo "$GREETING"; pwd; echo "$PATH"'])
        b.process["env"].append("GREETING=hi there")
        b.process["cwd"] = "/etc"
        assert b.run() == 0
        lines = b.stdout.splitlines()
        assert lines[0] == "hi there"
        assert lines[1] == "/etc"
        assert lines[2].startswith("/usr/local/sbin:")

    def test_user_and_groups_from_the_spec(self, box: BoxFactory) -> None:
        b = box(["sh", "-c", "id -u; id -g; id -G; grep -E '^Cap(Eff|Bnd)' /proc/self/status"])
        b.process["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [10, 20]}
        assert b.run() == 0, b.stderr
        lines = b.stdout.splitlines()
        assert lines[0] == "1000"
        assert lines[1] == "1000"
        assert set(lines[2].split()) == {"1000", "10", "20"}
        # a non-root user keeps no capability across execve, but the bounding set is Docker's
        assert int(status_field(b.stdout, "CapEff"), 16) == 0
        assert int(status_field(b.stdout, "CapBnd"), 16) == DOCKER_CAPABILITY_MASK

    def test_a_killed_init_exits_with_128_plus_the_signal(
        self, box: BoxFactory, runtime: IsolationRuntime
    ) -> None:
        b = box(["sleep", "60"])
        b.create()
        b.start()
        runtime.kill(b.state_dir, signal.SIGKILL)
        assert b.wait() == 128 + signal.SIGKILL

    def test_a_signalled_exec_process_exits_with_128_plus_the_signal(self, box: BoxFactory) -> None:
        b = box(["sleep", "60"])
        b.create()
        b.start()
        code, _, _ = b.exec_output(["sh", "-c", "kill -TERM $$; sleep 5"])
        assert code == 128 + signal.SIGTERM

    @pytest.mark.parametrize(
        ("program", "code", "messages"),
        [
            ("nope", 127, {'exec: "nope": executable file not found in $PATH': errno.ENOENT}),
            ("/nope", 127, {'exec: "/nope": stat /nope: no such file or directory': errno.ENOENT}),
            (
                "/etc",
                126,
                {
                    'exec: "/etc": is a directory': errno.EISDIR,
                    'exec: "/etc": permission denied': errno.EACCES,  # runc 1.1 (older Go)
                },
            ),
            ("/etc/passwd", 126, {'exec: "/etc/passwd": permission denied': errno.EACCES}),
        ],
    )
    def test_a_program_that_cannot_run_fails_with_dockers_text(
        self, box: BoxFactory, program: str, code: int, messages: dict[str, int]
    ) -> None:
        """From ``start`` (then the init exits with the code), or already from ``create``."""
        b = box([program])
        with pytest.raises(LaunchFailed) as caught:
            b.create()
            try:
                b.start()
            finally:
                assert b.wait() == code
        assert caught.value.strerror in messages
        assert caught.value.errno == messages[caught.value.strerror]
        assert caught.value.exit_code == code

    def test_exec_of_a_missing_program_fails_with_dockers_text(self, box: BoxFactory) -> None:
        b = box(["sleep", "60"])
        b.create()
        b.start()
        with pytest.raises(LaunchFailed) as caught:
            b.exec(["nope"])
        assert caught.value.strerror == 'exec: "nope": executable file not found in $PATH'
        assert caught.value.errno == errno.ENOENT
        assert caught.value.exit_code == 127

    # --- namespaces ----------------------------------------------------------------------

    def test_own_pid_1_and_host_processes_invisible(self, box: BoxFactory) -> None:
        b = box(["sh", "-c", "echo $$; ls /proc | grep -c '^[0-9]'; cat /proc/1/cmdline; echo"])
        assert b.run() == 0, b.stderr
        lines = b.stdout.splitlines()
        assert lines[0] == "1"
        assert int(lines[1]) <= 3, "the container sees processes that are not its own"
        assert lines[2].split("\0")[:2] == ["sh", "-c"]

    def test_own_hostname(self, box: BoxFactory) -> None:
        b = box(["hostname"])
        b.config["hostname"] = "inside-box"
        assert b.run() == 0, b.stderr
        assert b.stdout == "inside-box\n"
        assert os.uname().nodename != "inside-box"

    def test_own_network_namespace(self, box: BoxFactory) -> None:
        b = box(["ls", "/sys/class/net"])
        assert b.run() == 0, b.stderr
        assert b.stdout.split() == ["lo"]

    def test_own_root_and_mounts(self, box: BoxFactory, tmp_path: Path) -> None:
        b = box(["sh", "-c", "cat /marker; cat /proc/self/mounts; ls /work /tmp/host-only"])
        (b.rootfs / "marker").write_text("in the image\n")
        (tmp_path / "host-only").write_text("host\n")
        assert b.run() == 1  # ls fails: those host paths do not exist inside
        assert b.stdout.startswith("in the image\n")
        mounts = {line.split()[1]: line.split() for line in b.stdout.splitlines()[1:]}
        assert mounts["/proc"][2] == "proc"
        assert mounts["/dev"][2] == "tmpfs"
        assert mounts["/dev/pts"][2] == "devpts"
        assert mounts["/dev/shm"][2] == "tmpfs"
        assert mounts["/dev/mqueue"][2] == "mqueue"
        assert mounts["/sys"][2] == "sysfs"
        assert "ro" in mounts["/sys"][3].split(",")
        assert "ro" in mounts["/proc/sys"][3].split(",")
        assert "/tmp/host-only" in b.stderr

    def test_default_devices(self, box: BoxFactory) -> None:
        b = box(["sh", "-c", "ls /dev; echo x > /dev/null; head -c 4 /dev/zero | od -An -tx1"])
        assert b.run() == 0, b.stderr
        names = set(b.stdout.split())
        assert {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm"} <= names
        assert "00 00 00 00" in b.stdout

    def test_device_cgroup_refuses_other_devices(self, box: BoxFactory) -> None:
        # CAP_MKNOD is a default capability; the device cgroup is what stops the node's use
        b = box(["sh", "-c", "mknod /tmp/sda b 8 0 && head -c 1 /tmp/sda"])
        assert b.run() != 0
        assert "ermission denied" in b.stderr or "not permitted" in b.stderr

    def test_masked_paths(self, box: BoxFactory) -> None:
        masked = [p for p in ("/proc/kcore", "/proc/keys", "/proc/timer_list") if Path(p).exists()]
        if not masked:
            pytest.skip("this kernel has none of the masked /proc files")
        b = box(
            ["sh", "-c", f"wc -c < {masked[0]}; ls /sys/firmware | wc -l; cat /proc/1/comm; true"]
        )
        assert b.run() == 0, b.stderr
        # a masked file reads as /dev/null, a masked directory is an empty tmpfs
        assert b.stdout.split() == ["0", "0", "sh"]

    # --- privileges ----------------------------------------------------------------------

    def test_default_capabilities_are_exactly_dockers(self, box: BoxFactory) -> None:
        b = box(["cat", "/proc/self/status"])
        assert b.run() == 0, b.stderr
        for name in ("CapEff", "CapPrm", "CapBnd"):
            got = int(status_field(b.stdout, name), 16)
            assert got == DOCKER_CAPABILITY_MASK, f"{name} {got:016x}"
        assert int(status_field(b.stdout, "CapInh"), 16) == 0
        assert int(status_field(b.stdout, "CapAmb"), 16) == 0

    def test_mount_and_unshare_are_refused(self, box: BoxFactory) -> None:
        b = box(
            [
                "sh",
                "-c",
                "mount -t tmpfs none /mnt && echo MOUNTED; "
                "unshare -n true && echo UNSHARED; "
                "unshare -m true && echo UNSHARED; true",
            ]
        )
        assert b.run() == 0, b.stderr
        assert "MOUNTED" not in b.stdout
        assert "UNSHARED" not in b.stdout
        assert b.stderr.count("ermission denied") + b.stderr.count("not permitted") >= 3

    def test_proc_sys_and_sys_writes_are_refused(self, box: BoxFactory) -> None:
        targets = ["/proc/sys/kernel/domainname", "/proc/sys/net/ipv4/ip_forward"]
        targets += [
            p for p in ("/proc/sysrq-trigger", "/sys/kernel/uevent_helper") if Path(p).exists()
        ]
        script = "".join(f"echo 0 > {target} && echo WROTE {target}; " for target in targets)
        b = box(["sh", "-c", script + "mkdir /sys/fs/cgroup/pids/x && echo WROTE; true"])
        assert b.run() == 0, b.stderr
        assert "WROTE" not in b.stdout
        assert b.stderr.count("Read-only file system") == len(targets) + 1, b.stderr

    def test_seccomp_is_active_and_its_rules_apply(self, box: BoxFactory) -> None:
        b = box(
            [
                "sh",
                "-c",
                "grep '^Seccomp:' /proc/self/status; "
                "chroot / true || echo CHROOT_DENIED; "
                "kill -0 $$ && echo SIGNAL0_ALLOWED; "
                "kill -USR1 $$ || echo SIGUSR1_DENIED",
            ]
        )
        assert b.run() == 0, b.stderr
        assert "Seccomp:\t2" in b.stdout
        assert "CHROOT_DENIED" in b.stdout
        assert "ermission denied" in b.stderr  # EACCES, the rule's errnoRet
        assert "SIGNAL0_ALLOWED" in b.stdout
        assert "SIGUSR1_DENIED" in b.stdout

    def test_no_new_privileges(self, box: BoxFactory) -> None:
        b = box(["grep", "-E", "^(NoNewPrivs|Seccomp):", "/proc/self/status"])
        b.process["noNewPrivileges"] = True
        assert b.run() == 0, b.stderr
        assert "NoNewPrivs:\t1" in b.stdout
        assert "Seccomp:\t2" in b.stdout

    def test_read_only_root(self, box: BoxFactory) -> None:
        b = box(["sh", "-c", "touch /new-file; touch /tmp/x; echo done"])
        b.config["root"]["readonly"] = True
        assert b.run() == 0
        assert "Read-only file system" in b.stderr
        assert not (b.rootfs / "new-file").exists()

    def test_bind_mount_read_only(self, box: BoxFactory, tmp_path: Path) -> None:
        shared = tmp_path / "shared"
        shared.mkdir()
        (shared / "data").write_text("from the host\n")
        b = box(["sh", "-c", "cat /data/data; touch /data/new"])
        b.config["mounts"].append(
            {
                "destination": "/data",
                "type": "bind",
                "source": str(shared),
                "options": ["rbind", "ro"],
            }
        )
        assert b.run() != 0
        assert b.stdout == "from the host\n"
        assert "Read-only file system" in b.stderr
        assert not (shared / "new").exists()

    # --- limits --------------------------------------------------------------------------

    def test_memory_limit_oom_kill_is_reported(
        self, box: BoxFactory, runtime: IsolationRuntime
    ) -> None:
        b = box(["sh", "-c", "a=x; while :; do a=$a$a; done"])
        b.linux["resources"]["memory"] = {"limit": 32 << 20, "swap": 32 << 20}
        b.create()
        require_in_cgroup(b, "memory")
        if runtime.stats(b.state_dir)["memory_stats"].get("limit") != 32 << 20:
            os.kill(b.harness.init_pid, signal.SIGKILL)
            raise AssertionError("the memory limit is not in the container's cgroup")
        b.start()
        assert b.wait(timeout=60) == 137
        assert b.harness.oom_killed() is True
        assert runtime.oom_killed(b.state_dir) is True

    def test_exit_without_oom_is_not_reported_as_oom(
        self, box: BoxFactory, runtime: IsolationRuntime
    ) -> None:
        b = box(["true"])
        b.linux["resources"]["memory"] = {"limit": 64 << 20}
        assert b.run() == 0
        assert b.harness.oom_killed() is False
        assert runtime.oom_killed(b.state_dir) is False

    def test_pids_limit_contains_a_fork_bomb(
        self, box: BoxFactory, runtime: IsolationRuntime
    ) -> None:
        limit = 16
        # sleepers forked until fork fails: they stay, so the count sits at the limit (a bomb
        # whose processes die when their forks fail can peak between two samples)
        b = box(["sh", "-c", "(while :; do sleep 60 & done); exec sleep 60"])
        b.linux["resources"]["pids"] = {"limit": limit}
        b.create()
        require_in_cgroup(b, "pids")
        if runtime.stats(b.state_dir)["pids_stats"].get("limit") != limit:
            os.kill(b.harness.init_pid, signal.SIGKILL)
            raise AssertionError("the pids limit is not in the container's cgroup")
        b.start()
        seen = []
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            seen.append(int(runtime.stats(b.state_dir)["pids_stats"]["current"]))
            time.sleep(0.05)
        assert max(seen) <= limit
        assert max(seen) >= limit // 2, f"the bomb never got going: {seen}"
        runtime.kill(b.state_dir, signal.SIGKILL)
        assert b.wait() == 137

    def test_rlimits_are_applied(self, box: BoxFactory) -> None:
        b = box(["sh", "-c", "ulimit -n; ulimit -Hn"])
        b.process["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}]
        assert b.run() == 0, b.stderr
        assert b.stdout.split() == ["512", "1024"]

    def test_rlimit_above_the_hard_limit_fails_clearly(self, box: BoxFactory) -> None:
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or _has_cap_sys_resource():
            pytest.skip("this host lets root raise RLIMIT_NOFILE's hard limit")
        b = box(["true"])
        b.process["rlimits"] = [
            {"type": "RLIMIT_NOFILE", "soft": hard + 10000, "hard": hard + 10000}
        ]
        with pytest.raises((LaunchFailed, ValueError)) as caught:
            b.create()
        message = str(caught.value.strerror if isinstance(caught.value, OSError) else caught.value)
        assert "\n" not in message
        assert "RLIMIT_NOFILE" in message or "nofile" in message.lower(), message
        assert str(hard) in message, message
        assert not cgroup_dirs(b.cgroups_path)

    def test_an_init_reaps_zombies_and_forwards_signals(
        self, box: BoxFactory, runtime: IsolationRuntime
    ) -> None:
        """``--init`` as Docker does it: tini bind-mounted at /sbin/docker-init."""
        if not TINI.is_file():
            pytest.skip(f"{TINI} is missing (install Debian's tini)")
        # the orphaned sleep is reparented to PID 1; without an init, PID 1 would be the
        # "sleep 60" below, which never reaps, and the count would be 1
        script = (
            "(sh -c 'sleep 0.2 &'; sleep 1; cat /proc/1/comm; "
            "cat /proc/[0-9]*/stat | awk '{print $3}' | grep -c Z) & exec sleep 60"
        )
        b = box(["/sbin/docker-init", "--", "sh", "-c", script])
        b.config["mounts"].append(
            {
                "destination": "/sbin/docker-init",
                "type": "bind",
                "source": str(TINI),
                "options": ["rbind", "ro"],
            }
        )
        b.create()
        b.start()
        _wait_until(lambda: len(b.stdout.split()) == 2)
        assert b.stdout.split() == ["docker-init", "0"], "an orphan was not reaped"
        runtime.kill(b.state_dir, signal.SIGTERM)  # the init passes it on to its child
        assert b.wait() == 128 + signal.SIGTERM

    # --- lifecycle -----------------------------------------------------------------------

    def test_oci_states(self, box: BoxFactory, runtime: IsolationRuntime) -> None:
        b = box(["sh", "-c", "read line; echo got $line"])
        fifo = b.workdir / "stdin"
        os.mkfifo(fifo)
        with pytest.raises(FileNotFoundError):
            runtime.state(b.state_dir)
        opener = os.open(fifo, os.O_RDWR)  # keeps the fifo open so the create need not wait
        try:
            pid = b.create(stdin=fifo)
            created = runtime.state(b.state_dir)
            assert (created.status, created.pid) == ("created", pid)
            b.start()
            assert runtime.state(b.state_dir).status == "running"
            os.write(opener, b"go\n")
        finally:
            os.close(opener)
        assert b.wait() == 0
        assert b.stdout == "got go\n"
        assert runtime.state(b.state_dir).status == "stopped"

    def test_exec_joins_the_running_container(
        self, box: BoxFactory, runtime: IsolationRuntime
    ) -> None:
        b = box(["sleep", "60"])
        b.config["hostname"] = "exec-target"
        init = b.create()
        b.start()
        code, out, err = b.exec_output(
            [
                "sh",
                "-c",
                "echo $$; hostname; cat /proc/1/cmdline; echo; "
                "for ns in /proc/1/ns/mnt /proc/self/ns/mnt /proc/1/ns/net /proc/self/ns/net; do "
                "readlink $ns; done; "
                "grep ^CapEff /proc/self/status; grep ^Seccomp: /proc/self/status",
            ]
        )
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0] != "1"
        assert lines[1] == "exec-target"
        assert lines[2].startswith("sleep\x0060")
        assert lines[3] == lines[4], "the exec'd process is in another mount namespace"
        assert lines[5] == lines[6], "the exec'd process is in another network namespace"
        assert int(status_field(out, "CapEff"), 16) == DOCKER_CAPABILITY_MASK
        assert status_field(out, "Seccomp") == "2"
        assert runtime.state(b.state_dir).pid == init

    def test_exec_process_counts_in_the_container_cgroup(
        self, box: BoxFactory, runtime: IsolationRuntime
    ) -> None:
        b = box(["sleep", "60"])
        b.create()
        b.start()
        pid, _, _ = b.exec(["sleep", "30"])
        cgroup = Path(f"/proc/{pid}/cgroup").read_text()
        assert b.cgroups_path in cgroup, cgroup
        assert int(runtime.stats(b.state_dir)["pids_stats"]["current"]) == 2

    def test_exec_with_user_and_environment(self, box: BoxFactory) -> None:
        b = box(["sleep", "60"])
        b.create()
        b.start()
        code, out, err = b.exec_output(
            ["sh", "-c", 'id -u; echo "$WHO"; pwd'],
            user={"uid": 1000, "gid": 1000},
            env=["PATH=/bin", "WHO=exec"],
            cwd="/tmp",
        )
        assert code == 0, err
        assert out.splitlines() == ["1000", "exec", "/tmp"]

    def test_pause_and_resume(self, box: BoxFactory, runtime: IsolationRuntime) -> None:
        b = box(["sh", "-c", "while :; do echo x >> /ticks; usleep 20000; done"])
        b.create()
        b.start()
        ticks = b.rootfs / "ticks"
        _wait_until(lambda: ticks.exists() and ticks.stat().st_size > 0)
        runtime.pause(b.state_dir)
        try:
            assert runtime.state(b.state_dir).status == "paused"
            frozen = ticks.stat().st_size
            time.sleep(0.3)
            assert ticks.stat().st_size == frozen, "a paused container kept running"
        finally:
            runtime.resume(b.state_dir)
        assert runtime.state(b.state_dir).status == "running"
        _wait_until(lambda: ticks.stat().st_size > frozen)

    def test_stats_in_dockers_shape(self, box: BoxFactory, runtime: IsolationRuntime) -> None:
        b = box(["sleep", "60"])
        b.linux["resources"]["memory"] = {"limit": 64 << 20}
        b.create()
        b.start()
        # a loaded machine may not have run the process yet: its usage shows once it has
        deadline = time.monotonic() + 10
        while True:
            stats = runtime.stats(b.state_dir)
            used = stats["cpu_stats"]["cpu_usage"]["total_usage"]
            if (used > 0 and stats["memory_stats"]["usage"] > 0) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert {"cpu_stats", "memory_stats", "pids_stats", "blkio_stats"} <= set(stats)
        assert stats["memory_stats"]["usage"] > 0
        assert stats["memory_stats"]["limit"] == 64 << 20
        assert stats["pids_stats"]["current"] == 1
        cpu = stats["cpu_stats"]
        assert cpu["cpu_usage"]["total_usage"] > 0
        assert cpu["system_cpu_usage"] > 0
        assert cpu["online_cpus"] >= 1

    def test_terminal(self, box: BoxFactory) -> None:
        b = box(["sh", "-c", "tty; stty size"])
        b.process["terminal"] = True
        b.process["consoleSize"] = {"height": 24, "width": 100}
        b.create(tty=True)
        b.start()
        assert b.wait() == 0
        assert b.stdout.replace("\r\n", "\n").splitlines() == ["/dev/pts/0", "24 100"]

    def test_delete_a_running_container_needs_force(
        self, box: BoxFactory, runtime: IsolationRuntime
    ) -> None:
        b = box(["sleep", "60"])
        pid = b.create()
        b.start()
        with pytest.raises(OSError):
            runtime.delete(b.state_dir)
        assert _alive(pid)
        runtime.delete(b.state_dir, force=True)
        assert b.wait() == 137
        assert not cgroup_dirs(b.cgroups_path)
        runtime.delete(b.state_dir)  # twice is fine

    def test_delete_leaves_nothing_behind(self, box: BoxFactory, runtime: IsolationRuntime) -> None:
        b = box(["sh", "-c", "sleep 60 & sleep 60 & exec sleep 60"])
        init = b.create()
        b.start()
        assert cgroup_dirs(b.cgroups_path)
        _wait_until(lambda: int(runtime.stats(b.state_dir)["pids_stats"]["current"]) == 3)
        b.harness.delete()
        assert b.wait() == 137
        assert not cgroup_dirs(b.cgroups_path)
        assert not _alive(init)
        assert not mounts_under(b.bundle)
        with pytest.raises(FileNotFoundError):
            runtime.state(b.state_dir)

    def test_a_failed_create_leaves_nothing_behind(self, box: BoxFactory) -> None:
        b = box(["true"])
        b.config["mounts"].append(
            {"destination": "/data", "type": "bind", "source": "/no/such/dir", "options": ["rbind"]}
        )
        with pytest.raises((LaunchFailed, ValueError)) as caught:
            b.create()
        assert "\n" not in str(caught.value)
        assert not cgroup_dirs(b.cgroups_path)
        assert b.harness.reap() == [], "the launcher left a zombie for its caller"
        assert not _children_of(b.harness.process.pid), "the launcher left a process behind"

    def test_bad_config_is_refused_in_one_line(self, box: BoxFactory) -> None:
        b = box([])
        with pytest.raises((LaunchFailed, ValueError)) as caught:
            b.create()
        assert "\n" not in str(caught.value)
        assert not cgroup_dirs(b.cgroups_path)


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            state = handle.read().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in (b"Z", b"X")


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for a condition")
        time.sleep(0.02)


def _has_cap_sys_resource() -> bool:
    text = Path("/proc/self/status").read_text()
    return bool(int(status_field(text, "CapEff"), 16) >> 24 & 1)


def _children_of(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, IndexError):
                if Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1] == str(
                    parent
                ):
                    found.append(int(entry))
    return found
