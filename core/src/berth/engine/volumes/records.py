"""Volume records: what the engine knows about each volume besides its data.

One JSON file, ``<data-root>/volumes/metadata.json``, written atomically on every change, holds
``{name: {"Driver", "Labels", "Options", "CreatedAt"}}``; a driver keeps the data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.engine.statefile import write_atomic

#: The label Docker puts on volumes made for one container (prune removes only those).
ANONYMOUS_LABEL = "com.docker.volume.anonymous"


@dataclass
class VolumeRecord:
    name: str
    driver: str
    created_at: str
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def anonymous(self) -> bool:
        return ANONYMOUS_LABEL in self.labels

    def to_disk(self) -> dict[str, Any]:
        return {
            "Driver": self.driver,
            "CreatedAt": self.created_at,
            "Labels": self.labels,
            "Options": self.options,
        }

    @classmethod
    def from_disk(cls, name: str, data: Mapping[str, Any]) -> VolumeRecord:
        return cls(
            name=name,
            driver=str(data.get("Driver") or "local"),
            created_at=str(data.get("CreatedAt") or ""),
            labels={str(k): str(v) for k, v in (data.get("Labels") or {}).items()},
            options={str(k): str(v) for k, v in (data.get("Options") or {}).items()},
        )


class VolumeRecords:
    """The records, in memory and on disk; callers serialize access (the service's lock)."""

    def __init__(self, directory: Path, log: Any) -> None:
        self.path = directory / "metadata.json"
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._records: dict[str, VolumeRecord] = {}
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            data = {}
        except (OSError, ValueError) as exc:
            log.error("volumes.metadata_unreadable", path=str(self.path), error=str(exc))
            data = {}
        for name, item in (data if isinstance(data, dict) else {}).items():
            if isinstance(item, Mapping):
                self._records[str(name)] = VolumeRecord.from_disk(str(name), item)

    def _save(self) -> None:
        data = {name: record.to_disk() for name, record in sorted(self._records.items())}
        write_atomic(self.path, json.dumps(data, indent=1).encode(), 0o600)

    def get(self, name: str) -> VolumeRecord | None:
        return self._records.get(name)

    def put(self, record: VolumeRecord) -> None:
        self._records[record.name] = record
        self._save()

    def drop(self, name: str) -> None:
        if self._records.pop(name, None) is not None:
            self._save()

    def __iter__(self) -> Iterator[VolumeRecord]:
        return iter(list(self._records.values()))
