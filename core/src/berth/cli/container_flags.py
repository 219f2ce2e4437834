"""The flags of `run` and `create`, as the docker CLI (28) has them, and their values read
and checked flag by flag (`Values`), as pflag does while it parses the command line."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from berth.cli.exitstatus import FlagError
from berth.cli.flagvalues import (
    parse_cpus,
    parse_duration,
    parse_int,
    parse_mount,
    parse_network,
    parse_uint,
    parse_ulimit,
    ram_in_bytes,
    validate_attach,
    validate_cgroup_rule,
    validate_dns_search,
    validate_env,
    validate_extra_host,
    validate_ip,
    validate_label,
    validate_link,
    validate_sysctl,
    validate_throttle_bps,
    validate_throttle_iops,
    validate_weight_device,
)

if TYPE_CHECKING:
    import click


class Flag:
    """One flag of run/create: its click spelling, how its value reads, its help.

    `kind`: bool, str, list, int, uint16, int64, duration, bytes, swapbytes, cpus; `convert`
    checks (and may rewrite) each value of a list flag. (A plain class: dataclasses cost
    start-up time, and this module is imported by every `berth` command.)
    """

    __slots__ = ("convert", "decls", "default", "dest", "help", "kind")

    def __init__(
        self,
        dest: str,
        decls: tuple[str, ...],
        kind: str,
        help: str,
        convert: Callable[[str], Any] | None = None,
        default: Any = None,
    ) -> None:
        self.dest = dest
        self.decls = decls
        self.kind = kind
        self.help = help
        self.convert = convert
        self.default = default


_METAVARS = {
    "str": "string", "list": "list", "int": "int", "uint16": "uint16", "int64": "int",
    "duration": "duration", "bytes": "bytes", "swapbytes": "bytes", "cpus": "decimal",
}  # fmt: skip

CONTAINER_FLAGS: tuple[Flag, ...] = (
    Flag("add_host", ("--add-host",), "list", "Add a custom host-to-IP mapping (host:ip)",
         validate_extra_host),
    Flag("annotation", ("--annotation",), "list",
         "Add an annotation to the container (passed through to the OCI runtime)"),
    Flag("attach", ("-a", "--attach"), "list", "Attach to STDIN, STDOUT or STDERR",
         validate_attach),
    Flag("blkio_weight", ("--blkio-weight",), "uint16",
         "Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)"),
    Flag("blkio_weight_device", ("--blkio-weight-device",), "list",
         "Block IO weight (relative device weight)", validate_weight_device),
    Flag("cap_add", ("--cap-add",), "list", "Add Linux capabilities"),
    Flag("cap_drop", ("--cap-drop",), "list", "Drop Linux capabilities"),
    Flag("cgroup_parent", ("--cgroup-parent",), "str",
         "Optional parent cgroup for the container"),
    Flag("cgroupns", ("--cgroupns",), "str", "Cgroup namespace to use (host|private)"),
    Flag("cidfile", ("--cidfile",), "str", "Write the container ID to the file"),
    Flag("cpu_period", ("--cpu-period",), "int64",
         "Limit CPU CFS (Completely Fair Scheduler) period"),
    Flag("cpu_quota", ("--cpu-quota",), "int64",
         "Limit CPU CFS (Completely Fair Scheduler) quota"),
    Flag("cpu_rt_period", ("--cpu-rt-period",), "int64",
         "Limit CPU real-time period in microseconds"),
    Flag("cpu_rt_runtime", ("--cpu-rt-runtime",), "int64",
         "Limit CPU real-time runtime in microseconds"),
    Flag("cpu_shares", ("-c", "--cpu-shares"), "int64", "CPU shares (relative weight)"),
    Flag("cpus", ("--cpus",), "cpus", "Number of CPUs"),
    Flag("cpuset_cpus", ("--cpuset-cpus",), "str", "CPUs in which to allow execution (0-3, 0,1)"),
    Flag("cpuset_mems", ("--cpuset-mems",), "str", "MEMs in which to allow execution (0-3, 0,1)"),
    Flag("device", ("--device",), "list", "Add a host device to the container"),
    Flag("device_cgroup_rule", ("--device-cgroup-rule",), "list",
         "Add a rule to the cgroup allowed devices list", validate_cgroup_rule),
    Flag("device_read_bps", ("--device-read-bps",), "list",
         "Limit read rate (bytes per second) from a device", validate_throttle_bps),
    Flag("device_read_iops", ("--device-read-iops",), "list",
         "Limit read rate (IO per second) from a device", validate_throttle_iops),
    Flag("device_write_bps", ("--device-write-bps",), "list",
         "Limit write rate (bytes per second) to a device", validate_throttle_bps),
    Flag("device_write_iops", ("--device-write-iops",), "list",
         "Limit write rate (IO per second) to a device", validate_throttle_iops),
    Flag("disable_content_trust", ("--disable-content-trust",), "bool",
         "Skip image verification (default true)", default=True),
    Flag("dns", ("--dns",), "list", "Set custom DNS servers", validate_ip),
    Flag("dns_option", ("--dns-option", "--dns-opt"), "list", "Set DNS options"),
    Flag("dns_search", ("--dns-search",), "list", "Set custom DNS search domains",
         validate_dns_search),
    Flag("domainname", ("--domainname",), "str", "Container NIS domain name"),
    Flag("entrypoint", ("--entrypoint",), "str", "Overwrite the default ENTRYPOINT of the image"),
    Flag("env", ("-e", "--env"), "list", "Set environment variables", validate_env),
    Flag("env_file", ("--env-file",), "list", "Read in a file of environment variables"),
    Flag("expose", ("--expose",), "list", "Expose a port or a range of ports"),
    Flag("group_add", ("--group-add",), "list", "Add additional groups to join"),
    Flag("health_cmd", ("--health-cmd",), "str", "Command to run to check health"),
    Flag("health_interval", ("--health-interval",), "duration",
         "Time between running the check (ms|s|m|h) (default 0s)"),
    Flag("health_retries", ("--health-retries",), "int",
         "Consecutive failures needed to report unhealthy"),
    Flag("health_start_interval", ("--health-start-interval",), "duration",
         "Time between running the check during the start period (ms|s|m|h) (default 0s)"),
    Flag("health_start_period", ("--health-start-period",), "duration",
         "Start period for the container to initialize before starting health-retries "
         "countdown (ms|s|m|h) (default 0s)"),
    Flag("health_timeout", ("--health-timeout",), "duration",
         "Maximum time to allow one check to run (ms|s|m|h) (default 0s)"),
    Flag("hostname", ("-h", "--hostname"), "str", "Container host name"),
    Flag("init", ("--init",), "bool",
         "Run an init inside the container that forwards signals and reaps processes"),
    Flag("interactive", ("-i", "--interactive"), "bool", "Keep STDIN open even if not attached"),
    Flag("ip", ("--ip",), "str", "IPv4 address (e.g., 172.30.100.104)"),
    Flag("ip6", ("--ip6",), "str", "IPv6 address (e.g., 2001:db8::33)"),
    Flag("ipc", ("--ipc",), "str", "IPC mode to use"),
    Flag("isolation", ("--isolation",), "str", "Container isolation technology"),
    Flag("kernel_memory", ("--kernel-memory",), "bytes", "Kernel memory limit (ignored)"),
    Flag("label", ("-l", "--label"), "list", "Set meta data on a container", validate_label),
    Flag("label_file", ("--label-file",), "list", "Read in a line delimited file of labels"),
    Flag("link", ("--link",), "list", "Add link to another container", validate_link),
    Flag("link_local_ip", ("--link-local-ip",), "list",
         "Container IPv4/IPv6 link-local addresses"),
    Flag("log_driver", ("--log-driver",), "str", "Logging driver for the container"),
    Flag("log_opt", ("--log-opt",), "list", "Log driver options"),
    Flag("mac_address", ("--mac-address",), "str",
         "Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
    Flag("memory", ("-m", "--memory"), "bytes", "Memory limit"),
    Flag("memory_reservation", ("--memory-reservation",), "bytes", "Memory soft limit"),
    Flag("memory_swap", ("--memory-swap",), "swapbytes",
         "Swap limit equal to memory plus swap: '-1' to enable unlimited swap"),
    Flag("memory_swappiness", ("--memory-swappiness",), "int64",
         "Tune container memory swappiness (0 to 100) (default -1)"),
    Flag("mount", ("--mount",), "list", "Attach a filesystem mount to the container",
         parse_mount),
    Flag("name", ("--name",), "str", "Assign a name to the container"),
    Flag("network", ("--network", "--net"), "list", "Connect a container to a network",
         parse_network),
    Flag("network_alias", ("--network-alias", "--net-alias"), "list",
         "Add network-scoped alias for the container"),
    Flag("no_healthcheck", ("--no-healthcheck",), "bool",
         "Disable any container-specified HEALTHCHECK"),
    Flag("oom_kill_disable", ("--oom-kill-disable",), "bool", "Disable OOM Killer"),
    Flag("oom_score_adj", ("--oom-score-adj",), "int",
         "Tune host's OOM preferences (-1000 to 1000)"),
    Flag("pid", ("--pid",), "str", "PID namespace to use"),
    Flag("pids_limit", ("--pids-limit",), "int64",
         "Tune container pids limit (set -1 for unlimited)"),
    Flag("platform", ("--platform",), "str", 'Set platform if server is multi-platform capable'),
    Flag("privileged", ("--privileged",), "bool", "Give extended privileges to this container"),
    Flag("publish", ("-p", "--publish"), "list", "Publish a container's port(s) to the host"),
    Flag("publish_all", ("-P", "--publish-all"), "bool",
         "Publish all exposed ports to random ports"),
    Flag("pull", ("--pull",), "str",
         'Pull image before running ("always", "missing", "never") (default "missing")'),
    Flag("quiet", ("-q", "--quiet"), "bool", "Suppress the pull output"),
    Flag("read_only", ("--read-only",), "bool",
         "Mount the container's root filesystem as read only"),
    Flag("restart", ("--restart",), "str",
         'Restart policy to apply when a container exits (default "no")'),
    Flag("rm", ("--rm",), "bool",
         "Automatically remove the container and its associated anonymous volumes when it "
         "exits"),
    Flag("runtime", ("--runtime",), "str", "Runtime to use for this container"),
    Flag("security_opt", ("--security-opt",), "list", "Security Options"),
    Flag("shm_size", ("--shm-size",), "bytes", "Size of /dev/shm"),
    Flag("stop_signal", ("--stop-signal",), "str", "Signal to stop the container"),
    Flag("stop_timeout", ("--stop-timeout",), "int", "Timeout (in seconds) to stop a container"),
    Flag("storage_opt", ("--storage-opt",), "list", "Storage driver options for the container"),
    Flag("sysctl", ("--sysctl",), "list", "Sysctl options", validate_sysctl),
    Flag("tmpfs", ("--tmpfs",), "list", "Mount a tmpfs directory"),
    Flag("tty", ("-t", "--tty"), "bool", "Allocate a pseudo-TTY"),
    Flag("ulimit", ("--ulimit",), "list", "Ulimit options", parse_ulimit),
    Flag("user", ("-u", "--user"), "str", "Username or UID (format: <name|uid>[:<group|gid>])"),
    Flag("userns", ("--userns",), "str", "User namespace to use"),
    Flag("uts", ("--uts",), "str", "UTS namespace to use"),
    Flag("volume", ("-v", "--volume"), "list", "Bind mount a volume"),
    Flag("volume_driver", ("--volume-driver",), "str",
         "Optional volume driver for the container"),
    Flag("volumes_from", ("--volumes-from",), "list",
         "Mount volumes from the specified container(s)"),
    Flag("workdir", ("-w", "--workdir"), "str", "Working directory inside the container"),
)  # fmt: skip

RUN_ONLY_FLAGS: tuple[Flag, ...] = (
    Flag("detach", ("-d", "--detach"), "bool",
         "Run container in background and print container ID"),
    Flag("detach_keys", ("--detach-keys",), "str",
         "Override the key sequence for detaching a container"),
    Flag("sig_proxy", ("--sig-proxy",), "bool", "Proxy received signals to the process",
         default=True),
)  # fmt: skip

_BY_DEST = {f.dest: f for f in (*CONTAINER_FLAGS, *RUN_ONLY_FLAGS)}


def unset_values(*, run: bool) -> dict[str, Any]:
    """Every flag's value as click hands it over when the flag is not given."""
    flags = (*CONTAINER_FLAGS, *(RUN_ONLY_FLAGS if run else ()))
    return {
        f.dest: bool(f.default) if f.kind == "bool" else (() if f.kind == "list" else None)
        for f in flags
    }


def _option(flag: Flag) -> click.Option:
    import click  # here, not at the top: the fast paths read the flag table without click

    if flag.kind == "bool":
        if flag.default:  # on by default: --flag=false (or --no-flag) turns it off
            off = "--no-" + flag.decls[-1][2:]
            return click.Option(
                [f"{flag.decls[-1]}/{off}", flag.dest], default=True, help=flag.help
            )
        return click.Option([*flag.decls, flag.dest], is_flag=True, help=flag.help)
    multiple = flag.kind == "list"
    return click.Option(
        [*flag.decls, flag.dest],
        multiple=multiple,
        default=() if multiple else None,
        metavar=_METAVARS[flag.kind],
        help=flag.help,
    )


def add_flags(command: click.Command, *, run: bool) -> click.Command:
    """Give a run/create command docker's flags (sorted by name, as `docker run --help`)."""
    flags = sorted((*CONTAINER_FLAGS, *(RUN_ONLY_FLAGS if run else ())), key=lambda f: f.decls[-1])
    command.params.extend(_option(flag) for flag in flags)
    return command


class Values:
    """The parsed flag values of one run/create, with pflag's per-flag checks done."""

    def __init__(self, ctx_params: Mapping[str, Any]) -> None:
        self.raw = ctx_params
        self.changed = {k for k, v in ctx_params.items() if v not in (None, ())}
        self.v: dict[str, Any] = {}
        for dest, flag in _BY_DEST.items():
            if dest not in ctx_params:
                continue
            self.v[dest] = self._convert(flag, ctx_params[dest])

    @staticmethod
    def _invalid(flag: Flag, value: str, exc: FlagError) -> FlagError:
        longs = [d for d in flag.decls if d.startswith("--")]
        shorts = [d for d in flag.decls if not d.startswith("--")]
        name = f"{shorts[0]}, {longs[0]}" if shorts else longs[0]
        return FlagError(f'invalid argument "{value}" for "{name}" flag: {exc}')

    def _convert(self, flag: Flag, value: Any) -> Any:
        kind = flag.kind
        if kind == "bool":
            return bool(value)
        if kind == "list":
            if flag.convert is None:
                return list(value)
            out = []
            for item in value:
                try:
                    out.append(flag.convert(item))
                except FlagError as exc:
                    raise self._invalid(flag, item, exc) from None
            return out
        if value is None:
            defaults = {"str": "", "duration": 0, "bytes": 0, "swapbytes": 0, "cpus": 0}
            return -1 if flag.dest == "memory_swappiness" else defaults.get(kind, 0)
        readers: dict[str, Callable[[str], Any]] = {
            "str": str,
            "int": parse_int,
            "int64": parse_int,
            "uint16": lambda t: parse_uint(t, 16),
            "duration": parse_duration,
            "bytes": ram_in_bytes,
            "swapbytes": lambda t: -1 if t == "-1" else ram_in_bytes(t),
            "cpus": parse_cpus,
        }
        try:
            return readers[kind](value)
        except FlagError as exc:
            raise self._invalid(flag, value, exc) from None

    def __getitem__(self, dest: str) -> Any:
        return self.v[dest]
