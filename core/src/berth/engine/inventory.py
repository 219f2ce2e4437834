"""`berth plugin ls --local`: load and probe every installed plugin in this process, print it.

The client runs this module in a subprocess so that its own process never imports the engine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from berth.engine.config import load_config
from berth.engine.errors import ConfigError
from berth.engine.logging import configure_logging, get_logger
from berth.engine.pluginhost import PluginHost, PluginPolicy


def local_inventory() -> list[dict[str, object]]:
    try:
        config = load_config()
        data_root, exec_root = config.data_root, config.exec_root
        policy = config["plugins"]
    except ConfigError as exc:  # still list the plugins, without the policy
        print(f"warning: {exc}", file=sys.stderr)
        data_root, exec_root = Path("/var/lib/berth"), Path("/run/berth")
        policy = {"allow": [], "disabled": []}
    configure_logging("fatal", "console")  # the listing itself says what failed
    host = PluginHost(
        data_root,
        exec_root,
        PluginPolicy(tuple(policy["allow"]), tuple(policy["disabled"])),
        get_logger("berth.inventory"),
    )
    host.discover()
    host.load_all()
    return [record.to_json() for record in host.all_records()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m berth.engine.inventory")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    args = parser.parse_args(argv)
    entries = local_inventory()
    if args.json:
        json.dump(entries, sys.stdout)
        print()
    else:
        for e in entries:
            print(f"{e['Kind']:<10} {e['Name']:<12} {e['Status']:<12} {e['Reason']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
