"""What the container commands print, as the docker CLI prints it: `ps` rows and formats,
`stats` rows (docker's CPU and memory arithmetic), `top`'s table and `port`'s lines."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from berth.cli.image_views import ellipsis, go_time, short_size
from berth.cli.system_views import bytes_size
from berth.humanize import human_duration

SHORT_ID = 12

PS_TABLE = (
    "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
)
PS_RAW = (
    "container_id: {{.ID}}\nimage: {{.Image}}\ncommand: {{.Command}}\n"
    "created_at: {{.CreatedAt}}\nstate: {{- pad .State 1 0}}\nstatus: {{- pad .Status 1 0}}\n"
    "names: {{.Names}}\nlabels: {{- pad .Labels 1 0}}\nports: {{- pad .Ports 1 0}}\n"
)
PS_HEADERS = {
    "ID": "CONTAINER ID",
    "Names": "NAMES",
    "Image": "IMAGE",
    "Command": "COMMAND",
    "CreatedAt": "CREATED AT",
    "RunningFor": "CREATED",
    "Ports": "PORTS",
    "State": "STATE",
    "Status": "STATUS",
    "Size": "SIZE",
    "Labels": "LABELS",
    "Mounts": "MOUNTS",
    "LocalVolumes": "LOCAL VOLUMES",
    "Networks": "NETWORKS",
    "Platform": "PLATFORM",
}

STATS_TABLE = (
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t"
    "{{.BlockIO}}\t{{.PIDs}}"
)
STATS_HEADERS = {
    "Container": "CONTAINER",
    "Name": "NAME",
    "ID": "CONTAINER ID",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}
NO_VALUE = "--"


def truncate_id(ident: str) -> str:
    """docker's stringid.TruncateID: drop an `algo:` prefix, keep 12 characters."""
    if ":" in ident:
        ident = ident.split(":", 1)[1]
    return ident[:SHORT_ID]


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return int(value)


_GO_ESCAPES = {
    "\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v",
    "\\": "\\\\", '"': '\\"',
}  # fmt: skip


def go_quote(text: str) -> str:
    """Go's strconv.Quote: double quotes, backslash escapes, printable characters kept."""
    out = []
    for char in text:
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif char.isprintable():
            out.append(char)
        elif ord(char) < 0x80:
            out.append(f"\\x{ord(char):02x}")
        elif ord(char) <= 0xFFFF:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(f"\\U{ord(char):08x}")
    return '"' + "".join(out) + '"'


# --- ps ------------------------------------------------------------------------------------------


def ps_format(option: str | None, *, quiet: bool, size: bool) -> str:
    """docker's NewContainerFormat."""
    source = option or ""
    if source in ("", "table"):
        if quiet:
            return "{{.ID}}"
        return PS_TABLE + ("\t{{.Size}}" if size else "")
    if source == "raw":
        if quiet:
            return "container_id: {{.ID}}"
        return PS_RAW + ("size: {{.Size}}\n" if size else "")
    if quiet:
        return "{{.ID}}"
    return source


def _image(summary: Mapping[str, Any], trunc: bool) -> str:
    from berth.client.reference import ReferenceError, parse_normalized

    image = _text(summary.get("Image"))
    if not image:
        return "<no image>"
    if not trunc:
        return image
    short = truncate_id(_text(summary.get("ImageID")))
    if short and short == truncate_id(image):
        return short
    try:
        ref = parse_normalized(image)
    except ReferenceError:
        return image
    name = ref.familiar_name
    return f"{name}:{ref.tag}" if ref.tag else name


def _names(summary: Mapping[str, Any], trunc: bool) -> str:
    names = [n[1:] if n.startswith("/") else n for n in summary.get("Names") or [] if n]
    if trunc:
        for name in names:
            if "/" not in name:
                names = [name]
                break
    return ",".join(names)


def displayable_ports(ports: Sequence[Mapping[str, Any]]) -> str:
    """docker's DisplayablePorts: `0.0.0.0:8080->80/tcp, 53/udp`, consecutive ports grouped."""
    entries = sorted(
        (
            (_int(p.get("PrivatePort")), _text(p.get("IP")), _int(p.get("PublicPort")),
             _text(p.get("Type")))
            for p in ports
        ),
    )  # fmt: skip
    groups: dict[str, list[int]] = {}
    order: list[str] = []
    result: list[str] = []
    mappings: list[str] = []

    def form(key: str, first: int, last: int) -> str:
        parts = key.split("/")
        kind, ip = parts[-1], parts[0] if len(parts) > 1 else ""
        group = str(first) if first == last else f"{first}-{last}"
        if ip:
            host = f"[{ip}]" if ":" in ip else ip
            group = f"{host}:{group}->{group}"
        return f"{group}/{kind}"

    for private, ip, public, kind in entries:
        key = kind
        if ip:
            if public != private:
                host = f"[{ip}]" if ":" in ip else ip
                mappings.append(f"{host}:{public}->{private}/{kind}")
                continue
            key = f"{ip}/{kind}"
        group = groups.get(key)
        if group is None:
            groups[key] = [private, private]
            order.append(key)
            continue
        if private == group[1] + 1:
            group[1] = private
            continue
        result.append(form(key, group[0], group[1]))
        groups[key] = [private, private]
    for key in order:
        first, last = groups[key]
        result.append(form(key, first, last))
    return ", ".join(result + mappings)


def ps_row(summary: Mapping[str, Any], *, trunc: bool, now: float | None = None) -> dict[str, Any]:
    """One container as the fields of docker's ContainerContext (in its JSON key order)."""
    moment = time.time() if now is None else now
    created = _int(summary.get("Created"))
    command = _text(summary.get("Command"))
    labels = summary.get("Labels") or {}
    mounts = [m for m in summary.get("Mounts") or [] if isinstance(m, Mapping)]
    mount_names = []
    for mount in mounts:
        name = _text(mount.get("Name")) or _text(mount.get("Source"))
        mount_names.append(ellipsis(name, 15) if trunc else name)
    settings = summary.get("NetworkSettings")
    networks = settings.get("Networks") if isinstance(settings, Mapping) else None
    size_rw = _int(summary.get("SizeRw"))
    size_root = _int(summary.get("SizeRootFs"))
    size = short_size(size_rw)
    if size_root > 0:
        size = f"{size} (virtual {short_size(size_root)})"
    ident = _text(summary.get("Id"))
    return {
        "Command": go_quote(ellipsis(command, 20) if trunc else command),
        "CreatedAt": go_time(created),
        "ID": truncate_id(ident) if trunc else ident,
        "Image": _image(summary, trunc),
        "Labels": ",".join(sorted(f"{k}={v}" for k, v in labels.items()))
        if isinstance(labels, Mapping)
        else "",
        "LocalVolumes": str(sum(1 for m in mounts if m.get("Driver") == "local")),
        "Mounts": ",".join(mount_names),
        "Names": _names(summary, trunc),
        "Networks": ",".join(sorted(networks)) if isinstance(networks, Mapping) else "",
        "Platform": None,
        "Ports": displayable_ports(
            [p for p in summary.get("Ports") or [] if isinstance(p, Mapping)]
        ),
        "RunningFor": human_duration(moment - created) + " ago",
        "Size": size,
        "State": _text(summary.get("State")),
        "Status": _text(summary.get("Status")),
    }


# --- stats ---------------------------------------------------------------------------------------


def stats_entry(container: str, stats: Mapping[str, Any]) -> dict[str, Any]:
    """docker's collect(): CPU %, memory without the page cache, network and block I/O."""
    cpu = stats.get("cpu_stats") or {}
    pre = stats.get("precpu_stats") or {}
    cpu_usage = (cpu.get("cpu_usage") or {}) if isinstance(cpu, Mapping) else {}
    pre_usage = (pre.get("cpu_usage") or {}) if isinstance(pre, Mapping) else {}
    cpu_delta = _int(cpu_usage.get("total_usage")) - _int(pre_usage.get("total_usage"))
    system_delta = _int(cpu.get("system_cpu_usage")) - _int(pre.get("system_cpu_usage"))
    online = _int(cpu.get("online_cpus")) or len(cpu_usage.get("percpu_usage") or [])
    cpu_percent = 0.0
    if system_delta > 0 and cpu_delta > 0:
        cpu_percent = cpu_delta / system_delta * online * 100.0

    memory = stats.get("memory_stats") or {}
    usage = _int(memory.get("usage"))
    counters = memory.get("stats") or {}
    used = float(usage)
    if "total_inactive_file" in counters and _int(counters["total_inactive_file"]) < usage:
        used = float(usage - _int(counters["total_inactive_file"]))
    elif _int(counters.get("inactive_file")) < usage:
        used = float(usage - _int(counters.get("inactive_file")))
    limit = float(_int(memory.get("limit")))
    mem_percent = used / limit * 100.0 if limit else 0.0

    rx = tx = 0
    networks = stats.get("networks") or {}
    if isinstance(networks, Mapping):
        for net in networks.values():
            if isinstance(net, Mapping):
                rx += _int(net.get("rx_bytes"))
                tx += _int(net.get("tx_bytes"))
    read = write = 0
    blkio = stats.get("blkio_stats") or {}
    for entry in (blkio.get("io_service_bytes_recursive") or []) if blkio else []:
        op = _text(entry.get("op")) if isinstance(entry, Mapping) else ""
        if op[:1] in ("r", "R"):
            read += _int(entry.get("value"))
        elif op[:1] in ("w", "W"):
            write += _int(entry.get("value"))
    pids = stats.get("pids_stats") or {}
    return {
        "Container": container,
        "Name": _text(stats.get("name")),
        "ID": _text(stats.get("id")),
        "CPUPercentage": cpu_percent,
        "Memory": used,
        "MemoryLimit": limit,
        "MemoryPercentage": mem_percent,
        "NetworkRx": float(rx),
        "NetworkTx": float(tx),
        "BlockRead": float(read),
        "BlockWrite": float(write),
        "PidsCurrent": _int(pids.get("current")) if isinstance(pids, Mapping) else 0,
        "IsInvalid": False,
    }


def invalid_stats_entry(container: str) -> dict[str, Any]:
    entry = stats_entry(container, {})
    entry["IsInvalid"] = True
    return entry


def stats_row(entry: Mapping[str, Any], *, trunc: bool) -> dict[str, str]:
    """The fields of docker's statsContext (JSON key order)."""
    invalid = bool(entry.get("IsInvalid"))
    name = _text(entry.get("Name"))
    ident = _text(entry.get("ID"))

    def percent(value: float) -> str:
        return NO_VALUE if invalid else f"{value:.2f}%"

    def pair(first: float, second: float) -> str:
        if invalid:
            return NO_VALUE
        return f"{short_size(first)} / {short_size(second)}"

    return {
        "BlockIO": pair(entry["BlockRead"], entry["BlockWrite"]),
        "CPUPerc": percent(entry["CPUPercentage"]),
        "Container": _text(entry.get("Container")),
        "ID": truncate_id(ident) if trunc else ident,
        "MemPerc": percent(entry["MemoryPercentage"]),
        "MemUsage": "-- / --"
        if invalid
        else f"{bytes_size(entry['Memory'])} / {bytes_size(entry['MemoryLimit'])}",
        "Name": name[1:] if len(name) > 1 else NO_VALUE,
        "NetIO": pair(entry["NetworkRx"], entry["NetworkTx"]),
        "PIDs": NO_VALUE if invalid else str(entry["PidsCurrent"]),
    }


# --- top, port -----------------------------------------------------------------------------------


def top_lines(answer: Mapping[str, Any]) -> list[str]:
    from berth.cli.tabwriter import tabwrite

    titles = [str(t) for t in answer.get("Titles") or []]
    lines = ["\t".join(titles)]
    for process in answer.get("Processes") or []:
        lines.append("\t".join(str(p) for p in process))
    return tabwrite(lines, minwidth=20, padding=3)


def _natural_key(text: str) -> list[Any]:
    import re

    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def _host_port(ip: str, port: str) -> str:
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def port_lines(ports: Mapping[str, Any] | None, private: str = "") -> list[str] | None:
    """`docker port`: every mapping (`80/tcp -> 0.0.0.0:8080`), or the host addresses of one
    port; None when that port is not published."""
    ports = ports or {}
    out: list[str] = []
    if private:
        frontends = ports.get(private)
        if not frontends:
            return None
        out = [
            _host_port(_text(f.get("HostIp")), _text(f.get("HostPort")))
            for f in frontends
            if isinstance(f, Mapping)
        ]
    else:
        for key, frontends in ports.items():
            for frontend in frontends or []:
                if isinstance(frontend, Mapping):
                    address = _host_port(
                        _text(frontend.get("HostIp")), _text(frontend.get("HostPort"))
                    )
                    out.append(f"{key} -> {address}")
    return sorted(out, key=_natural_key)
