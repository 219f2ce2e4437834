"""Create-time defaults and checks of the HostConfig, with Docker's texts; capabilities,
ulimits, devices, security options; the host facts they depend on."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from berth.engine.containers import hostconfig, model
from berth.engine.containers.hostconfig import (
    CAPABILITIES,
    DEFAULT_CAPABILITIES,
    DEFAULT_MASKED_PATHS,
    HostFacts,
    Ulimit,
    prepare_create,
)
from berth.engine.errors import BadParameter

from .kit import CONTAINER_ID, HOST, one_line

MB = 1024 * 1024


def prepare(
    host_config: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    host: HostFacts = HOST,
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    merged = model.merge_image_config(config or {}, {"Cmd": ["sh"]})
    complete, warnings = prepare_create(CONTAINER_ID, merged, host_config, host)
    return complete, merged, warnings


def refused(host_config: dict[str, Any], config: dict[str, Any] | None = None) -> str:
    with pytest.raises(BadParameter) as caught:
        prepare(host_config, config)
    assert caught.value.status == 400
    return one_line(caught)


# --- defaults -----------------------------------------------------------------------------


def test_dockers_defaults_are_filled_in() -> None:
    hc, config, warnings = prepare({"NetworkMode": "none"})
    assert warnings == []
    assert hc["ShmSize"] == 64 * MB
    assert hc["IpcMode"] == "private"
    assert hc["CgroupnsMode"] == "host"  # cgroup v1 host
    assert hc["OomKillDisable"] is False
    assert hc["MaskedPaths"] == list(DEFAULT_MASKED_PATHS)
    assert "/proc/sys" in hc["ReadonlyPaths"]
    assert hc["RestartPolicy"] == {"Name": "no", "MaximumRetryCount": 0}
    assert hc["LogConfig"] == {"Type": "json-file", "Config": {}}
    assert hc["NetworkMode"] == "none"
    assert set(model.default_host_config()) <= set(hc)
    assert config["Hostname"] == CONTAINER_ID[:12]


def test_cgroup_v2_hosts_get_a_private_cgroup_namespace() -> None:
    hc, _, _ = prepare({}, host=dataclasses.replace(HOST, cgroup_v2=True))
    assert hc["CgroupnsMode"] == "private"
    hc, _, _ = prepare({"CgroupnsMode": "host"}, host=dataclasses.replace(HOST, cgroup_v2=True))
    assert hc["CgroupnsMode"] == "host"


def test_memory_swap_defaults_to_twice_the_memory() -> None:
    hc, _, _ = prepare({"Memory": 64 * MB})
    assert hc["MemorySwap"] == 128 * MB
    hc, _, _ = prepare({"Memory": 64 * MB, "MemorySwap": -1})
    assert hc["MemorySwap"] == -1
    no_swap = dataclasses.replace(HOST, swap_limit=False)
    hc, _, warnings = prepare({"Memory": 64 * MB, "MemorySwap": 100 * MB}, host=no_swap)
    assert hc["MemorySwap"] == -1
    assert warnings == [
        "Your kernel does not support swap limit capabilities or the cgroup is not mounted. "
        "Memory limited without swap."
    ]


def test_host_network_takes_the_hosts_name_and_explicit_names_stay() -> None:
    _, config, _ = prepare({"NetworkMode": "host"})
    assert config["Hostname"] == "testhost"
    _, config, _ = prepare({"NetworkMode": "host"}, {"Hostname": "mine"})
    assert config["Hostname"] == "mine"  # allowed on the host's network since Docker 20.10


def test_privileged_and_systempaths_unconfined_have_no_masked_paths() -> None:
    hc, _, _ = prepare({"Privileged": True})
    assert hc["MaskedPaths"] is None and hc["ReadonlyPaths"] is None
    hc, _, _ = prepare({"SecurityOpt": ["systempaths=unconfined"]})
    assert hc["MaskedPaths"] == [] and hc["ReadonlyPaths"] == []
    hc, _, _ = prepare({"MaskedPaths": ["/proc/x"], "ReadonlyPaths": []})
    assert hc["MaskedPaths"] == ["/proc/x"] and hc["ReadonlyPaths"] == []


def test_values_docker_normalises() -> None:
    hc, _, warnings = prepare(
        {"PidsLimit": 0, "MemorySwappiness": -1, "CpuPercent": 50, "CpuCount": 2}
    )
    assert hc["PidsLimit"] is None and hc["MemorySwappiness"] is None
    assert hc["CpuPercent"] == 0 and hc["CpuCount"] == 0
    assert "linux does not support CPU percent. Percent discarded." in warnings
    hc, _, warnings = prepare({"OomKillDisable": True})
    assert warnings == [
        "OOM killer is disabled for the container, but no memory limit is set, this can result "
        "in the system running out of resources."
    ]


def test_the_request_is_not_modified() -> None:
    given = {"Memory": 64 * MB, "CapAdd": ["NET_ADMIN"]}
    prepare(given)
    assert given == {"Memory": 64 * MB, "CapAdd": ["NET_ADMIN"]}


# --- refused ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host_config, message",
    [
        ({"Memory": 4 * MB}, "Minimum memory limit allowed is 6MB"),
        ({"Memory": 6 * MB - 1}, "Minimum memory limit allowed is 6MB"),
        (
            {"Memory": 64 * MB, "MemorySwap": 32 * MB},
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ),
        (
            {"MemorySwap": 32 * MB},
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ),
        (
            {"MemorySwappiness": 101},
            "Invalid value: 101, valid memory swappiness range is 0-100",
        ),
        ({"MemoryReservation": MB}, "Minimum memory reservation allowed is 6MB"),
        (
            {"Memory": 10 * MB, "MemoryReservation": 20 * MB},
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ),
        (
            {"NanoCpus": 3_000_000_000},
            "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available",
        ),
        (
            {"NanoCpus": -1},
            "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available",
        ),
        (
            {"NanoCpus": 10**9, "CpuPeriod": 100000},
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ),
        (
            {"NanoCpus": 10**9, "CpuQuota": 50000},
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ),
        (
            {"CpuPeriod": 500},
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ),
        ({"CpuQuota": 999}, "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
        ({"CpuShares": -2}, "shares: invalid argument"),
        ({"CpusetCpus": "0-a"}, "Invalid value 0-a for cpuset cpus: invalid format: 0-a"),
        (
            {"CpusetCpus": "1-3"},
            "Requested CPUs are not available - requested 1-3, available: 0-1",
        ),
        (
            {"CpusetMems": "1"},
            "Requested memory nodes are not available - requested 1, available: 0",
        ),
        ({"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000"),
        (
            {"IOMaximumBandwidth": 1},
            "Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps",
        ),
        ({"Memory": "lots"}, "invalid Memory: 'lots' is not a number"),
        ({"ShmSize": -1}, "SHM size can not be less than 0"),
        ({"OomScoreAdj": 1001}, "Invalid value 1001, range for oom score adj is [-1000, 1000]"),
    ],
)
def test_resource_errors_have_dockers_texts(host_config: dict[str, Any], message: str) -> None:
    assert refused(host_config) == message


@pytest.mark.parametrize(
    "host_config, message",
    [
        ({"CapAdd": ["FOO"]}, 'invalid CapAdd: unknown capability: "CAP_FOO"'),
        ({"CapAdd": ["cap_bogus"]}, 'invalid CapAdd: unknown capability: "CAP_BOGUS"'),
        ({"CapDrop": ["NOPE"]}, 'invalid CapDrop: unknown capability: "CAP_NOPE"'),
        (
            {"CapAdd": ["SYS_RESOURCE"]},
            "invalid CapAdd: CAP_SYS_RESOURCE cannot be given to containers on this host: "
            "berthd's own capability bounding set lacks it",
        ),
        (
            {"Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 30000}]},
            "ulimit nofile: hard limit 30000 is above this host's maximum 20000, which berthd "
            "cannot raise (it lacks CAP_SYS_RESOURCE); use at most 20000",
        ),
        (
            {"Ulimits": [{"Name": "nofile", "Soft": -1, "Hard": -1}]},
            "ulimit nofile: hard limit unlimited is above this host's maximum 20000, which "
            "berthd cannot raise (it lacks CAP_SYS_RESOURCE); use at most 20000",
        ),
        ({"Ulimits": [{"Name": "bogus", "Soft": 1, "Hard": 1}]}, "invalid ulimit type: bogus"),
        (
            {"Ulimits": [{"Name": "nproc", "Soft": 10, "Hard": 5}]},
            "ulimit soft limit must be less than or equal to hard limit: 10 > 5",
        ),
        ({"Devices": [{"PathOnHost": "/dev/null", "CgroupPermissions": "rwx"}]},
         "invalid device mode: rwx"),
        ({"Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "dev/n"}]},
         "dev/n is not an absolute path"),
        ({"Devices": [{"PathInContainer": "/dev/n"}]}, "invalid device: PathOnHost is empty"),
        ({"DeviceCgroupRules": ["c 1:3"]}, "invalid device cgroup rule format: 'c 1:3'"),
        ({"SecurityOpt": ["bogus"]}, 'invalid --security-opt 1: "bogus"'),
        ({"SecurityOpt": ["foo=bar"]}, 'invalid --security-opt 2: "foo=bar"'),
        ({"SecurityOpt": ["no-new-privileges=maybe"]},
         'invalid --security-opt 2: "no-new-privileges=maybe"'),
        ({"SecurityOpt": ["seccomp={broken"]}, "Decoding seccomp profile failed: "),
        ({"IpcMode": "bogus"}, "invalid IPC mode: bogus"),
        ({"PidMode": "bogus"}, "invalid PID mode: bogus"),
        ({"UTSMode": "bogus"}, "invalid UTS mode: bogus"),
        ({"CgroupnsMode": "bogus"}, "invalid cgroup namespace mode: bogus"),
        ({"UsernsMode": "private"}, "invalid USER mode: private: berth runs containers in the "
         "host's user namespace"),
        ({"NetworkMode": "container:"},
         "Invalid network mode: invalid container format container:<name|id>"),
        ({"NetworkMode": "host", "Links": ["a:b"]},
         "conflicting options: host type networking can't be used with links. This would "
         "result in undefined behavior"),
        ({"NetworkMode": "container:x", "Dns": ["1.1.1.1"]},
         "conflicting options: dns and the network mode"),
        ({"NetworkMode": "container:x", "ExtraHosts": ["a:1.1.1.1"]},
         "conflicting options: custom host-to-IP mapping and the network mode"),
        ({"NetworkMode": "container:x", "PublishAllPorts": True},
         "conflicting options: port publishing and the container type network mode"),
        ({"ExtraHosts": ["nocolon"]}, 'bad format for add-host: "nocolon"'),
        ({"ExtraHosts": ["gw:host-gateway"]},
         "unable to derive the IP value for host-gateway: this daemon has no host-gateway IP "
         "(no bridge network); give an address instead"),
        ({"Dns": ["not-an-ip"]}, "not-an-ip is not an ip address"),
        ({"Sysctls": {"kernel.panic": "1"}},
         "sysctl 'kernel.panic' is not in a separate kernel namespace"),
        ({"NetworkMode": "host", "Sysctls": {"net.ipv4.ip_forward": "1"}},
         "sysctl 'net.ipv4.ip_forward' is not allowed in host network namespace"),
        ({"IpcMode": "host", "Sysctls": {"kernel.shmmax": "1"}},
         "sysctl 'kernel.shmmax' is not allowed in the host's IPC namespace"),
        ({"Tmpfs": {"run": ""}},
         "invalid mount config for type \"tmpfs\": invalid mount path: 'run' mount path must be "
         "absolute"),
        ({"Tmpfs": {"/": ""}}, "invalid specification: destination can't be '/'"),
        ({"ConsoleSize": [24]}, "invalid ConsoleSize: it must be [height, width], both >= 0"),
        ({"Annotations": {"": "x"}},
         "invalid Annotations: the empty string is not permitted as an annotation key"),
        ({"CgroupParent": "../../escape"}, "invalid cgroup parent '../../escape': '..' is not "
         "allowed"),
        ({"CpuRealtimeRuntime": 1000}, "berth does not support the CPU real-time scheduler "
         "options (--cpu-rt-period, --cpu-rt-runtime); leave them unset"),
    ],
)  # fmt: skip
def test_option_errors(host_config: dict[str, Any], message: str) -> None:
    assert refused(host_config).startswith(message)


@pytest.mark.parametrize(
    "host_config, config, message",
    [
        ({"NetworkMode": "container:abc"}, {"Hostname": "x"},
         "conflicting options: hostname and the network mode"),
        ({"UTSMode": "host"}, {"Hostname": "x"}, "conflicting options: hostname and the UTS mode"),
        ({"UTSMode": "host"}, {"Domainname": "x"},
         "conflicting options: domainname and the UTS mode"),
        ({"NetworkMode": "host"}, {"MacAddress": "02:42:ac:11:00:02"},
         "conflicting options: mac-address and the network mode"),
        ({"NetworkMode": "container:abc"}, {"ExposedPorts": {"80/tcp": {}}},
         "conflicting options: port exposing and the container type network mode"),
        ({}, {"WorkingDir": "relative/dir"},
         "the working directory 'relative/dir' is invalid, it needs to be an absolute path"),
        ({}, {"Env": ["=value"]}, "invalid environment variable: =value"),
    ],
)  # fmt: skip
def test_config_conflicts(
    host_config: dict[str, Any], config: dict[str, Any], message: str
) -> None:
    assert refused(host_config, config) == message


def test_good_options_pass() -> None:
    hc, _, warnings = prepare(
        {
            "Memory": 6 * MB,
            "NanoCpus": 2 * 10**9,
            "CpuShares": 512,
            "CpusetCpus": "0,1",
            "PidsLimit": 100,
            "CapAdd": ["net_admin", "CAP_SYS_PTRACE"],
            "CapDrop": ["ALL"],
            "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 20000}],
            "Devices": [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/n",
                         "CgroupPermissions": "rw"}],
            "DeviceCgroupRules": ["c 1:3 mr", "a"],
            "SecurityOpt": ["no-new-privileges", "seccomp=unconfined", "label=disable"],
            "ExtraHosts": ["db:10.0.0.1"],
            "Dns": ["9.9.9.9"],
            "Sysctls": {"net.ipv4.ip_forward": "1", "kernel.shmmax": "100"},
            "Tmpfs": {"/run": "size=1m"},
            "IpcMode": "shareable",
            "OomScoreAdj": -500,
            "ConsoleSize": [24, 80],
        }
    )  # fmt: skip
    assert warnings == []
    assert hc["PidsLimit"] == 100 and hc["MemorySwap"] == 12 * MB


# --- parsers ------------------------------------------------------------------------------


def test_parse_ulimit() -> None:
    assert hostconfig.parse_ulimit("nofile=1024:2048") == Ulimit("nofile", 1024, 2048)
    assert hostconfig.parse_ulimit("core=-1") == Ulimit("core", -1, -1)
    assert hostconfig.parse_ulimit("nproc=10:-1") == Ulimit("nproc", 10, -1)
    for bad, message in [
        ("nofile", "invalid ulimit argument: nofile"),
        ("bogus=1", "invalid ulimit type: bogus"),
        ("nofile=1:2:3", "too many limit value arguments - 1:2:3, can only have up to two, "
         "`soft[:hard]`"),
        ("nofile=x", 'strconv.ParseInt: parsing "x": invalid syntax'),
        ("nofile=10:5", "ulimit soft limit must be less than or equal to hard limit: 10 > 5"),
    ]:  # fmt: skip
        with pytest.raises(BadParameter) as caught:
            hostconfig.parse_ulimit(bad)
        assert one_line(caught) == message


def test_parse_device_like_the_docker_cli() -> None:
    assert hostconfig.parse_device("/dev/sda") == {
        "PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda", "CgroupPermissions": "rwm"
    }  # fmt: skip
    assert hostconfig.parse_device("/dev/sda:/dev/xvda")["PathInContainer"] == "/dev/xvda"
    assert hostconfig.parse_device("/dev/sda:r") == {
        "PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda", "CgroupPermissions": "r"
    }  # fmt: skip
    assert hostconfig.parse_device("/dev/sda:/dev/xvda:rw")["CgroupPermissions"] == "rw"
    for bad, message in [
        ("", "bad format for path: "),
        ("/a:/b:rw:x", "bad format for path: /a:/b:rw:x"),
        ("/dev/sda:/dev/xvda:rwx", "bad mode specified: rwx"),
        ("/dev/sda:/dev/xvda:rr", "bad mode specified: rr"),
        ("/dev/sda:xvda", "xvda is not an absolute path"),
    ]:
        with pytest.raises(BadParameter) as caught:
            hostconfig.parse_device(bad)
        assert one_line(caught) == message


def test_parse_device_cgroup_rule() -> None:
    assert hostconfig.parse_device_cgroup_rule("c 1:3 mr") == {
        "allow": True, "type": "c", "major": 1, "minor": 3, "access": "mr"
    }  # fmt: skip
    assert hostconfig.parse_device_cgroup_rule("b *:* m")["major"] == -1
    assert hostconfig.parse_device_cgroup_rule("a")["type"] == "a"
    with pytest.raises(BadParameter, match="partially ineffective: 'a 1:3 m'"):
        hostconfig.parse_device_cgroup_rule("a 1:3 m")
    with pytest.raises(BadParameter, match="invalid major value"):
        hostconfig.parse_device_cgroup_rule("c 4096:1 rwm")
    with pytest.raises(BadParameter, match="invalid device cgroup rule format: 'x 1:1 r'"):
        hostconfig.parse_device_cgroup_rule("x 1:1 r")


def test_parse_id_list() -> None:
    assert hostconfig.parse_id_list("0-2,5") == {0, 1, 2, 5}
    assert hostconfig.parse_id_list("") == frozenset()
    for bad in ("a", "1-", "3-1", "1,,2", "-1"):
        with pytest.raises(ValueError, match="invalid format"):
            hostconfig.parse_id_list(bad)


def test_security_opts() -> None:
    parsed = hostconfig.parse_security_opts(
        ["no-new-privileges:true", "seccomp=/x.json", "apparmor=p", "label=type:t", "disable"]
    )
    assert parsed.no_new_privileges and parsed.seccomp == "/x.json" and parsed.apparmor == "p"
    assert parsed.labels == ("type:t", "disable")
    assert not hostconfig.parse_security_opts(["no-new-privileges=false"]).no_new_privileges


# --- capabilities -------------------------------------------------------------------------


def caps(host_config: dict[str, Any], host: HostFacts = HOST) -> list[str]:
    return hostconfig.container_capabilities(host_config, host)


def test_default_capabilities_are_dockers_fourteen() -> None:
    assert caps({}) == list(DEFAULT_CAPABILITIES)
    assert len(DEFAULT_CAPABILITIES) == 14


def test_cap_add_and_drop() -> None:
    assert caps({"CapDrop": ["chown", "CAP_KILL"]}) == [
        c for c in DEFAULT_CAPABILITIES if c not in ("CAP_CHOWN", "CAP_KILL")
    ]
    assert caps({"CapAdd": ["net_admin"]}) == [*DEFAULT_CAPABILITIES, "CAP_NET_ADMIN"]
    assert caps({"CapAdd": ["CHOWN"]}) == list(DEFAULT_CAPABILITIES)  # no duplicate
    assert caps({"CapDrop": ["ALL"], "CapAdd": ["chown"]}) == ["CAP_CHOWN"]
    assert caps({"CapDrop": ["all"]}) == []
    everything = caps({"CapAdd": ["ALL"], "CapDrop": ["SYS_ADMIN"]})
    assert "CAP_SYS_ADMIN" not in everything and "CAP_SYS_MODULE" in everything
    assert "CAP_SYS_RESOURCE" not in everything  # berthd does not hold it here


def test_privileged_gets_what_berthd_holds_on_this_kernel() -> None:
    got = caps({"Privileged": True, "CapDrop": ["ALL"]})
    assert got == [c for c in CAPABILITIES if c != "CAP_SYS_RESOURCE"]
    older = dataclasses.replace(HOST, cap_last_cap=37)  # a kernel without PERFMON, BPF, …
    assert caps({"Privileged": True}, older)[-1] == "CAP_AUDIT_READ"
    with pytest.raises(BadParameter, match='unknown capability: "CAP_BPF"'):
        caps({"CapAdd": ["BPF"]}, older)


def test_detected_host_facts_are_plausible() -> None:
    host = HostFacts.detect()
    assert host.ncpu >= 1
    assert hostconfig.parse_id_list(host.cpus)
    assert host.cap_last_cap >= 36
    assert host.bounding <= set(CAPABILITIES)
    assert host.arch and host.kernel >= (3, 10)
    assert "nofile" in host.rlimit_hard
    assert host.hostname
