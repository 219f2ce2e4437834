"""``berthd``: parse flags, load the configuration, run the daemon."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from berth.engine.config import DEFAULT_CONFIG_FILE, load_config
from berth.engine.errors import BerthError


def _flags(**given: Any) -> dict[str, Any]:
    """Map click's parameters to daemon.json keys; unset flags are left out."""
    mapping = {
        "host": "hosts",
        "data_root": "data-root",
        "exec_root": "exec-root",
        "pidfile": "pidfile",
        "storage_driver": "storage-driver",
        "storage_opt": "storage-opts",
        "log_level": "log-level",
        "log_format": "log-format",
        "debug": "debug",
        "default_runtime": "default-runtime",
        "registry_mirror": "registry-mirrors",
        "insecure_registry": "insecure-registries",
        "live_restore": "live-restore",
        "group": "group",
        "tls": "tls",
        "tlscert": "tlscert",
        "tlskey": "tlskey",
        "tlscacert": "tlscacert",
        "tlsverify": "tlsverify",
    }
    flags: dict[str, Any] = {}
    for param, key in mapping.items():
        value = given.get(param)
        if value is None or value == ():
            continue
        flags[key] = list(value) if isinstance(value, tuple) else value
    if flags.get("debug"):
        flags.setdefault("log-level", "debug")
    return flags


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-H",
    "--host",
    multiple=True,
    help="Socket to listen on (unix:///path or tcp://host:port); repeatable.",
)
@click.option(
    "--config-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Daemon configuration file [default: {DEFAULT_CONFIG_FILE}].",
)
@click.option("--data-root", help="Root of persistent state [default: /var/lib/berth].")
@click.option("--exec-root", help="Root of runtime state [default: /run/berth].")
@click.option("-p", "--pidfile", help="Pid file [default: <exec-root>/berthd.pid].")
@click.option("-s", "--storage-driver", help="Storage driver to use [default: automatic].")
@click.option("--storage-opt", multiple=True, help="Storage driver option key=value; repeatable.")
@click.option("-l", "--log-level", type=click.Choice(["debug", "info", "warn", "error", "fatal"]))
@click.option(
    "--log-format",
    type=click.Choice(["json", "console"]),
    help="Log format [default: console on a TTY, else json].",
)
@click.option("-D", "--debug", is_flag=True, default=None, help="Debug mode.")
@click.option("--default-runtime", help="Default isolation backend.")
@click.option("--registry-mirror", multiple=True, help="Docker Hub mirror; repeatable.")
@click.option("--insecure-registry", multiple=True, help="Registry reached over HTTP; repeatable.")
@click.option(
    "--live-restore", is_flag=True, default=None, help="Keep containers running when berthd stops."
)
@click.option("-G", "--group", help="Group owning the UNIX socket [default: berth].")
@click.option("--tls", is_flag=True, default=None, help="Use TLS on tcp:// hosts.")
@click.option("--tlscert", help="TLS certificate.")
@click.option("--tlskey", help="TLS key.")
@click.option("--tlscacert", help="CA that client certificates must be signed by.")
@click.option(
    "--tlsverify", is_flag=True, default=None, help="Require and verify client certificates."
)
@click.option("--validate", is_flag=True, help="Check the configuration and exit.")
@click.version_option(
    package_name="berth-core", prog_name="berthd", message="%(prog)s version %(version)s"
)
def cli(config_file: Path | None, validate: bool, **given: Any) -> None:
    """berthd: the berth container engine daemon (speaks the Docker Engine API)."""
    flags = _flags(**given)
    try:
        config = load_config(flags, config_file)
    except BerthError as exc:
        raise SystemExit(f"berthd: {exc}") from None
    if validate:
        click.echo("configuration OK")
        return

    from berth.daemon.server import Daemon
    from berth.engine.logging import configure_logging, get_logger

    configure_logging(config["log-level"], config["log-format"])
    log = get_logger("berthd")
    try:
        asyncio.run(Daemon(config, log, flags).run())
    except BerthError as exc:
        log.error("daemon.refused", error=str(exc))
        raise SystemExit(f"berthd: {exc}") from None
    except KeyboardInterrupt:
        pass


def main() -> None:
    cli(prog_name="berthd")


if __name__ == "__main__":
    main()
