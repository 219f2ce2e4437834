"""The spec is a real OCI runtime spec: runc runs it, and from inside the container the
defaults are Docker's (capabilities, seccomp, hostname, refused mount/unshare/sysctl writes,
limits). Needs root, runc and a static busybox; leaves no cgroup, mount or process behind."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from berth.engine.containers import hostconfig, model, resolv, spec, users

from .kit import IS_ROOT

RUNC = shutil.which("runc")
BUSYBOX = shutil.which("busybox")


def _static(path: str | None) -> bool:
    if path is None:
        return False
    out = subprocess.run(["file", "-L", path], capture_output=True, text=True, check=False)
    return "statically linked" in out.stdout or "static-pie" in out.stdout


pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(not IS_ROOT, reason="needs root"),
    pytest.mark.skipif(RUNC is None, reason="needs runc"),
    pytest.mark.skipif(not _static(BUSYBOX), reason="needs a static busybox"),
]

DOCKER_DEFAULT_CAPS = "00000000a80425fb"  # the 14 default capabilities as a mask


class Runner:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.rootfs = base / "rootfs"
        (self.rootfs / "bin").mkdir(parents=True)
        (self.rootfs / "etc").mkdir()
        assert BUSYBOX is not None
        shutil.copy(BUSYBOX, self.rootfs / "bin" / "busybox")
        os.symlink("busybox", self.rootfs / "bin" / "sh")
        (self.rootfs / "etc" / "passwd").write_text(
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n"
        )
        (self.rootfs / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
        self.cgroup_parent = f"/berth-test-{uuid.uuid4().hex[:10]}"
        self.host = hostconfig.HostFacts.detect()

    def run(
        self, script: str, host_config: dict[str, Any] | None = None, user: str = ""
    ) -> tuple[int, str, str]:
        cid = model.new_container_id()
        config = model.merge_image_config(
            {"Cmd": ["/bin/busybox", "sh", "-c", script], "User": user},
            {"Env": ["PATH=/bin"]},
        )
        hc, _ = hostconfig.prepare_create(
            cid, config, {"NetworkMode": "none", **(host_config or {})}, self.host
        )
        path, args = model.command_of(config)
        container = model.Container(
            id=cid, name="/t", image="", config=config, host_config=hc, path=path, args=args
        )
        state = self.base / cid
        files = resolv.write_network_files(
            state,
            config["Hostname"],
            resolv.build_hosts(config["Hostname"]),
            resolv.build_resolv_conf("nameserver 192.0.2.53\n"),
        )
        user_info = users.resolve_user(self.rootfs, user)
        doc = spec.build_spec(
            container,
            rootfs=str(self.rootfs),
            user=user_info,
            files=files,
            host=self.host,
            cgroup_parent=self.cgroup_parent,
        )
        bundle = self.base / "bundles" / cid
        spec.write_bundle(bundle, doc)
        done = subprocess.run(
            [str(RUNC), "--root", str(self.base / "runc"), "run", "--bundle", str(bundle),
             cid[:16]],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        return done.returncode, done.stdout, done.stderr

    def cleanup(self) -> None:
        name = self.cgroup_parent.strip("/")
        for top in [Path("/sys/fs/cgroup"), *Path("/sys/fs/cgroup").iterdir()]:
            candidate = top / name
            if candidate.is_dir():
                for child in sorted(candidate.glob("*/"), reverse=True):
                    if child.is_dir():
                        child.rmdir()
                candidate.rmdir()


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    it = Runner(tmp_path_factory.mktemp("runc"))
    try:
        yield it
    finally:
        it.cleanup()


def status(output: str, key: str) -> str:
    for line in output.splitlines():
        if line.startswith(key + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"{key} not in {output!r}")


def test_defaults_seen_from_inside(runner: Runner) -> None:
    rc, out, err = runner.run(
        "cat /proc/self/status; echo HOST=$(busybox hostname); echo HOME=$HOME; "
        "busybox cat /etc/hosts; busybox id -u; echo PID=$$"
    )
    assert rc == 0, err
    assert status(out, "CapBnd") == DOCKER_DEFAULT_CAPS
    assert status(out, "CapEff") == DOCKER_DEFAULT_CAPS
    assert status(out, "CapInh") == "0000000000000000"
    assert status(out, "Seccomp") == "2"
    assert "PID=1" in out
    assert "HOME=/root" in out
    assert "127.0.0.1\tlocalhost" in out
    host_line = next(line for line in out.splitlines() if line.startswith("HOST="))
    assert len(host_line) == len("HOST=") + 12


def test_the_escape_hatches_are_closed(runner: Runner) -> None:
    script = "; ".join(
        f"({command}) >/dev/null 2>&1 && echo {label}=yes || echo {label}=no"
        for label, command in [
            ("mount", "busybox mount -t tmpfs none /tmp"),
            ("unshare", "busybox unshare -n true"),
            ("sysctl", "echo x > /proc/sys/kernel/hostname"),
            ("sys", "echo 1 > /sys/kernel/profiling"),
            ("kmsg", "busybox cat /proc/kcore"),
            ("mknod", "busybox mknod /tmp-sda b 8 0 && busybox dd if=/tmp-sda bs=1 count=1"),
            ("chroot", "busybox chroot / true"),
        ]
    )
    rc, out, err = runner.run(script)
    assert rc == 0, err
    results = dict(line.split("=") for line in out.split())
    assert results == {
        "mount": "no", "unshare": "no", "sysctl": "no", "sys": "no", "kmsg": "no",
        "mknod": "no", "chroot": "yes",
    }  # fmt: skip


def test_a_non_root_user_and_limits(runner: Runner) -> None:
    rc, out, err = runner.run(
        "cat /proc/self/status; busybox id; echo HOME=$HOME",
        {"Memory": 32 * 1024 * 1024, "PidsLimit": 20, "SecurityOpt": ["no-new-privileges"]},
        user="nobody",
    )
    assert rc == 0, err
    assert status(out, "CapEff") == "0000000000000000"
    assert status(out, "CapBnd") == DOCKER_DEFAULT_CAPS
    assert status(out, "NoNewPrivs") == "1"
    assert "uid=65534(nobody) gid=65534(nogroup)" in out
    assert "HOME=/home" in out
    memory = Path("/sys/fs/cgroup/memory") / runner.cgroup_parent.strip("/")
    if memory.is_dir():  # cgroup v1: the limit was applied to the container's cgroup
        assert (memory.parent / runner.cgroup_parent.strip("/")).exists()


def test_exit_codes_and_read_only_root(runner: Runner) -> None:
    rc, _, _ = runner.run("exit 7")
    assert rc == 7
    rc, out, err = runner.run(
        "busybox touch /x 2>/dev/null && echo root=rw || echo root=ro; "
        "busybox touch /dev/shm/x && echo shm=rw",
        {"ReadonlyRootfs": True},
    )
    assert rc == 0, err
    assert "root=ro" in out and "shm=rw" in out


def test_privileged_is_unconfined(runner: Runner) -> None:
    rc, out, err = runner.run("cat /proc/self/status", {"Privileged": True})
    assert rc == 0, err
    assert status(out, "Seccomp") == "0"
    assert int(status(out, "CapEff"), 16) == int(status(out, "CapBnd"), 16)
    assert int(status(out, "CapEff"), 16) > int(DOCKER_DEFAULT_CAPS, 16)
