"""How `berth version`, `berth info` and `berth events` print, in the docker CLI's layouts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from berth.cli.tabwriter import tabwrite

# --- version --------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def client_version_lines(client: Mapping[str, Any]) -> list[str]:
    return [
        "Client:",
        f" Version:\t{client['Version']}",
        f" API version:\t{client['ApiVersion']}",
        f" Python version:\t{client['PythonVersion']}",
        f" Git commit:\t{client['GitCommit']}",
        f" OS/Arch:\t{client['Os']}/{client['Arch']}",
    ]


def _language_line(details: Mapping[str, Any], indent: str) -> list[str]:
    if details.get("PythonVersion"):
        return [f"{indent}Python version:\t{details['PythonVersion']}"]
    if details.get("GoVersion"):
        return [f"{indent}Go version:\t{details['GoVersion']}"]
    return []


def _engine_lines(version: Mapping[str, Any], details: Mapping[str, Any]) -> list[str]:
    indent = "  "
    api = details.get("ApiVersion", version.get("ApiVersion", ""))
    minimum = details.get("MinAPIVersion", version.get("MinAPIVersion"))
    lines = [f"{indent}Version:\t{_text(version.get('Version'))}"]
    lines.append(
        f"{indent}API version:\t{api}" + (f" (minimum version {minimum})" if minimum else "")
    )
    lines.extend(_language_line(details, indent))
    for key, label in (("GitCommit", "Git commit"), ("BuildTime", "Built")):
        if details.get(key):
            lines.append(f"{indent}{label}:\t{details[key]}")
    if details.get("KernelVersion"):
        lines.append(f"{indent}Kernel version:\t{details['KernelVersion']}")
    system, arch = details.get("Os", ""), details.get("Arch", "")
    if system or arch:
        lines.append(f"{indent}OS/Arch:\t{system}/{arch}")
    if "Experimental" in details:
        lines.append(f"{indent}Experimental:\t{_text(details['Experimental'])}")
    return lines


def server_version_lines(server: Mapping[str, Any]) -> list[str]:
    platform = server.get("Platform") or {}
    name = platform.get("Name") if isinstance(platform, Mapping) else ""
    lines = [f"Server: {name or 'Berth Engine'}"]
    components = server.get("Components")
    if not isinstance(components, list) or not components:
        # an old daemon: everything is at the top level
        components = [{"Name": "Engine", "Version": server.get("Version"), "Details": server}]
    for component in components:
        if not isinstance(component, Mapping):
            continue
        details = component.get("Details") or {}
        lines.append(f" {component.get('Name', '')}:")
        if component.get("Name") == "Engine":
            engine = {**server, "Version": component.get("Version", server.get("Version"))}
            lines.extend(_engine_lines(engine, {**server, **details}))
        else:
            lines.append(f"  Version:\t{_text(component.get('Version'))}")
            lines.extend(f"  {key}:\t{_text(details[key])}" for key in sorted(details))
    return lines


def version_text(client: Mapping[str, Any], server: Mapping[str, Any] | None) -> str:
    """docker version's layout: a Client section, then (when reachable) a Server section."""
    lines = client_version_lines(client)
    if server is not None:
        lines.append("")
        lines.extend(server_version_lines(server))
    return "".join(line.rstrip() + "\n" for line in tabwrite(lines, minwidth=20, padding=1))


# --- info -----------------------------------------------------------------------------------

_BINARY_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")
PLUGIN_KIND_ORDER = ("storage", "network", "registry", "isolation", "volume", "extensions")


def bytes_size(size: float) -> str:
    """A size as docker prints memory: 4 significant digits, binary units (3.825GiB)."""
    unit = 0
    while size >= 1024 and unit < len(_BINARY_UNITS) - 1:
        size /= 1024
        unit += 1
    return f"{size:.4g}{_BINARY_UNITS[unit]}"


def client_info_lines(client: Mapping[str, Any]) -> list[str]:
    rows = [f" Version:\t{client['Version']}", f" Debug Mode:\t{_text(client['Debug'])}"]
    return ["Client:", *tabwrite(rows, minwidth=0, padding=1)]


def _names(value: Any) -> str:
    if isinstance(value, Mapping):
        return " ".join(sorted(str(k) for k in value))
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return _text(value)


def _security_option_lines(options: Sequence[Any]) -> list[str]:
    lines = [" Security Options:"]
    for option in options:
        for i, part in enumerate(str(option).split(",")):
            key, _, value = part.partition("=")
            if i == 0:
                lines.append(f"  {value if key == 'name' else part}")
            else:
                lines.append(f"   {key.title()}: {value}")
    return lines


def berth_plugin_lines(entries: Iterable[Mapping[str, Any]]) -> list[str]:
    """`Berth Plugins:` grouped by kind, each with its status (and why when not usable)."""
    by_kind: dict[str, list[Mapping[str, Any]]] = {}
    for entry in entries:
        by_kind.setdefault(str(entry.get("Kind", "")), []).append(entry)
    order = [k for k in PLUGIN_KIND_ORDER if k in by_kind]
    order += sorted(k for k in by_kind if k not in PLUGIN_KIND_ORDER)
    lines = [" Berth Plugins:"]
    for kind in order:
        lines.append(f"  {kind.title()}:")
        for entry in by_kind[kind]:
            line = f"   {entry.get('Name', '')}: {entry.get('Status', '')}"
            if entry.get("Reason") and entry.get("Status") not in ("active", "ready"):
                line += f" ({entry['Reason']})"
            lines.append(line)
    return lines


def _registry_lines(config: Mapping[str, Any]) -> list[str]:
    lines: list[str] = []
    insecure = [str(c) for c in config.get("InsecureRegistryCIDRs") or []]
    indexes = config.get("IndexConfigs") or {}
    if isinstance(indexes, Mapping):
        insecure += [
            str(name)
            for name, index in sorted(indexes.items())
            if isinstance(index, Mapping) and index.get("Secure") is False
        ]
    if insecure:
        lines.append(" Insecure Registries:")
        lines.extend(f"  {name}" for name in insecure)
    mirrors = config.get("Mirrors") or []
    if mirrors:
        lines.append(" Registry Mirrors:")
        lines.extend(f"  {mirror}" for mirror in mirrors)
    return lines


def server_info_lines(info: Mapping[str, Any]) -> list[str]:
    get = info.get
    lines = [
        "Server:",
        f" Containers: {_text(get('Containers', 0))}",
        f"  Running: {_text(get('ContainersRunning', 0))}",
        f"  Paused: {_text(get('ContainersPaused', 0))}",
        f"  Stopped: {_text(get('ContainersStopped', 0))}",
        f" Images: {_text(get('Images', 0))}",
        f" Server Version: {_text(get('ServerVersion'))}",
        f" Storage Driver: {_text(get('Driver'))}",
    ]
    for pair in get("DriverStatus") or []:
        if isinstance(pair, list) and len(pair) == 2:
            lines.append(f"  {pair[0]}: {pair[1]}")
    lines.append(f" Logging Driver: {_text(get('LoggingDriver'))}")
    lines.append(f" Cgroup Driver: {_text(get('CgroupDriver'))}")
    lines.append(f" Cgroup Version: {_text(get('CgroupVersion'))}")
    plugins = get("Plugins") or {}
    lines.append(" Plugins:")
    for key in ("Volume", "Network", "Authorization", "Log"):
        if plugins.get(key):
            lines.append(f"  {key}: {_names(plugins[key])}")
    if get("BerthPlugins"):
        lines.extend(berth_plugin_lines(get("BerthPlugins") or []))
    swarm = get("Swarm")
    if isinstance(swarm, Mapping) and swarm.get("LocalNodeState"):
        lines.append(f" Swarm: {swarm['LocalNodeState']}")
    lines.append(f" Runtimes: {_names(get('Runtimes') or {})}")
    lines.append(f" Default Runtime: {_text(get('DefaultRuntime'))}")
    if get("InitBinary"):
        lines.append(f" Init Binary: {get('InitBinary')}")
    if get("SecurityOptions"):
        lines.extend(_security_option_lines(get("SecurityOptions") or []))
    lines += [
        f" Kernel Version: {_text(get('KernelVersion'))}",
        f" Operating System: {_text(get('OperatingSystem'))}",
        f" OSType: {_text(get('OSType'))}",
        f" Architecture: {_text(get('Architecture'))}",
        f" CPUs: {_text(get('NCPU'))}",
        f" Total Memory: {bytes_size(float(get('MemTotal') or 0))}",
        f" Name: {_text(get('Name'))}",
        f" ID: {_text(get('ID'))}",
        f" Berth Root Dir: {_text(get('DockerRootDir'))}",
        f" Debug Mode: {_text(bool(get('Debug')))}",
    ]
    if "ExperimentalBuild" in info:
        lines.append(f" Experimental: {_text(get('ExperimentalBuild'))}")
    registry = get("RegistryConfig")
    if isinstance(registry, Mapping):
        lines.extend(_registry_lines(registry))
    labels = get("Labels") or []
    if labels:
        lines.append(" Labels:")
        lines.extend(f"  {label}" for label in labels)
    lines.append(f" Live Restore Enabled: {_text(bool(get('LiveRestoreEnabled')))}")
    return lines


def info_text(client: Mapping[str, Any], info: Mapping[str, Any] | None) -> str:
    lines = client_info_lines(client)
    lines.append("")
    if info is not None:
        lines.extend(server_info_lines(info))
    return "".join(line + "\n" for line in lines)


# --- events ---------------------------------------------------------------------------------


def event_time_ns(event: Mapping[str, Any]) -> int | None:
    if isinstance(event.get("timeNano"), int) and event["timeNano"]:
        return int(event["timeNano"])
    if isinstance(event.get("time"), int) and event["time"]:
        return int(event["time"]) * 1_000_000_000
    return None


def event_line(event: Mapping[str, Any]) -> str:
    """docker events' line: `<time> <type> <action> <id> (k=v, ...)`, attributes sorted."""
    actor = event.get("Actor") or {}
    kind = event.get("Type") or ""
    action = event.get("Action") or event.get("status") or ""
    ident = actor.get("ID") or event.get("id") or ""
    from berth.cli.timestamps import format_event_time

    parts = []
    time_ns = event_time_ns(event)
    if time_ns is not None:
        parts.append(format_event_time(time_ns))
    parts.append(f"{kind} {action} {ident}")
    text = " ".join(parts)
    attributes = actor.get("Attributes") or {}
    if attributes:
        text += " (" + ", ".join(f"{k}={attributes[k]}" for k in sorted(attributes)) + ")"
    return text
