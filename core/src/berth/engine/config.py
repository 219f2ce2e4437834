"""The daemon's configuration: defaults < daemon.json < environment < command-line flags.

daemon.json uses Docker's key names where Docker has them. Every key can also be set from the
environment as ``BERTHD_<KEY>`` (``data-root`` → ``BERTHD_DATA_ROOT``; lists comma-separated,
objects as JSON). Unknown keys and badly typed values are one clear :class:`ConfigError`.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.engine.errors import ConfigError

DEFAULT_CONFIG_FILE = Path("/etc/berth/daemon.json")
DEFAULT_HOST = "unix:///run/berth/berth.sock"
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")
LOG_FORMATS = ("", "json", "console")
ENV_PREFIX = "BERTHD_"

Validator = Callable[[str, Any], Any]


def _str(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, not {json.dumps(value)}")
    return value


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("1", "true", "yes", "0", "false", "no"):
        return value.lower() in ("1", "true", "yes")
    raise ConfigError(f"{key} must be true or false, not {json.dumps(value)}")


def _int(key: str, value: Any) -> int:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{key} must be a non-negative integer, not {json.dumps(value)}")
    return value


def _str_list(key: str, value: Any) -> list[str]:
    if isinstance(value, str):  # from the environment: comma-separated
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key} must be a list of strings, not {json.dumps(value)}")
    return list(value)


def _object(key: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{key} must be a JSON object: {exc.msg}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{key} must be an object, not {json.dumps(value)}")
    return value


def _one_of(choices: tuple[str, ...]) -> Validator:
    def check(key: str, value: Any) -> str:
        text = _str(key, value)
        if text not in choices:
            shown = ", ".join(c for c in choices if c)
            raise ConfigError(f"{key} must be one of {shown}, not {json.dumps(value)}")
        return text

    return check


def _hosts(key: str, value: Any) -> list[str]:
    hosts = _str_list(key, value)
    for host in hosts:
        if not host.startswith(("unix://", "tcp://")):
            raise ConfigError(
                f"{key}: {host!r} is not an address berthd can listen on; "
                "use unix:///path/to.sock or tcp://host:port"
            )
        if host.startswith("tcp://"):
            _, _, port = host[len("tcp://") :].rpartition(":")
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(f"{key}: {host!r} needs a port, e.g. tcp://127.0.0.1:2375")
    return list(dict.fromkeys(hosts))  # the same address twice is one listener


def _key_values(key: str, value: Any) -> list[str]:
    items = _str_list(key, value)
    for item in items:
        if "=" not in item:
            raise ConfigError(f"{key}: {item!r} must be key=value")
    return items


def _address_pools(key: str, value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):  # from the environment: JSON
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{key} must be a JSON list: {exc.msg}") from None
    if not isinstance(value, list):
        raise ConfigError(f'{key} must be a list of {{"base": CIDR, "size": N}} objects')
    pools = []
    for pool in value:
        if not isinstance(pool, dict) or set(pool) != {"base", "size"}:
            raise ConfigError(f'{key}: each pool must be {{"base": CIDR, "size": N}}, not {pool}')
        try:
            net = ipaddress.ip_network(pool["base"])
        except (ValueError, TypeError):
            raise ConfigError(f"{key}: {pool['base']!r} is not a CIDR network") from None
        size = pool["size"]
        if isinstance(size, bool) or not isinstance(size, int) or not net.prefixlen <= size <= 32:
            raise ConfigError(f"{key}: size {size!r} must be between {net.prefixlen} and 32")
        pools.append({"base": str(net), "size": size})
    return pools


def _runtimes(key: str, value: Any) -> dict[str, Any]:
    runtimes = _object(key, value)
    for name, spec in runtimes.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("path"), str):
            raise ConfigError(f'{key}: runtime {name!r} needs {{"path": "/usr/bin/runc"}}')
    return runtimes


def _plugin_policy(key: str, value: Any) -> dict[str, list[str]]:
    policy = _object(key, value)
    unknown = set(policy) - {"allow", "disabled"}
    if unknown:
        raise ConfigError(f"{key}: unknown key {sorted(unknown)[0]!r}; known: allow, disabled")
    return {
        name: _str_list(f"{key}.{name}", policy.get(name, [])) for name in ("allow", "disabled")
    }


@dataclass(frozen=True)
class Option:
    key: str
    validate: Validator
    default: Any
    help: str


OPTIONS: tuple[Option, ...] = (
    Option("hosts", _hosts, [DEFAULT_HOST], "sockets to listen on"),
    Option("data-root", _str, "/var/lib/berth", "root of persistent state"),
    Option("exec-root", _str, "/run/berth", "root of runtime state"),
    Option("pidfile", _str, "", "pid file (default <exec-root>/berthd.pid)"),
    Option("group", _str, "berth", "group owning the UNIX socket"),
    Option("storage-driver", _str, "", "storage driver (default: automatic)"),
    Option("storage-opts", _key_values, [], "storage driver options"),
    Option("log-level", _one_of(LOG_LEVELS), "info", "log level"),
    Option("log-format", _one_of(LOG_FORMATS), "", "json or console (default: by TTY)"),
    Option("debug", _bool, False, "debug mode"),
    Option("live-restore", _bool, False, "keep containers running when berthd stops"),
    Option("log-driver", _str, "json-file", "default container log driver"),
    Option("log-opts", _object, {}, "default container log driver options"),
    Option("registry-mirrors", _str_list, [], "Docker Hub mirrors"),
    Option("insecure-registries", _str_list, [], "registries reached over HTTP"),
    Option("max-concurrent-downloads", _int, 3, "parallel layer downloads, all pulls together"),
    Option("max-concurrent-uploads", _int, 5, "parallel layer uploads, all pushes together"),
    Option("certs-dir", _str, "/etc/berth/certs.d", "registry CAs: <dir>/<host:port>/ca.crt"),
    Option("registry-timeout", _int, 30, "seconds a registry may stall before it is retried"),
    Option("default-address-pools", _address_pools, [], "pools for new networks"),
    Option("bip", _str, "", "address of the default bridge"),
    Option("bridge", _str, "", "device name of the default bridge (default berth0)"),
    Option("mtu", _int, 0, "MTU of container interfaces (0: the host's)"),
    Option("dns", _str_list, [], "DNS servers for containers"),
    Option("dns-search", _str_list, [], "DNS search domains for containers"),
    Option("dns-opts", _str_list, [], "DNS options for containers"),
    Option("default-runtime", _str, "", "isolation backend (default: automatic)"),
    Option("runtimes", _runtimes, {}, "OCI runtimes by name"),
    Option("labels", _str_list, [], "daemon labels"),
    Option("experimental", _bool, False, "experimental features"),
    Option("shutdown-timeout", _int, 15, "seconds to stop containers at shutdown"),
    Option("tls", _bool, False, "use TLS on tcp:// hosts"),
    Option("tlscert", _str, "", "server certificate"),
    Option("tlskey", _str, "", "server key"),
    Option("tlscacert", _str, "", "CA to verify clients with (with tlsverify)"),
    Option("tlsverify", _bool, False, "require client certificates"),
    Option("plugins", _plugin_policy, {"allow": [], "disabled": []}, "plugin policy"),
)
OPTIONS_BY_KEY = {option.key: option for option in OPTIONS}


def env_name(key: str) -> str:
    return ENV_PREFIX + key.upper().replace("-", "_")


@dataclass(frozen=True)
class DaemonConfig:
    """The effective configuration and where each value came from (for ``berth info``)."""

    values: Mapping[str, Any]
    sources: Mapping[str, str] = field(default_factory=dict)
    config_file: Path | None = None

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def data_root(self) -> Path:
        return Path(self.values["data-root"])

    @property
    def exec_root(self) -> Path:
        return Path(self.values["exec-root"])

    @property
    def pidfile(self) -> Path:
        return Path(self.values["pidfile"] or self.exec_root / "berthd.pid")

    def explicit(self, key: str) -> bool:
        """Whether the user set ``key`` anywhere (file, environment or flag)."""
        return self.sources.get(key, "default") != "default"


def read_config_file(path: Path, required: bool) -> dict[str, Any]:
    try:
        text = path.read_text()
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file {path} does not exist") from None
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"config file {path} is not valid JSON: {exc.msg} at line {exc.lineno} "
            f"column {exc.colno}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a JSON object")
    return data


def load_config(
    flags: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> DaemonConfig:
    """Merge defaults, the config file, ``BERTHD_*`` variables and flags (highest wins)."""
    environ = os.environ if environ is None else environ
    flags = flags or {}
    path = config_file or Path(environ.get(ENV_PREFIX + "CONFIG_FILE", DEFAULT_CONFIG_FILE))
    required = config_file is not None or ENV_PREFIX + "CONFIG_FILE" in environ
    file_values = read_config_file(path, required)

    values: dict[str, Any] = {o.key: o.default for o in OPTIONS}
    sources = dict.fromkeys(values, "default")
    layers: list[tuple[str, Mapping[str, Any]]] = [
        (str(path), file_values),
        (
            "environment",
            {o.key: environ[env_name(o.key)] for o in OPTIONS if env_name(o.key) in environ},
        ),
        ("flag", {k: v for k, v in flags.items() if v is not None}),
    ]
    for source, layer in layers:
        for key, raw in layer.items():
            option = OPTIONS_BY_KEY.get(key)
            if option is None:
                raise ConfigError(
                    f"unknown key {key!r} in {source}; known keys: {', '.join(OPTIONS_BY_KEY)}"
                )
            where = env_name(key) if source == "environment" else key
            try:
                values[key] = option.validate(where, raw)
            except ConfigError as exc:
                raise ConfigError(f"invalid configuration in {source}: {exc}") from None
            sources[key] = source
    return DaemonConfig(values=values, sources=sources, config_file=path)
