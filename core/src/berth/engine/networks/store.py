"""Network records on disk, in ``<data-root>/networks/``:

- ``<id>.json``: the network's definition, written atomically with fsync (create, config);
- ``<id>.endpoints``: its endpoints now, rewritten at every attach and detach — atomically
  (temp file and rename) but without fsync, which would cost ~10 ms per container start
  and stop: after a crash the engine reconciles endpoints with the containers that run
  anyway, and an unreadable endpoints file counts as none.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any

from berth.engine.networks.model import EndpointRecord, Network
from berth.engine.statefile import write_atomic

DEFINITION = ".json"
ENDPOINTS = ".endpoints"


class NetworkStore:
    def __init__(self, root: Path, log: Any) -> None:
        self.root = root
        self.log = log
        root.mkdir(parents=True, exist_ok=True)

    def load(self) -> list[Network]:
        found = []
        for path in sorted(self.root.glob("*" + DEFINITION)):
            try:
                network = Network.from_json(json.loads(path.read_bytes()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                self.log.error("network.record_unreadable", path=str(path), error=str(exc))
                continue
            endpoints = self.root / (network.id + ENDPOINTS)
            with contextlib.suppress(FileNotFoundError):
                try:
                    items = json.loads(endpoints.read_bytes())
                    records = [EndpointRecord.from_json(e) for e in items]
                    network.endpoints = {e.container_id: e for e in records}
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    self.log.warning("network.endpoints_unreadable", path=str(endpoints),
                                     error=str(exc))  # fmt: skip
            found.append(network)
        return found

    def save(self, network: Network) -> None:
        data = network.to_json()
        data.pop("Endpoints", None)
        write_atomic(self.root / (network.id + DEFINITION), json.dumps(data, indent=1).encode())
        self.save_endpoints(network)

    def save_endpoints(self, network: Network) -> None:
        data = json.dumps([e.to_json() for e in network.endpoints.values()]).encode()
        path = self.root / (network.id + ENDPOINTS)
        temp = path.with_name(f".{path.name}.{os.getpid()}.{id(data)}.tmp")
        temp.write_bytes(data)
        os.replace(temp, path)

    def remove(self, network_id: str) -> None:
        for suffix in (ENDPOINTS, DEFINITION):
            with contextlib.suppress(FileNotFoundError):
                (self.root / (network_id + suffix)).unlink()
