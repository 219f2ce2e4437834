"""config.json is read and checked before anything is forked, with one-line errors."""

from __future__ import annotations

import copy
import json
import resource
from pathlib import Path
from typing import Any

import pytest
from berth.testing.ocispec import DOCKER_CAPABILITY_MASK, docker_like_config
from berth_isolation_linux import config
from berth_isolation_linux import syscalls as sc


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    (tmp_path / "rootfs").mkdir()
    return tmp_path


def spec(**changes: Any) -> dict[str, Any]:
    base = docker_like_config(["sh"], cgroups_path="/berth-test/x")
    for key, value in changes.items():
        base[key] = value
    return base


def test_dockers_defaults_parse(bundle: Path) -> None:
    cfg = config.parse(spec(), str(bundle))
    assert cfg.root == str(bundle / "rootfs")
    assert cfg.hostname == "berth-test"
    assert cfg.process.capabilities.bounding == DOCKER_CAPABILITY_MASK
    assert cfg.process.capabilities.effective == DOCKER_CAPABILITY_MASK
    assert cfg.process.capabilities.inheritable == 0
    assert cfg.namespaces == {"mount": None, "network": None, "uts": None, "pid": None, "ipc": None}
    assert cfg.root_propagation == sc.MS_SLAVE | sc.MS_REC  # runc's default
    proc = next(m for m in cfg.mounts if m.destination == "/proc")
    assert proc.flags == sc.MS_NOSUID | sc.MS_NOEXEC | sc.MS_NODEV
    dev = next(m for m in cfg.mounts if m.destination == "/dev")
    assert dev.flags == sc.MS_NOSUID | sc.MS_STRICTATIME
    assert dev.data == "mode=755,size=65536k"
    sys_ = next(m for m in cfg.mounts if m.destination == "/sys")
    assert sys_.flags & sc.MS_RDONLY


def test_mount_options() -> None:
    mount = config.parse_mount(
        {
            "destination": "/data",
            "source": "/srv",
            "options": ["rbind", "ro", "nosuid", "rw", "rprivate", "tmpcopyup", "uid=5"],
        },
        "m",
    )
    assert mount.type == "bind"
    assert mount.is_bind
    assert mount.flags == sc.MS_BIND | sc.MS_REC | sc.MS_NOSUID  # rw cleared ro
    assert mount.propagation == (sc.MS_PRIVATE | sc.MS_REC,)
    assert mount.data == "uid=5"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"destination": "relative", "type": "tmpfs"}, "absolute path"),
        ({"destination": "/x"}, "no type"),
        ({"destination": "/x", "type": "bind", "options": ["rro"]}, "not supported"),
        ({"destination": "/x", "type": "tmpfs", "options": "ro"}, "must be a list"),
    ],
)
def test_bad_mounts(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config.parse_mount(entry, "mounts[0]")


def test_rlimits() -> None:
    proc = config.parse_process(
        {
            "args": ["true"],
            "rlimits": [
                {"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20},
                {"type": "RLIMIT_CORE", "soft": -1, "hard": 2**64 - 1},
            ],
        }
    )
    nofile, core = proc.rlimits
    assert (nofile.resource, nofile.soft, nofile.hard) == (resource.RLIMIT_NOFILE, 10, 20)
    assert core.soft == core.hard == resource.RLIM_INFINITY


@pytest.mark.parametrize(
    ("process", "message"),
    [
        ({"args": []}, "no command"),
        ({}, "no command"),
        ({"args": ["x"], "cwd": "relative"}, "absolute"),
        ({"args": ["x"], "user": {"uid": "root"}}, "integer"),
        ({"args": ["x"], "rlimits": [{"type": "RLIMIT_NOPE", "soft": 1, "hard": 1}]}, "rlimit"),
        ({"args": ["x"], "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 9, "hard": 1}]}, "soft"),
        ({"args": ["x"], "capabilities": {"bounding": ["CAP_FLY"]}}, "unknown capability"),
        ({"args": ["x"], "env": "A=B"}, "list"),
    ],
)
def test_bad_processes(process: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as caught:
        config.parse_process(process)
    assert "\n" not in str(caught.value)


def test_environment_mapping() -> None:
    proc = config.parse_process({"args": ["x"], "env": ["A=1", "B=x=y", "A=2", "EMPTY="]})
    assert proc.env_map == {"A": "2", "B": "x=y", "EMPTY": ""}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.update(root={"path": "missing"}), "not a directory"),
        (lambda s: s.update(root={}), "root.path"),
        (lambda s: s["linux"].update(uidMappings=[{"containerID": 0}]), "user namespaces"),
        (
            lambda s: s["linux"]["namespaces"].append({"type": "user"}),
            "user namespaces are not supported",
        ),
        (lambda s: s["linux"]["namespaces"].append({"type": "pid"}), "listed twice"),
        (lambda s: s["linux"]["namespaces"].append({"type": "bogus"}), "unknown namespace"),
        (
            lambda s: s["linux"].update(namespaces=[{"type": "mount"}]),
            "hostname needs a new UTS namespace",
        ),
        (
            lambda s: s["linux"].update(namespaces=[{"type": "uts"}]),
            "needs a new mount namespace",
        ),
        (
            lambda s: s["linux"]["namespaces"].__setitem__(
                1, {"type": "network", "path": "/run/netns/none-such"}
            ),
            "does not exist",
        ),
        (lambda s: s["linux"].update(rootfsPropagation="sideways"), "rootfsPropagation"),
        (lambda s: s["linux"].update(devices=[{"path": "/etc/x", "type": "c"}]), "under /dev"),
        (lambda s: s["linux"].update(devices=[{"path": "/dev/x", "type": "q"}]), "unknown type"),
        (lambda s: s["linux"].update(personality={"domain": "LINUX32"}), "personality"),
    ],
)
def test_bad_specs(bundle: Path, edit: Any, message: str) -> None:
    bad = copy.deepcopy(spec())
    edit(bad)
    with pytest.raises(ValueError, match=message) as caught:
        config.parse(bad, str(bundle))
    assert "\n" not in str(caught.value)


def test_load_reports_a_missing_or_broken_config(bundle: Path) -> None:
    with pytest.raises(ValueError, match=r"has no config\.json"):
        config.load(str(bundle))
    (bundle / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"cannot read"):
        config.load(str(bundle))
    (bundle / "config.json").write_text(json.dumps(["a list"]))
    with pytest.raises(ValueError, match="JSON object"):
        config.load(str(bundle))


def test_joined_namespaces_keep_their_path(bundle: Path) -> None:
    joined = spec()
    joined["linux"]["namespaces"][1] = {"type": "network", "path": "/proc/self/ns/net"}
    cfg = config.parse(joined, str(bundle))
    assert cfg.namespaces["network"] == "/proc/self/ns/net"
    assert not cfg.new_namespace("network")
    assert cfg.new_namespace("pid")
