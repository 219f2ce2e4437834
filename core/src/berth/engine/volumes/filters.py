"""Docker's filters of ``GET /volumes`` and ``POST /volumes/prune``."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from berth.engine.errors import BadParameter
from berth.engine.volumes.records import VolumeRecord

LIST_FILTERS = ("dangling", "driver", "label", "name")
PRUNE_FILTERS = ("label", "label!", "all")
_TRUE, _FALSE = ("true", "1"), ("false", "0")

#: ``filter(record, in_use) -> keep?``
Check = Callable[[VolumeRecord, bool], bool]


def _bool(key: str, values: Sequence[str]) -> bool:
    value = values[-1].lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise BadParameter(f"invalid filter '{key}={values[-1]}'")


def _check_keys(filters: Mapping[str, Sequence[str]], allowed: Sequence[str]) -> None:
    for key in filters:
        if key not in allowed:
            raise BadParameter(f"invalid filter '{key}'")


def label_matches(labels: Mapping[str, str], wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    if key not in labels:
        return False
    return not sep or labels[key] == value


def list_filter(filters: Mapping[str, Sequence[str]]) -> Check:
    _check_keys(filters, LIST_FILTERS)
    dangling = _bool("dangling", filters["dangling"]) if filters.get("dangling") else None
    drivers = list(filters.get("driver") or ())
    labels = list(filters.get("label") or ())
    names = []
    for pattern in filters.get("name") or ():
        try:
            names.append(re.compile(pattern))
        except re.error:
            raise BadParameter(f"invalid filter 'name={pattern}'") from None

    def keep(record: VolumeRecord, in_use: bool) -> bool:
        if dangling is not None and dangling == in_use:
            return False
        if drivers and record.driver not in drivers:
            return False
        if not all(label_matches(record.labels, wanted) for wanted in labels):
            return False
        return not names or any(p.search(record.name) for p in names)

    return keep


def prune_filter(filters: Mapping[str, Sequence[str]], api_version: str) -> Check:
    _check_keys(filters, PRUNE_FILTERS)
    # API 1.42 made prune remove only anonymous volumes unless all=true
    new_api = tuple(int(p) for p in api_version.split(".")[:2]) >= (1, 42)
    every = _bool("all", filters["all"]) if filters.get("all") else not new_api
    labels = list(filters.get("label") or ())
    not_labels = list(filters.get("label!") or ())

    def keep(record: VolumeRecord, in_use: bool) -> bool:
        if in_use or (not every and not record.anonymous):
            return False
        if not all(label_matches(record.labels, wanted) for wanted in labels):
            return False
        return not any(label_matches(record.labels, wanted) for wanted in not_labels)

    return keep
