"""The OCI runtime spec built from a container: Docker's defaults and every option's effect."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from berth.engine.containers import spec
from berth.engine.containers.hostconfig import (
    CAPABILITIES,
    DEFAULT_CAPABILITIES,
    DEFAULT_MASKED_PATHS,
    DEFAULT_READONLY_PATHS,
    Ulimit,
)
from berth.engine.containers.resolv import EtcFiles
from berth.engine.containers.users import ResolvedUser
from berth.engine.errors import BadParameter

from .kit import CONTAINER_ID, HOST, IS_ROOT, make_container, one_line

ROOT = ResolvedUser(0, 0, (0, 10), "/root", "root")
APP = ResolvedUser(1000, 1000, (1000, 29), "/home/app", "app")
FILES = EtcFiles("/data/c/hostname", "/data/c/hosts", "/data/c/resolv.conf")
MB = 1024 * 1024


def build(
    config: dict[str, Any] | None = None,
    host_config: dict[str, Any] | None = None,
    user: ResolvedUser = ROOT,
    **kwargs: Any,
) -> dict[str, Any]:
    container = make_container(config, host_config)
    kwargs.setdefault("files", FILES)
    kwargs.setdefault("host", HOST)
    return spec.build_spec(container, rootfs="/mnt/rootfs", user=user, **kwargs)


def mount(doc: dict[str, Any], destination: str) -> dict[str, Any]:
    found = [m for m in doc["mounts"] if m["destination"] == destination]
    assert len(found) == 1, (destination, found)
    return found[0]


def destinations(doc: dict[str, Any]) -> list[str]:
    return [m["destination"] for m in doc["mounts"]]


def ns_types(doc: dict[str, Any]) -> list[str]:
    return [n["type"] for n in doc["linux"]["namespaces"]]


# --- defaults -----------------------------------------------------------------------------


def test_default_spec_is_dockers() -> None:
    doc = build({"Cmd": ["echo", "hi"], "Env": ["FOO=bar"]}, {"NetworkMode": "none"})
    assert doc["ociVersion"] == "1.0.2"
    assert doc["root"] == {"path": "/mnt/rootfs", "readonly": False}
    assert doc["hostname"] == CONTAINER_ID[:12]
    process = doc["process"]
    assert process["args"] == ["echo", "hi"]
    assert process["cwd"] == "/"
    assert process["terminal"] is False
    assert process["user"] == {"uid": 0, "gid": 0, "additionalGids": [0, 10]}
    assert process["env"] == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        f"HOSTNAME={CONTAINER_ID[:12]}",
        "FOO=bar",
        "HOME=/root",
    ]
    assert process["capabilities"] == {
        "bounding": list(DEFAULT_CAPABILITIES),
        "effective": list(DEFAULT_CAPABILITIES),
        "permitted": list(DEFAULT_CAPABILITIES),
    }
    assert process["noNewPrivileges"] is False and process["oomScoreAdj"] == 0
    assert "rlimits" not in process and "consoleSize" not in process
    linux = doc["linux"]
    assert ns_types(doc) == ["mount", "network", "uts", "pid", "ipc"]
    assert all("path" not in n for n in linux["namespaces"])
    assert linux["cgroupsPath"] == f"/berth/{CONTAINER_ID}"
    assert linux["maskedPaths"] == list(DEFAULT_MASKED_PATHS)
    assert linux["readonlyPaths"] == list(DEFAULT_READONLY_PATHS)
    assert linux["devices"] == []
    assert linux["resources"]["devices"][0] == {"allow": False, "type": "a", "access": "rwm"}
    assert set(linux["resources"]) == {"devices"}
    assert linux["sysctl"] == {
        "net.ipv4.ping_group_range": "0 2147483647",
        "net.ipv4.ip_unprivileged_port_start": "0",
    }
    assert linux["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert "annotations" not in doc and "domainname" not in doc
    json.dumps(doc)  # plain JSON


def test_default_mounts_in_dockers_order() -> None:
    doc = build()
    assert destinations(doc) == [
        "/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm",
        "/etc/resolv.conf", "/etc/hostname", "/etc/hosts",
    ]  # fmt: skip
    assert mount(doc, "/proc") == {
        "destination": "/proc", "type": "proc", "source": "proc",
        "options": ["nosuid", "noexec", "nodev"],
    }  # fmt: skip
    assert "ro" in mount(doc, "/sys")["options"]
    assert "ro" in mount(doc, "/sys/fs/cgroup")["options"]
    assert mount(doc, "/dev/shm")["options"][-1] == f"size={64 * MB}"
    assert mount(doc, "/dev/pts")["options"] == [
        "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5",
    ]  # fmt: skip
    assert mount(doc, "/etc/hosts") == {
        "destination": "/etc/hosts", "type": "bind", "source": FILES.hosts,
        "options": ["rbind", "rprivate"],
    }  # fmt: skip


def test_device_rules_allow_only_the_standard_devices() -> None:
    rules = build()["linux"]["resources"]["devices"]
    allowed = {(r["type"], r.get("major"), r.get("minor")) for r in rules if r["allow"]}
    standard = [
        (1, 3),
        (1, 5),
        (1, 7),
        (1, 8),
        (1, 9),
        (5, 0),
        (5, 1),
        (5, 2),
        (136, -1),
        (10, 200),
    ]
    for major, minor in standard:
        assert ("c", major, minor) in allowed, (major, minor)
    assert ("b", 8, 0) not in allowed and ("c", 10, 229) not in allowed
    mknod_only = [r for r in rules if r.get("major") == -1 and r.get("minor") == -1]
    assert all(r["access"] == "m" for r in mknod_only if r["allow"])


def test_a_non_root_user_has_no_effective_capabilities() -> None:
    doc = build({"User": "app"}, user=APP)
    caps = doc["process"]["capabilities"]
    assert caps["bounding"] == list(DEFAULT_CAPABILITIES)
    assert caps["effective"] == [] and caps["permitted"] == []
    assert doc["process"]["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [1000, 29]}
    assert "HOME=/home/app" in doc["process"]["env"]


def test_the_containers_env_wins() -> None:
    env = build({"Env": ["PATH=/opt", "HOSTNAME=mine", "HOME=/h", "TERM=dumb"], "Tty": True})[
        "process"
    ]["env"]
    assert env == ["PATH=/opt", "HOSTNAME=mine", "TERM=dumb", "HOME=/h"]


def test_tty_gets_term_and_console_size() -> None:
    process = build({"Tty": True}, {"ConsoleSize": [40, 120]})["process"]
    assert process["terminal"] is True and "TERM=xterm" in process["env"]
    assert process["consoleSize"] == {"height": 40, "width": 120}
    assert "consoleSize" not in build({"Tty": False}, {"ConsoleSize": [40, 120]})["process"]


def test_working_dir_and_domainname() -> None:
    doc = build({"WorkingDir": "/srv/app", "Hostname": "web", "Domainname": "example.org"})
    assert doc["process"]["cwd"] == "/srv/app"
    assert (doc["hostname"], doc["domainname"]) == ("web", "example.org")


# --- networking and namespaces ------------------------------------------------------------


def test_host_network_has_no_network_namespace_and_no_net_sysctls() -> None:
    doc = build({}, {"NetworkMode": "host"})
    assert "network" not in ns_types(doc)
    assert doc["linux"]["sysctl"] == {}
    assert doc["hostname"] == "testhost"


def test_joining_a_prepared_network_namespace() -> None:
    doc = build({}, {"NetworkMode": "bridge"}, netns="/run/berth/netns/abc")
    assert {"type": "network", "path": "/run/berth/netns/abc"} in doc["linux"]["namespaces"]
    assert "net.ipv4.ping_group_range" in doc["linux"]["sysctl"]
    forced_host = build({}, {"NetworkMode": "none"}, netns=spec.NETNS_HOST)
    assert "network" not in ns_types(forced_host)


def test_container_modes_need_the_other_containers_namespaces() -> None:
    with pytest.raises(BadParameter) as caught:
        build({}, {"IpcMode": "container:db"})
    assert one_line(caught) == "cannot join the ipc namespace of container:db: it is not running"
    doc = build(
        {},
        {"IpcMode": "container:db", "PidMode": "container:db", "NetworkMode": "container:db"},
        namespace_paths={"ipc": "/proc/9/ns/ipc", "pid": "/proc/9/ns/pid",
                         "network": "/proc/9/ns/net"},
    )  # fmt: skip
    assert {"type": "ipc", "path": "/proc/9/ns/ipc"} in doc["linux"]["namespaces"]
    assert {"type": "pid", "path": "/proc/9/ns/pid"} in doc["linux"]["namespaces"]
    assert {"type": "network", "path": "/proc/9/ns/net"} in doc["linux"]["namespaces"]
    assert doc["linux"]["sysctl"] == {}  # the other container's network is not ours to tune
    assert "/dev/shm" not in destinations(doc)


def test_host_namespaces_and_cgroup_namespace() -> None:
    doc = build({}, {"PidMode": "host", "IpcMode": "host", "UTSMode": "host"})
    assert ns_types(doc) == ["mount", "network"]
    assert "hostname" not in doc
    assert mount(doc, "/dev/shm")["type"] == "bind"  # the host's /dev/shm
    private = build({}, {"CgroupnsMode": "private"})
    assert ns_types(private)[-1] == "cgroup"


def test_ipc_none_has_no_shm() -> None:
    assert "/dev/shm" not in destinations(build({}, {"IpcMode": "none"}))
    assert mount(build({}, {"ShmSize": 1 * MB}), "/dev/shm")["options"][-1] == f"size={MB}"


# --- security -----------------------------------------------------------------------------


def test_privileged() -> None:
    doc = build({}, {"Privileged": True})
    linux = doc["linux"]
    assert "seccomp" not in linux
    assert "maskedPaths" not in linux and "readonlyPaths" not in linux
    assert "ro" not in mount(doc, "/sys")["options"]
    assert "ro" not in mount(doc, "/sys/fs/cgroup")["options"]
    assert linux["resources"]["devices"] == [{"allow": True, "type": "a", "access": "rwm"}]
    assert any(d["path"] == "/dev/null" and d["major"] == 1 for d in linux["devices"])
    assert not any(d["path"].startswith("/dev/pts/") for d in linux["devices"])
    bounding = doc["process"]["capabilities"]["bounding"]
    assert bounding == [c for c in CAPABILITIES if c in HOST.bounding]


def test_read_only_root() -> None:
    doc = build({}, {"ReadonlyRootfs": True, "Tmpfs": {"/run": ""}})
    assert doc["root"]["readonly"] is True
    for destination in ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/run"):
        assert "ro" not in mount(doc, destination)["options"], destination
    for destination in ("/sys", "/sys/fs/cgroup", "/etc/hosts", "/etc/resolv.conf"):
        assert "ro" in mount(doc, destination)["options"], destination


def test_security_options() -> None:
    doc = build({}, {"SecurityOpt": ["no-new-privileges", "seccomp=unconfined"]})
    assert doc["process"]["noNewPrivileges"] is True
    assert "seccomp" not in doc["linux"]
    admin = build({}, {"CapAdd": ["SYS_ADMIN"]})
    names = {n for rule in admin["linux"]["seccomp"]["syscalls"] for n in rule["names"]}
    assert "mount" in names and "CAP_SYS_ADMIN" in admin["process"]["capabilities"]["bounding"]
    dropped = build({}, {"CapDrop": ["ALL"]})["process"]["capabilities"]
    assert dropped == {"bounding": [], "effective": [], "permitted": []}


def test_systempaths_unconfined_and_custom_masks() -> None:
    doc = build({}, {"SecurityOpt": ["systempaths=unconfined"]})
    assert doc["linux"]["maskedPaths"] == [] and doc["linux"]["readonlyPaths"] == []


# --- resources ----------------------------------------------------------------------------


def test_resources() -> None:
    doc = build(
        {},
        {
            "Memory": 64 * MB,
            "MemoryReservation": 32 * MB,
            "MemorySwappiness": 10,
            "OomKillDisable": True,
            "NanoCpus": 1_500_000_000,
            "CpuShares": 512,
            "CpusetCpus": "1",
            "CpusetMems": "0",
            "PidsLimit": 64,
            "BlkioWeight": 300,
            "CgroupParent": "/custom/parent",
        },
    )
    resources = doc["linux"]["resources"]
    assert resources["memory"] == {
        "limit": 64 * MB,
        "reservation": 32 * MB,
        "swap": 128 * MB,
        "swappiness": 10,
        "disableOOMKiller": True,
    }
    assert resources["cpu"] == {
        "shares": 512, "period": 100000, "quota": 150000, "cpus": "1", "mems": "0"
    }  # fmt: skip
    assert resources["pids"] == {"limit": 64}
    assert resources["blockIO"] == {"weight": 300}
    assert doc["linux"]["cgroupsPath"] == f"/custom/parent/{CONTAINER_ID}"


def test_unlimited_swap_and_cfs_options() -> None:
    resources = build({}, {"Memory": 64 * MB, "MemorySwap": -1, "CpuPeriod": 50000,
                           "CpuQuota": 25000})["linux"]["resources"]  # fmt: skip
    assert resources["memory"] == {"limit": 64 * MB, "swap": -1}
    assert resources["cpu"] == {"period": 50000, "quota": 25000}


def test_rlimits_merge_daemon_defaults_with_the_containers() -> None:
    doc = build(
        {},
        {"Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 200},
                     {"Name": "core", "Soft": -1, "Hard": -1}]},
        default_ulimits=[Ulimit("nofile", 1024, 1024), Ulimit("nproc", 50, 60)],
    )  # fmt: skip
    assert doc["process"]["rlimits"] == [
        {"type": "RLIMIT_NOFILE", "hard": 200, "soft": 100},
        {"type": "RLIMIT_NPROC", "hard": 60, "soft": 50},
        {"type": "RLIMIT_CORE", "hard": 2**64 - 1, "soft": 2**64 - 1},
    ]


def test_cgroups_path_parent() -> None:
    assert spec.cgroups_path("x", {}, "berth") == "/berth/x"
    assert spec.cgroups_path("x", {"CgroupParent": "a/b/"}, "/berth") == "/a/b/x"
    with pytest.raises(BadParameter, match=r"'\.\.' is not allowed"):
        spec.cgroups_path("x", {"CgroupParent": "/a/../b"})


# --- devices ------------------------------------------------------------------------------


def test_devices_from_the_host() -> None:
    doc = build(
        {},
        {"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull",
                      "CgroupPermissions": "rw"}],
         "DeviceCgroupRules": ["c 42:* rmw"]},
    )  # fmt: skip
    (device,) = doc["linux"]["devices"]
    assert device["path"] == "/dev/mynull"
    assert (device["type"], device["major"], device["minor"]) == ("c", 1, 3)
    assert device["fileMode"] == stat.S_IMODE(os.stat("/dev/null").st_mode)
    rules = doc["linux"]["resources"]["devices"]
    assert rules[-2] == {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}
    assert rules[-1] == {"allow": True, "type": "c", "major": 42, "minor": -1, "access": "rmw"}


def test_missing_and_non_device_paths_fail_with_dockers_text(tmp_path: Path) -> None:
    with pytest.raises(BadParameter) as caught:
        build({}, {"Devices": [{"PathOnHost": "/dev/nope-nope"}]})
    assert one_line(caught) == (
        'error gathering device information while adding custom device "/dev/nope-nope": '
        "no such file or directory"
    )
    plain = tmp_path / "plain"
    plain.write_text("x")
    with pytest.raises(BadParameter) as caught:
        build({}, {"Devices": [{"PathOnHost": str(plain)}]})
    assert one_line(caught).endswith(f'custom device "{plain}": not a device node')


def test_a_symlink_to_a_device_is_followed(tmp_path: Path) -> None:
    link = tmp_path / "zero"
    os.symlink("/dev/zero", link)
    (device,) = build({}, {"Devices": [{"PathOnHost": str(link)}]})["linux"]["devices"]
    assert (device["path"], device["major"], device["minor"]) == (str(link), 1, 5)


@pytest.mark.root
@pytest.mark.skipif(not IS_ROOT, reason="needs root to make device nodes")
def test_a_directory_of_devices(tmp_path: Path) -> None:
    folder = tmp_path / "devs"
    (folder / "sub").mkdir(parents=True)
    os.mknod(folder / "a", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(folder / "sub" / "b", 0o600 | stat.S_IFCHR, os.makedev(1, 5))
    (folder / "regular").write_text("x")
    devices = build({}, {"Devices": [{"PathOnHost": str(folder), "PathInContainer": "/dev/x"}]})[
        "linux"
    ]["devices"]
    assert [(d["path"], d["minor"]) for d in devices] == [("/dev/x/a", 3), ("/dev/x/sub/b", 5)]


def test_privileged_keeps_renamed_devices() -> None:
    renamed = [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/othernull"}]
    devices = build({}, {"Privileged": True, "Devices": renamed})["linux"]["devices"]
    assert any(d["path"] == "/dev/othernull" for d in devices)


# --- mounts -------------------------------------------------------------------------------


def test_tmpfs_mounts_merge_options() -> None:
    doc = build({}, {"Tmpfs": {"/run": "exec,size=1m,size=2m", "/tmp/x/../y": ""}})
    assert mount(doc, "/run")["options"] == ["exec", "nosuid", "nodev", "rprivate", "size=2m"]
    assert mount(doc, "/tmp/y")["type"] == "tmpfs"
    assert spec.merge_tmpfs_options(["ro", "rw", "", "mode=1777", "mode=755"]) == [
        "rw",
        "mode=755",
    ]


def test_user_mounts_override_defaults_and_network_files() -> None:
    extra = [
        {"destination": "/etc/hosts", "type": "bind", "source": "/mine", "options": ["rbind"]},
        {"destination": "/data/deep/er", "type": "bind", "source": "/d2", "options": ["rbind"]},
        {"destination": "/data", "type": "bind", "source": "/d", "options": ["rbind"]},
        {"destination": "/dev", "type": "bind", "source": "/hostdev", "options": ["rbind"]},
    ]
    doc = build({}, {}, mounts=extra)
    assert mount(doc, "/etc/hosts")["source"] == "/mine"
    paths = destinations(doc)
    assert paths.index("/data") < paths.index("/data/deep/er")  # parents first
    assert not any(p.startswith("/dev/") for p in paths)  # /dev replaced wholesale
    assert mount(doc, "/dev")["source"] == "/hostdev"


def test_without_network_files_the_images_are_kept() -> None:
    doc = build(files=None)
    assert "/etc/hosts" not in destinations(doc)


def test_init_is_mounted_and_put_first() -> None:
    doc = build({"Cmd": ["sleep", "1"]}, {"Init": True}, init_path="/usr/bin/tini-static")
    assert doc["process"]["args"] == ["/sbin/docker-init", "--", "sleep", "1"]
    assert mount(doc, "/sbin/docker-init") == {
        "destination": "/sbin/docker-init", "type": "bind", "source": "/usr/bin/tini-static",
        "options": ["bind", "ro"],
    }  # fmt: skip
    with pytest.raises(BadParameter) as caught:
        build({}, {"Init": True})
    assert "--init needs an init binary" in one_line(caught)
    shared_pid = build({"Cmd": ["sleep"]}, {"Init": True, "PidMode": "host"}, init_path="/x")
    assert shared_pid["process"]["args"] == ["sleep"]


def test_annotations() -> None:
    assert build({}, {"Annotations": {"a": "b"}})["annotations"] == {"a": "b"}


def test_no_command_is_an_error() -> None:
    container = make_container({"Cmd": ["x"]})
    container.path = ""
    with pytest.raises(BadParameter, match="No command specified"):
        spec.build_spec(container, rootfs="/r", user=ROOT, files=None, host=HOST)


def test_default_sysctls_only_where_the_kernel_has_them() -> None:
    bare = dataclasses.replace(HOST, sysctls=frozenset())
    doc = build({}, {"Sysctls": {"net.core.somaxconn": "1024"}}, host=bare)
    assert doc["linux"]["sysctl"] == {"net.core.somaxconn": "1024"}


# --- exec ---------------------------------------------------------------------------------


def test_exec_process() -> None:
    container = make_container({"Env": ["A=1"], "WorkingDir": "/srv"}, {"CapAdd": ["NET_ADMIN"]})
    process = spec.exec_process(container, ["sh", "-c", "id"], APP, HOST, env=["A=2", "B=3"])
    assert process["args"] == ["sh", "-c", "id"]
    assert process["cwd"] == "/srv"
    assert process["env"][-3:] == ["A=2", "B=3", "HOME=/home/app"]
    assert not any(e.startswith("TERM=") for e in process["env"])
    assert process["capabilities"]["bounding"][-1] == "CAP_NET_ADMIN"
    assert process["capabilities"]["effective"] == []  # uid 1000
    assert process["user"]["uid"] == 1000
    tty = spec.exec_process(container, ["sh"], ROOT, HOST, tty=True, working_dir="/tmp",
                            privileged=True, console_size=(24, 80))  # fmt: skip
    assert "TERM=xterm" in tty["env"] and tty["cwd"] == "/tmp"
    assert tty["consoleSize"] == {"height": 24, "width": 80}
    assert len(tty["capabilities"]["effective"]) == len(HOST.bounding)
    with pytest.raises(BadParameter, match="No exec command specified"):
        spec.exec_process(container, [], ROOT, HOST)
    with pytest.raises(BadParameter, match="needs to be an absolute path"):
        spec.exec_process(container, ["sh"], ROOT, HOST, working_dir="rel")


# --- bundle and working directory ---------------------------------------------------------


def test_write_bundle(tmp_path: Path) -> None:
    doc = build()
    path = spec.write_bundle(tmp_path / "exec" / "containers" / CONTAINER_ID, doc)
    assert path.name == "config.json"
    assert json.loads(path.read_text()) == doc
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0o011
    assert [p.name for p in path.parent.iterdir()] == ["config.json"]  # no temp file left


def test_ensure_working_dir_stays_in_the_rootfs(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    canary = tmp_path / "canary"
    root.mkdir()
    canary.mkdir()
    spec.ensure_working_dir(root, "/srv/app/data")
    assert (root / "srv" / "app" / "data").is_dir()
    assert stat.S_IMODE((root / "srv").stat().st_mode) == 0o755
    os.symlink("../../../srv", root / "escape")  # resolves to the rootfs's /srv
    spec.ensure_working_dir(root, "/escape/made")
    assert (root / "srv" / "made").is_dir()
    os.symlink(str(canary), root / "absolute")  # the host's canary: dangling inside the rootfs
    with pytest.raises(BadParameter) as caught:
        spec.ensure_working_dir(root, "/absolute/made2")
    assert "a symlink on the way points to a directory that does not exist" in one_line(caught)
    assert list(canary.iterdir()) == []
    spec.ensure_working_dir(root, "/")
    (root / "file").write_text("x")
    with pytest.raises(BadParameter) as caught:
        spec.ensure_working_dir(root, "/file/sub")
    assert one_line(caught) == "Cannot mkdir: /file/sub is not a directory"
