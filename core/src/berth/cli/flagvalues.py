"""Flag values as the docker CLI reads them (pflag and docker's option types): integers,
sizes, CPUs, durations, ulimits, env, labels, addresses, devices' rates, `--mount` and
`--network` specs — each with docker's error message (a `FlagError`, reported as pflag's
`invalid argument "x" for "--flag" flag: <message>`).
"""

from __future__ import annotations

import os
import re
from typing import Any

from berth.cli.exitstatus import FlagError

JSONObject = dict[str, Any]

_INT = re.compile(r"[+-]?[0-9]+")
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1


def parse_int(text: str, bits: int = 64) -> int:
    """Go's strconv.ParseInt(text, 10, bits), with its error messages."""
    if not _INT.fullmatch(text):
        raise FlagError(f'strconv.ParseInt: parsing "{text}": invalid syntax')
    value = int(text)
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if not low <= value <= high:
        raise FlagError(f'strconv.ParseInt: parsing "{text}": value out of range')
    return value


def parse_uint(text: str, bits: int = 64) -> int:
    """Go's strconv.ParseUint(text, 10, bits)."""
    if not re.fullmatch(r"[0-9]+", text):
        raise FlagError(f'strconv.ParseUint: parsing "{text}": invalid syntax')
    value = int(text)
    if value >= 1 << bits:
        raise FlagError(f'strconv.ParseUint: parsing "{text}": value out of range')
    return value


_GO_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def ram_in_bytes(text: str) -> int:
    """go-units RAMInBytes: `512`, `64m`, `1.5g`, `2GiB`, `100 KB` (binary multiples)."""
    sep = max(text.rfind(c) for c in "01234567890. ")
    if sep == -1:
        raise FlagError(f"invalid size: '{text}'")
    if text[sep] != " ":
        number, suffix = text[: sep + 1], text[sep + 1 :]
    else:
        number, suffix = text[:sep], text[sep + 1 :]
    if not _GO_FLOAT.fullmatch(number):
        raise FlagError(f'strconv.ParseFloat: parsing "{number}": invalid syntax')
    size = float(number)
    if size < 0:
        raise FlagError(f"invalid size: '{text}'")
    if not suffix:
        return int(size)
    low = suffix.lower()
    multipliers = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
    if len(low) > 3:
        raise FlagError(f"invalid suffix: '{low}'")
    if low[0] == "b":
        if len(low) > 1:
            raise FlagError(f"invalid suffix: '{low}'")
        return int(size)
    if low[0] not in multipliers:
        raise FlagError(f"invalid suffix: '{low}'")
    if (len(low) == 2 and low[1] != "b") or (len(low) == 3 and low[1:] != "ib"):
        raise FlagError(f"invalid suffix: '{low}'")
    return int(size * multipliers[low[0]])


def parse_cpus(text: str) -> int:
    """docker's ParseCPUs: a rational number of CPUs in nano-CPUs (`1.5` -> 1500000000)."""
    from fractions import Fraction

    try:
        if not re.fullmatch(
            r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|"
            r"[+-]?[0-9]+/[0-9]+",
            text,
        ):
            raise ValueError(text)
        value = Fraction(text)
    except (ValueError, ZeroDivisionError):
        raise FlagError(f"failed to parse {text} as a rational number") from None
    nano = value * 1_000_000_000
    if nano.denominator != 1:
        raise FlagError("value is too precise")
    return int(nano)


def parse_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds."""
    from berth.cli.timestamps import parse_duration_ns

    if text in ("0", "+0", "-0"):
        return 0
    value = parse_duration_ns(text)
    if value is None:
        raise FlagError(f'time: invalid duration "{text}"')
    return value


def parse_bool(text: str) -> bool:
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise FlagError(f'strconv.ParseBool: parsing "{text}": invalid syntax')


_ULIMITS = {
    "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile",
    "nproc", "rss", "rtprio", "rttime", "sigpending", "stack",
}  # fmt: skip


def parse_ulimit(text: str) -> JSONObject:
    """go-units ParseUlimit: `nofile=1024[:2048]`."""
    name, sep, limits = text.partition("=")
    if not sep:
        raise FlagError(f"invalid ulimit argument: {text}")
    if name not in _ULIMITS:
        raise FlagError(f"invalid ulimit type: {name}")
    values = limits.split(":")
    if len(values) > 2:
        raise FlagError(
            f"too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
        )
    soft = parse_int(values[0])
    hard = parse_int(values[1]) if len(values) == 2 else soft
    if hard != -1:
        if soft == -1:
            raise FlagError(
                "ulimit soft limit must be less than or equal to hard limit: soft: -1 "
                f"(unlimited), hard: {hard}"
            )
        if soft > hard:
            raise FlagError(
                f"ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
            )
    return {"Name": name, "Hard": hard, "Soft": soft}


def validate_env(value: str) -> str:
    """docker's ValidateEnv: `KEY=VALUE`, or `KEY` taking this shell's value when it has one."""
    key, sep, _ = value.partition("=")
    if not key:
        raise FlagError(f"invalid environment variable: {value}")
    if sep:
        return value
    if key in os.environ:
        return f"{key}={os.environ[key]}"
    return value


def validate_label(value: str) -> str:
    key = value.partition("=")[0].lstrip(" \t")
    if not key:
        raise FlagError(f"invalid label '{value}': empty name")
    if any(c in key for c in " \t"):
        raise FlagError(f"label '{key}' contains whitespaces")
    return value


def parse_ip(text: str) -> str | None:
    """Go's net.ParseIP, printed back the way Go prints it; None when not an address."""
    import ipaddress

    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def validate_ip(value: str) -> str:
    parsed = parse_ip(value.strip())
    if parsed is None:
        raise FlagError(f"IP address is not correctly formatted: {value}")
    return parsed


_ALPHA = re.compile(r"[a-zA-Z]")
_DOMAIN = re.compile(
    r"^(:?(?:[a-zA-Z0-9]|(?:[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9]))(:?\.(?:[a-zA-Z0-9]|(?:[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])))*)\.?\s*$"
)


def validate_dns_search(value: str) -> str:
    value = value.strip(" ")
    if value == ".":
        return value
    match = _DOMAIN.match(value) if _ALPHA.search(value) else None
    if match is None or len(match.group(1)) >= 255:
        raise FlagError(f"{value} is not a valid domain")
    return match.group(1)


def validate_extra_host(value: str) -> str:
    key, sep, address = value.partition("=")
    if not sep:
        key, sep, address = value.partition(":")
    if not sep or not key or ":" in key:
        raise FlagError(f'bad format for add-host: "{value}"')
    if address != "host-gateway":
        bare = address[1:-1] if len(address) > 2 and address[0] + address[-1] == "[]" else address
        if parse_ip(bare.strip()) is None:
            raise FlagError(f'invalid IP address in add-host: "{bare}"')
    return f"{key}:{address}"


def validate_link(value: str) -> str:
    if not value:
        raise FlagError("empty string specified for links")
    if len(value.split(":")) > 2:
        raise FlagError(f"bad format for links: {value}")
    return value


_SYSCTLS = {
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
    "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
}  # fmt: skip


def validate_sysctl(value: str) -> str:
    key, sep, _ = value.partition("=")
    if not sep or not key:
        raise FlagError(f"sysctl '{value}' is not allowed")
    if key in _SYSCTLS or key.startswith(("net.", "fs.mqueue.")):
        return value
    raise FlagError(f"sysctl '{value}' is not allowed")


def validate_attach(value: str) -> str:
    if value.lower() in ("stdin", "stdout", "stderr"):
        return value.lower()
    raise FlagError("valid streams are STDIN, STDOUT and STDERR")


_CGROUP_RULE = re.compile(r"[acb] ([0-9]+|\*):([0-9]+|\*) [rwm]{1,3}")


def validate_cgroup_rule(value: str) -> str:
    if not _CGROUP_RULE.fullmatch(value):
        raise FlagError(f"invalid device cgroup format '{value}'")
    return value


def validate_weight_device(value: str) -> JSONObject:
    path, sep, weight_text = value.partition(":")
    if not sep or not path:
        raise FlagError(f"bad format: {value}")
    if not path.startswith("/dev/"):
        raise FlagError(f"bad format for device path: {value}")
    try:
        weight = parse_uint(weight_text, 16)
    except FlagError:
        raise FlagError(f"invalid weight for device: {value}") from None
    if weight > 0 and not 10 <= weight <= 1000:
        raise FlagError(f"invalid weight for device: {value}")
    return {"Path": path, "Weight": weight}


def validate_throttle_bps(value: str) -> JSONObject:
    path, sep, rate_text = value.partition(":")
    if not sep or not path:
        raise FlagError(f"bad format: {value}")
    if not path.startswith("/dev/"):
        raise FlagError(f"bad format for device path: {value}")
    try:
        rate = ram_in_bytes(rate_text)
    except FlagError:
        rate = -1
    if rate < 0:
        raise FlagError(
            f"invalid rate for device: {value}. The correct format is "
            "<device-path>:<number>[<unit>]. Number must be a positive integer. Unit is "
            "optional and can be kb, mb, or gb"
        )
    return {"Path": path, "Rate": rate}


def validate_throttle_iops(value: str) -> JSONObject:
    path, sep, rate_text = value.partition(":")
    if not sep or not path:
        raise FlagError(f"bad format: {value}")
    if not path.startswith("/dev/"):
        raise FlagError(f"bad format for device path: {value}")
    try:
        rate = parse_uint(rate_text)
    except FlagError:
        raise FlagError(
            f"invalid rate for device: {value}. The correct format is "
            "<device-path>:<number>. Number must be a positive integer"
        ) from None
    return {"Path": path, "Rate": rate}


def parse_mount(value: str) -> JSONObject:
    """docker's `--mount type=bind,source=/a,target=/b,readonly` (CSV of key[=value])."""
    import csv

    try:
        fields = next(csv.reader([value]))
    except (csv.Error, StopIteration) as exc:
        raise FlagError(str(exc)) from None
    mount: JSONObject = {"Type": "volume"}
    options: dict[str, JSONObject] = {}

    def opts(kind: str) -> JSONObject:
        return options.setdefault(kind, {})

    for item in fields:
        key, sep, val = item.partition("=")
        key = key.lower()
        if not sep:
            if key in ("readonly", "ro"):
                mount["ReadOnly"] = True
            elif key == "volume-nocopy":
                opts("VolumeOptions")["NoCopy"] = True
            elif key == "bind-nonrecursive":
                opts("BindOptions")["NonRecursive"] = True
            else:
                raise FlagError(f"invalid field '{item}' must be a key=value pair")
            continue
        if key == "type":
            mount["Type"] = val.lower()
        elif key in ("source", "src"):
            mount["Source"] = (
                os.path.abspath(val) if not os.path.isabs(val) and val.startswith(".") else val
            )
        elif key in ("target", "dst", "destination"):
            mount["Target"] = val
        elif key in ("readonly", "ro"):
            try:
                mount["ReadOnly"] = parse_bool(val)
            except FlagError:
                raise FlagError(f"invalid value for {key}: {val}") from None
        elif key == "consistency":
            mount["Consistency"] = val.lower()
        elif key == "bind-propagation":
            opts("BindOptions")["Propagation"] = val.lower()
        elif key == "bind-recursive":
            choices = {
                "enabled": None,
                "disabled": "NonRecursive",
                "writable": "ReadOnlyNonRecursive",
                "readonly": "ReadOnlyForceRecursive",
            }
            if val not in choices:
                raise FlagError(
                    f'invalid value for {key}: {val} (must be "enabled", "disabled", '
                    '"writable", or "readonly")'
                )
            bind = opts("BindOptions")
            if choices[val]:
                bind[str(choices[val])] = True
        elif key == "volume-subpath":
            opts("VolumeOptions")["Subpath"] = val
        elif key == "volume-nocopy":
            try:
                opts("VolumeOptions")["NoCopy"] = parse_bool(val)
            except FlagError:
                raise FlagError(f"invalid value for volume-nocopy: {val}") from None
        elif key == "volume-label":
            k, _, v = val.partition("=")
            if k:
                opts("VolumeOptions").setdefault("Labels", {})[k] = v
        elif key == "volume-driver":
            opts("VolumeOptions").setdefault("DriverConfig", {})["Name"] = val
        elif key == "volume-opt":
            k, _, v = val.partition("=")
            driver = opts("VolumeOptions").setdefault("DriverConfig", {})
            if k:
                driver.setdefault("Options", {})[k] = v
        elif key == "tmpfs-size":
            try:
                opts("TmpfsOptions")["SizeBytes"] = ram_in_bytes(val)
            except FlagError:
                raise FlagError(f"invalid value for {key}: {val}") from None
        elif key == "tmpfs-mode":
            try:
                opts("TmpfsOptions")["Mode"] = int(val, 8)
            except ValueError:
                raise FlagError(f"invalid value for {key}: {val}") from None
        else:
            raise FlagError(f"unexpected key '{key}' in '{item}'")
    if not mount["Type"]:
        raise FlagError("type is required")
    if not mount.get("Target"):
        raise FlagError("target is required")
    kinds = {"VolumeOptions": "volume", "BindOptions": "bind", "TmpfsOptions": "tmpfs"}
    prefixes = {"VolumeOptions": "volume-*", "BindOptions": "bind-*", "TmpfsOptions": "tmpfs-*"}
    for kind, found in options.items():
        if mount["Type"] != kinds[kind]:
            raise FlagError(
                f"cannot mix '{prefixes[kind]}' options with mount type '{mount['Type']}'"
            )
        mount[kind] = found
    bind = options.get("BindOptions", {})
    if bind.get("ReadOnlyNonRecursive") and not mount.get("ReadOnly"):
        raise FlagError(
            "option 'bind-recursive=writable' requires 'readonly' to be specified in conjunction"
        )
    if bind.get("ReadOnlyForceRecursive"):
        if not mount.get("ReadOnly"):
            raise FlagError(
                "option 'bind-recursive=readonly' requires 'readonly' to be specified in "
                "conjunction"
            )
        if bind.get("Propagation") != "rprivate":
            raise FlagError(
                "option 'bind-recursive=readonly' requires 'bind-propagation=rprivate' to be "
                "specified in conjunction"
            )
    return mount


def parse_network(value: str) -> JSONObject:
    """docker's `--network NAME` or `--network name=NAME,alias=A,ip=...`."""
    if not re.search(r"\w+=\w+(,\w+=\w+)*", value):
        return {"Target": value}
    import csv

    try:
        fields = next(csv.reader([value]))
    except (csv.Error, StopIteration) as exc:
        raise FlagError(str(exc)) from None
    net: JSONObject = {"Target": "", "Aliases": []}
    for item in fields:
        key, sep, val = item.lower().partition("=")
        if not sep or not key:
            raise FlagError(f"invalid field {item}")
        key, val = key.strip(), val.strip()
        if key == "name":
            net["Target"] = val
        elif key == "alias":
            net["Aliases"].append(val)
        elif key == "ip":
            net["IPv4Address"] = val
        elif key == "ip6":
            net["IPv6Address"] = val
        elif key == "mac-address":
            net["MacAddress"] = val
        elif key == "link-local-ip":
            net.setdefault("LinkLocalIPs", []).append(val)
        elif key == "driver-opt":
            k, sep2, v = val.partition("=")
            if not sep2 or not k:
                raise FlagError("invalid key value pair format in driver options")
            net.setdefault("DriverOpts", {})[k.strip()] = v.strip()
        elif key == "gw-priority":
            try:
                net["GwPriority"] = parse_int(val)
            except FlagError:
                raise FlagError(f"invalid gw-priority ({val}): invalid syntax") from None
        else:
            raise FlagError(f"invalid field key {key}")
    if not net["Target"]:
        raise FlagError("network name/id is not specified")
    return net
