"""How the flags of `run` and `create` become the body of `POST /containers/create`, as the
docker CLI (28) makes it (its `parse` and what its API client adds): the same checks, the same
error messages, the same JSON (Config, HostConfig, NetworkingConfig).

Two kinds of errors, as docker has them: a flag whose value does not parse is a usage error
(`FlagError`: `invalid argument "x" for "-m, --memory" flag: invalid size: 'x'`); options that
do not fit together, files that cannot be read and the like are `OptionsError`s, reported as
`berth: <message>` (both exit with status 125).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from berth.cli.container_flags import Values
from berth.cli.exitstatus import FlagError
from berth.cli.flagvalues import parse_int, parse_ip, parse_uint

JSONObject = dict[str, Any]


class OptionsError(Exception):
    """The options cannot make a container (docker's `parse` errors)."""


def read_kv_file(path: str, lookup: Callable[[str], str | None] | None) -> list[str]:
    """docker's kvfile.Parse: KEY=VALUE lines, `#` comments, KEY alone taken from lookup."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        what = (exc.strerror or str(exc)).lower()
        raise OptionsError(f"open {path}: {what}") from None
    lines: list[str] = []
    for number, raw in enumerate(data.split(b"\n"), start=1):
        raw = raw.removesuffix(b"\r")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise OptionsError(
                f"invalid env file ({path}): invalid utf8 bytes at line {number}: "
                f"[{' '.join(str(b) for b in raw)}]"
            ) from None
        if number == 1:
            text = text.removeprefix("\ufeff")
        line = text.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, _ = line.partition("=")
        if not key:
            raise OptionsError(f"invalid env file ({path}): no variable name on line '{line}'")
        if any(c in key for c in " \t"):
            raise OptionsError(f"invalid env file ({path}): variable '{key}' contains whitespaces")
        if sep:
            lines.append(line)
        elif lookup is not None:
            found = lookup(line)
            if found is not None:
                lines.append(f"{key}={found}")
    return lines


def _kv_map(values: Iterable[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for value in values:
        key, _, val = value.partition("=")
        result[key] = val
    return result


def _parse_volume(spec: str) -> tuple[str, str, str]:
    """compose's ParseVolume, Linux paths: (source, target, mode); errors as docker's."""
    if not spec:
        raise OptionsError("invalid empty volume spec")
    if len(spec) <= 2:
        return "", spec, ""
    parts = spec.split(":")
    if any(not p for p in parts):
        raise OptionsError(f"invalid spec: {spec}: empty section between colons")
    if len(parts) > 3:
        raise OptionsError(f"invalid spec: {spec}: too many colons")
    if len(parts) == 1:
        return "", parts[0], ""
    return parts[0], parts[1], parts[2] if len(parts) == 3 else ""


def _split_proto_port(raw: str) -> tuple[str, str]:
    parts = raw.split("/")
    if not raw or not parts[0]:
        return "", ""
    if len(parts) == 1:
        return "tcp", raw
    if not parts[1]:
        return "tcp", parts[0]
    return parts[1], parts[0]


def _port_range(text: str) -> tuple[int, int]:
    if not text:
        raise ValueError("empty string specified for ports")
    if "-" not in text:
        value = parse_uint(text, 16)
        return value, value
    start_text, end_text = text.split("-")[:2]
    start, end = parse_uint(start_text, 16), parse_uint(end_text, 16)
    if end < start:
        raise ValueError(f"invalid range specified for port: {text}")
    return start, end


def _port_specs(specs: Sequence[str]) -> tuple[dict[str, dict[str, Any]], dict[str, list[Any]]]:
    """go-connections' ParsePortSpecs: exposed ports and bindings of `-p` values."""
    exposed: dict[str, dict[str, Any]] = {}
    bindings: dict[str, list[Any]] = {}
    for raw in specs:
        parts = raw.split(":")
        container = parts[-1]
        if len(parts) == 1:
            ip, host = "", ""
        elif len(parts) == 2:
            ip, host = "", parts[0]
        else:
            ip, host = ":".join(parts[:-2]), parts[-2]
        proto, container = _split_proto_port(container)
        if ip.startswith("[") and ip.endswith("]"):
            ip = ip[1:-1]
        if ip and parse_ip(ip) is None:
            raise OptionsError(f"invalid IP address: {ip}")
        if not container:
            raise OptionsError(f"no port specified: {raw}<empty>")
        try:
            start, end = _port_range(container)
        except (ValueError, FlagError):
            raise OptionsError(f"invalid containerPort: {container}") from None
        host_start = host_end = 0
        if host:
            try:
                host_start, host_end = _port_range(host)
            except (ValueError, FlagError):
                raise OptionsError(f"invalid hostPort: {host}") from None
            if end - start != host_end - host_start and end != start:
                raise OptionsError(
                    f"invalid ranges specified for container and host Ports: {container} and {host}"
                )
        if proto.lower() not in ("tcp", "udp", "sctp"):
            raise OptionsError(f"invalid proto: {proto}")
        for i in range(end - start + 1):
            host_port = str(host_start + i) if host else ""
            if start == end and host_start != host_end:
                host_port = f"{host_start}-{host_end}"
            port = f"{start + i}/{proto.lower()}"
            exposed.setdefault(port, {})
            bindings.setdefault(port, []).append({"HostIp": ip, "HostPort": host_port})
    return exposed, bindings


def _standard_publish(values: Sequence[str]) -> list[str]:
    """`published=8080,target=80` -> `8080:80/tcp`."""
    out = []
    for value in values:
        if "=" not in value:
            out.append(value)
            continue
        params = {"protocol": "tcp"}
        for param in value.split(","):
            k, sep, v = param.partition("=")
            if not sep or not k:
                raise OptionsError(
                    f"invalid publish opts format (should be name=value but got '{param}')"
                )
            params[k] = v
        out.append(f"{params.get('published', '')}:{params.get('target', '')}/{params['protocol']}")
    return out


def _device_mode(mode: str) -> bool:
    return bool(mode) and len(set(mode)) == len(mode) and set(mode) <= set("rwm")


def _parse_device(value: str) -> JSONObject:
    """validateLinuxPath then parseLinuxDevice: `/dev/x[:/dev/y][:rwm]`, in docker's words."""
    if value.count(":") > 2:
        raise OptionsError(f"bad format for path: {value}")
    split = value.split(":", 2)
    if not split[0]:
        raise OptionsError(f"bad format for path: {value}")
    if len(split) == 1:
        container_path = split[0]
        value = os.path.normpath(container_path)
    elif len(split) == 2:
        if _device_mode(split[1]):
            container_path = split[0]
            value = f"{os.path.normpath(container_path)}:{split[1]}"
        else:
            container_path = split[1]
            value = f"{split[0]}:{os.path.normpath(container_path)}"
    else:
        container_path = split[1]
        if not _device_mode(split[2]):
            raise OptionsError(f"bad mode specified: {split[2]}")
    if not container_path.startswith("/"):
        raise OptionsError(f"{container_path} is not an absolute path")
    parts = value.split(":", 3)
    source, target, permissions = parts[0], "", "rwm"
    if len(parts) == 3:
        permissions = parts[2]
    if len(parts) >= 2:
        if _device_mode(parts[1]):
            permissions = parts[1]
        else:
            target = parts[1]
    return {
        "PathOnHost": source,
        "PathInContainer": target or source,
        "CgroupPermissions": permissions,
    }


def _security_opts(values: Sequence[str]) -> list[str]:
    out = []
    for opt in values:
        key, sep, val = opt.partition("=")
        if not sep and key != "no-new-privileges":
            key, sep, val = opt.partition(":")
        if (not sep or not val) and key != "no-new-privileges":
            raise OptionsError(f'Invalid --security-opt: "{opt}"')
        if key == "seccomp" and val not in ("builtin", "unconfined"):
            import json

            try:
                with open(val, "rb") as f:
                    profile = json.loads(f.read())
            except OSError as exc:
                raise OptionsError(
                    f"opening seccomp profile ({val}) failed: open {val}: "
                    f"{(exc.strerror or str(exc)).lower()}"
                ) from None
            except ValueError as exc:
                raise OptionsError(
                    f"compacting json for seccomp profile ({val}) failed: {exc}"
                ) from None
            opt = "seccomp=" + json.dumps(profile, separators=(",", ":"))
        out.append(opt)
    return out


def _normalize_caps(caps: Sequence[str]) -> list[str] | None:
    """docker's client: upper case, `CAP_` prefix (not for ALL), unique, sorted."""
    seen: set[str] = set()
    for cap in caps:
        cap = cap.upper()
        if cap != "ALL" and not cap.startswith("CAP_"):
            cap = "CAP_" + cap
        seen.add(cap)
    return sorted(seen) or None


def _restart_policy(text: str) -> JSONObject:
    if not text:
        return {"Name": "", "MaximumRetryCount": 0}
    name, sep, count = text.partition(":")
    if sep and not name:
        raise OptionsError("invalid restart policy format: no policy provided before colon")
    retries = 0
    if count:
        try:
            retries = parse_int(count)
        except FlagError:
            raise OptionsError(
                "invalid restart policy format: maximum retry count must be an integer"
            ) from None
    return {"Name": name, "MaximumRetryCount": retries}


_USER_DEFINED_EXCLUDED = ("default", "bridge", "host", "none")


def _user_defined(network: str) -> bool:
    return network not in _USER_DEFINED_EXCLUDED and not network.startswith("container:")


EMPTY_ENDPOINT: JSONObject = {
    "IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "DriverOpts": None,
    "GwPriority": 0, "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "",
    "IPPrefixLen": 0, "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
    "DNSNames": None,
}  # fmt: skip


def _endpoint(net: JSONObject) -> JSONObject:
    target = str(net["Target"])
    if not target.strip():
        raise OptionsError("no name set for network")
    if not _user_defined(target):
        if net.get("Aliases"):
            raise OptionsError(
                "network-scoped aliases are only supported for user-defined networks"
            )
        if net.get("Links"):
            raise OptionsError("links are only supported for user-defined networks")
    endpoint = dict(EMPTY_ENDPOINT)
    endpoint["GwPriority"] = net.get("GwPriority", 0)
    if net.get("Aliases"):
        endpoint["Aliases"] = list(net["Aliases"])
    if net.get("DriverOpts"):
        endpoint["DriverOpts"] = dict(net["DriverOpts"])
    if net.get("Links"):
        endpoint["Links"] = list(net["Links"])
    if net.get("IPv4Address") or net.get("IPv6Address") or net.get("LinkLocalIPs"):
        ipam = {
            "IPv4Address": net.get("IPv4Address", ""),
            "IPv6Address": net.get("IPv6Address", ""),
            "LinkLocalIPs": net.get("LinkLocalIPs"),
        }
        endpoint["IPAMConfig"] = {k: v for k, v in ipam.items() if v}  # omitempty
    if net.get("MacAddress"):
        if not re.fullmatch(r"([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}", str(net["MacAddress"])):
            raise OptionsError(f"{net['MacAddress']} is not a valid mac address")
        endpoint["MacAddress"] = net["MacAddress"]
    return endpoint


def _is_empty_endpoint(endpoint: JSONObject) -> bool:
    return endpoint == EMPTY_ENDPOINT


def _apply_container_network_options(net: JSONObject, v: Values) -> None:
    aliases, links = v["network_alias"], v["link"]
    if net.get("Aliases") and aliases:
        raise OptionsError(
            "conflicting options: cannot specify both --network-alias and per-network alias"
        )
    if net.get("Links") and links:
        raise OptionsError("conflicting options: cannot specify both --link and per-network links")
    if net.get("IPv4Address") and v["ip"]:
        raise OptionsError(
            "conflicting options: cannot specify both --ip and per-network IPv4 address"
        )
    if net.get("IPv6Address") and v["ip6"]:
        raise OptionsError(
            "conflicting options: cannot specify both --ip6 and per-network IPv6 address"
        )
    if net.get("MacAddress") and v["mac_address"]:
        raise OptionsError(
            "conflicting options: cannot specify both --mac-address and per-network MAC address"
        )
    if net.get("LinkLocalIPs") and v["link_local_ip"]:
        raise OptionsError(
            "conflicting options: cannot specify both --link-local-ip and per-network link-local "
            "IP addresses"
        )
    if aliases:
        net["Aliases"] = list(aliases)
    if _user_defined(str(net["Target"])) and links:
        net["Links"] = list(links)
    if v["ip"]:
        net["IPv4Address"] = v["ip"]
    if v["ip6"]:
        net["IPv6Address"] = v["ip6"]
    if v["mac_address"]:
        net["MacAddress"] = v["mac_address"]
    if v["link_local_ip"]:
        net["LinkLocalIPs"] = list(v["link_local_ip"])


def _endpoints(v: Values) -> dict[str, JSONObject]:
    networks: list[JSONObject] = [dict(n) for n in v["network"]]
    endpoints: dict[str, JSONObject] = {}
    if not networks:
        net: JSONObject = {"Target": "default"}
        _apply_container_network_options(net, v)
        endpoints["default"] = _endpoint(net)
        return endpoints
    user_defined = other = False
    for i, net in enumerate(networks):
        if _user_defined(str(net["Target"])):
            user_defined = True
        else:
            other = True
        if i == 0:
            _apply_container_network_options(net, v)
        endpoint = _endpoint(net)
        if net["Target"] in endpoints:
            raise OptionsError(f'network "{net["Target"]}" is specified multiple times')
        if i == 0 and len(networks) == 1 and _is_empty_endpoint(endpoint):
            continue
        endpoints[str(net["Target"])] = endpoint
    if user_defined and other:
        raise OptionsError(
            "conflicting options: cannot attach both user-defined and non-user-defined "
            "network-modes"
        )
    return endpoints


class ContainerRequest:
    """What `run`/`create` send: the body, the name and platform, and what the CLI needs."""

    def __init__(
        self,
        body: JSONObject,
        *,
        name: str,
        platform: str,
        pull: str,
        quiet: bool,
        cidfile: str,
        auto_remove: bool,
    ) -> None:
        self.body = body
        self.name = name
        self.platform = platform
        self.pull = pull
        self.quiet = quiet
        self.cidfile = cidfile
        self.auto_remove = auto_remove


def _health(v: Values) -> JSONObject | None:
    durations = ("health_interval", "health_timeout", "health_start_period",
                 "health_start_interval")  # fmt: skip
    have = bool(v["health_cmd"]) or any(v[d] for d in durations) or bool(v["health_retries"])
    if v["no_healthcheck"]:
        if have:
            raise OptionsError("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not have:
        return None
    for dest in (*durations[:2], "health_retries", *durations[2:]):
        if v[dest] < 0:
            raise OptionsError(f"--{dest.replace('_', '-')} cannot be negative")
    health: JSONObject = {}
    if v["health_cmd"]:
        health["Test"] = ["CMD-SHELL", v["health_cmd"]]
    for key, dest in (("Interval", "health_interval"), ("Timeout", "health_timeout"),
                      ("StartPeriod", "health_start_period"),
                      ("StartInterval", "health_start_interval"),
                      ("Retries", "health_retries")):  # fmt: skip
        if v[dest]:
            health[key] = v[dest]
    return health


def build_request(
    params: Mapping[str, Any], image: str, args: Sequence[str], *, console_size: tuple[int, int]
) -> ContainerRequest:
    """docker's `parse` (+ what its client adds): the flags as a `POST /containers/create`
    body. FlagError for a value that does not parse, OptionsError for the rest."""
    pull = params.get("pull") or "missing"
    if pull not in ("always", "missing", "never"):
        raise OptionsError(
            f'invalid pull option: \'{pull}\': must be one of "always", "missing" or "never"'
        )
    v = Values(params)
    attach = set(v["attach"])
    attach_stdin = "stdin" in attach or v["interactive"]
    attach_stdout = "stdout" in attach or not attach
    attach_stderr = "stderr" in attach or not attach

    if v["mac_address"] and not re.fullmatch(
        r"([0-9A-Fa-f]{2}[:-]){5}[0-9A-Fa-f]{2}", v["mac_address"].strip()
    ):
        raise OptionsError(f"{v['mac_address']} is not a valid mac address")
    swappiness = v["memory_swappiness"]
    if swappiness != -1 and not 0 <= swappiness <= 100:
        raise OptionsError(f"invalid value: {swappiness}. Valid memory swappiness range is 0-100")

    binds: list[str] = []
    volumes: dict[str, dict[str, Any]] = {}
    for spec in v["volume"]:
        source, _target, _mode = _parse_volume(spec)
        if source:
            host_part, _, rest = spec.partition(":")
            if host_part.startswith("."):
                host_part = os.path.abspath(host_part)
            binds.append(f"{host_part}:{rest}")
        else:
            volumes[spec] = {}
    tmpfs = {}
    for item in v["tmpfs"]:
        key, _, opts = item.partition(":")
        tmpfs[key] = opts

    entrypoint: list[str] | None = None
    if v["entrypoint"]:
        entrypoint = [v["entrypoint"]]
    elif "entrypoint" in v.changed:
        entrypoint = [""]

    exposed, port_bindings = _port_specs(_standard_publish(v["publish"]))
    for item in v["expose"]:
        if ":" in item:
            raise OptionsError(f"invalid port format for --expose: {item}")
        proto, port = _split_proto_port(item)
        try:
            start, end = _port_range(port)
        except (ValueError, FlagError) as exc:
            raise OptionsError(f"invalid range format for --expose: {item}, error: {exc}") from None
        for number in range(start, end + 1):
            exposed.setdefault(f"{number}/{proto}", {})

    devices = [_parse_device(d) for d in v["device"]]

    env: list[str] = []
    for path in v["env_file"]:
        env.extend(read_kv_file(path, os.environ.get))
    env.extend(v["env"])
    labels: list[str] = []
    for path in v["label_file"]:
        labels.extend(read_kv_file(path, None))
    labels.extend(v["label"])

    pid = v["pid"]
    if pid and pid != "host" and not (pid.startswith("container:") and pid[10:]):
        raise OptionsError("--pid: invalid PID mode")
    if v["uts"] not in ("", "host"):
        raise OptionsError("--uts: invalid UTS mode")
    if v["userns"] not in ("", "host", "private"):
        raise OptionsError("--userns: invalid USER mode")
    if v["cgroupns"] not in ("", "host", "private"):
        raise OptionsError("--cgroupns: invalid CGROUP mode")

    restart = _restart_policy(v["restart"] if "restart" in v.changed else "no")
    log_opts = _kv_map(v["log_opt"])
    if v["log_driver"] == "none" and v["log_opt"]:
        raise OptionsError(f"invalid logging opts for driver {v['log_driver']}")
    security = _security_opts(v["security_opt"])
    masked: list[str] | None = None
    readonly_paths: list[str] | None = None
    if "systempaths=unconfined" in security:
        security = [s for s in security if s != "systempaths=unconfined"]
        masked, readonly_paths = [], []
    storage: dict[str, str] = {}
    for item in v["storage_opt"]:
        key, sep, val = item.partition("=")
        if not sep:
            raise OptionsError("invalid storage option")
        storage[key] = val
    health = _health(v)

    config: JSONObject = {
        "Hostname": v["hostname"],
        "Domainname": v["domainname"],
        "User": v["user"],
        "AttachStdin": attach_stdin,
        "AttachStdout": attach_stdout,
        "AttachStderr": attach_stderr,
    }
    if exposed:
        config["ExposedPorts"] = dict(sorted(exposed.items()))
    config.update(
        {
            "Tty": v["tty"],
            "OpenStdin": v["interactive"],
            "StdinOnce": v["interactive"] and attach_stdin,
            "Env": env or None,
            "Cmd": list(args) or None,
        }
    )
    if health is not None:
        config["Healthcheck"] = health
    config.update(
        {
            "Image": image,
            "Volumes": volumes,
            "WorkingDir": v["workdir"],
            "Entrypoint": entrypoint,
            "OnBuild": None,
            "Labels": _kv_map(labels),
        }
    )
    if v["stop_signal"]:
        config["StopSignal"] = v["stop_signal"]
    if "stop_timeout" in v.changed:
        config["StopTimeout"] = v["stop_timeout"]

    network_names = [str(n["Target"]) for n in v["network"]]
    host: JSONObject = {
        "Binds": binds or None,
        "ContainerIDFile": v["cidfile"],
        "LogConfig": {"Type": v["log_driver"], "Config": log_opts},
        "NetworkMode": network_names[0] if network_names else "default",
        "PortBindings": port_bindings,
        "RestartPolicy": restart,
        "AutoRemove": v["rm"],
        "VolumeDriver": v["volume_driver"],
        "VolumesFrom": v["volumes_from"] or None,
        "ConsoleSize": list(console_size),
    }
    if v["annotation"]:
        host["Annotations"] = _kv_map(v["annotation"])
    host.update(
        {
            "CapAdd": _normalize_caps(v["cap_add"]),
            "CapDrop": _normalize_caps(v["cap_drop"]),
            "CgroupnsMode": v["cgroupns"],
            "Dns": v["dns"],
            "DnsOptions": v["dns_option"],
            "DnsSearch": v["dns_search"],
            "ExtraHosts": v["add_host"] or None,
            "GroupAdd": v["group_add"] or None,
            "IpcMode": v["ipc"],
            "Cgroup": "",
            "Links": v["link"] or None,
            "OomScoreAdj": v["oom_score_adj"],
            "PidMode": pid,
            "Privileged": v["privileged"],
            "PublishAllPorts": v["publish_all"],
            "ReadonlyRootfs": v["read_only"],
            "SecurityOpt": security if v["security_opt"] else None,
        }
    )
    if storage:
        host["StorageOpt"] = storage
    if tmpfs:
        host["Tmpfs"] = tmpfs
    host.update({"UTSMode": v["uts"], "UsernsMode": v["userns"], "ShmSize": v["shm_size"]})
    if v["sysctl"]:
        host["Sysctls"] = _kv_map(v["sysctl"])
    if v["runtime"]:
        host["Runtime"] = v["runtime"]
    host.update(
        {
            "Isolation": v["isolation"],
            "CpuShares": v["cpu_shares"],
            "Memory": v["memory"],
            "NanoCpus": v["cpus"],
            "CgroupParent": v["cgroup_parent"],
            "BlkioWeight": v["blkio_weight"],
            "BlkioWeightDevice": v["blkio_weight_device"],
            "BlkioDeviceReadBps": v["device_read_bps"],
            "BlkioDeviceWriteBps": v["device_write_bps"],
            "BlkioDeviceReadIOps": v["device_read_iops"],
            "BlkioDeviceWriteIOps": v["device_write_iops"],
            "CpuPeriod": v["cpu_period"],
            "CpuQuota": v["cpu_quota"],
            "CpuRealtimePeriod": v["cpu_rt_period"],
            "CpuRealtimeRuntime": v["cpu_rt_runtime"],
            "CpusetCpus": v["cpuset_cpus"],
            "CpusetMems": v["cpuset_mems"],
            "Devices": devices,
            "DeviceCgroupRules": v["device_cgroup_rule"] or None,
            "DeviceRequests": None,
            "MemoryReservation": v["memory_reservation"],
            "MemorySwap": v["memory_swap"],
            "MemorySwappiness": swappiness,
            "OomKillDisable": v["oom_kill_disable"],
            "PidsLimit": v["pids_limit"],
            "Ulimits": sorted(v["ulimit"], key=lambda u: u["Name"]),
            "CpuCount": 0,
            "CpuPercent": 0,
            "IOMaximumIOps": 0,
            "IOMaximumBandwidth": 0,
        }
    )
    if v["mount"]:
        host["Mounts"] = v["mount"]
    host["MaskedPaths"] = masked
    host["ReadonlyPaths"] = readonly_paths
    if v["init"]:
        host["Init"] = True

    if v["rm"] and restart["Name"] not in ("", "no"):
        raise OptionsError("conflicting options: cannot specify both --restart and --rm")
    # uniq by name, last one wins (docker's ulimit map)
    ulimits: dict[str, JSONObject] = {}
    for item in v["ulimit"]:
        ulimits[item["Name"]] = item
    host["Ulimits"] = [ulimits[name] for name in sorted(ulimits)]

    config["HostConfig"] = host
    config["NetworkingConfig"] = {"EndpointsConfig": _endpoints(v)}
    return ContainerRequest(
        body=config,
        name=v["name"],
        platform=v["platform"],
        pull=pull,
        quiet=v["quiet"],
        cidfile=v["cidfile"],
        auto_remove=v["rm"],
    )
