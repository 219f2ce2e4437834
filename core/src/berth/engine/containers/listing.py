"""Which containers ``GET /containers/json`` and ``POST /containers/prune`` select, by Docker's
rules: ``all``, ``limit``, and the filters id, name, label, label!, status, ancestor, exited,
before, since, volume, network, health, isolation, is-task (OR within a key, AND across keys;
id and name are unanchored regular expressions, as Docker matches them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from berth.engine.containers.model import (
    NO_HEALTHCHECK,
    STATUSES,
    Container,
    parse_rfc3339,
)
from berth.engine.errors import BadParameter
from berth.engine.images import filters as image_filters

LIST_KEYS = frozenset(
    {
        "ancestor",
        "before",
        "exited",
        "expose",
        "health",
        "id",
        "isolation",
        "is-task",
        "label",
        "label!",
        "name",
        "network",
        "publish",
        "since",
        "status",
        "volume",
    }
)
PRUNE_KEYS = frozenset({"label", "label!", "until"})
HEALTH_VALUES = ("starting", "healthy", "unhealthy", "none")

#: ancestor value -> the image IDs it stands for (the image and its descendants).
AncestorResolver = Callable[[str], set[str]]
#: a container reference -> the container (404 when unknown).
ContainerLookup = Callable[[str], Container]


def _search(pattern: str, text: str) -> bool:
    if pattern == text:
        return True
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


@dataclass
class Selection:
    """The parsed filters of a listing."""

    filters: Mapping[str, list[str]]
    all_containers: bool
    limit: int
    exited: set[int]
    ancestors: set[str] | None
    before: Container | None
    since: Container | None


def parse_list_filters(
    filters: Mapping[str, list[str]],
    all_containers: bool,
    limit: int,
    ancestors: AncestorResolver,
    lookup: ContainerLookup,
) -> Selection:
    image_filters.validate(filters, LIST_KEYS)
    for value in filters.get("status", []):
        if value not in STATUSES:
            raise BadParameter(f"invalid filter 'status={value}'")
        all_containers = True
    exited: set[int] = set()
    for value in filters.get("exited", []):
        try:
            exited.add(int(value))
        except ValueError:
            raise BadParameter(f"invalid filter 'exited={value}'") from None
        all_containers = True
    for value in filters.get("health", []):
        if value not in HEALTH_VALUES:
            raise BadParameter(
                f"invalid filter 'health={value}': use one of {', '.join(HEALTH_VALUES)}"
            )
    for value in filters.get("is-task", []):
        if value not in ("true", "false", "1", "0"):
            raise BadParameter(f"invalid filter 'is-task={value}'")
    found: set[str] | None = None
    if filters.get("ancestor"):
        found = set()
        for value in filters["ancestor"]:
            found |= ancestors(value)
    before = lookup(filters["before"][0]) if filters.get("before") else None
    since = lookup(filters["since"][0]) if filters.get("since") else None
    return Selection(filters, all_containers, limit, exited, found, before, since)


def _health(container: Container) -> str:
    health = container.state.health
    return health.status if health is not None else NO_HEALTHCHECK


def matches(container: Container, selection: Selection) -> bool:
    """Whether the container passes every filter (not all/limit/before/since)."""
    f = selection.filters
    state = container.state
    if f.get("id") and not any(_search(p, container.id) for p in f["id"]):
        return False
    if f.get("name") and not any(_search(p, container.name) for p in f["name"]):
        return False
    labels = {str(k): str(v) for k, v in (container.config.get("Labels") or {}).items()}
    if not image_filters.labels_match(f.get("label", []), labels):
        return False
    if not image_filters.labels_exclude(f.get("label!", []), labels):
        return False
    if f.get("status") and state.status not in f["status"]:
        return False
    if selection.exited and (
        state.running
        or not container.has_been_started_before
        or state.exit_code not in selection.exited
    ):
        return False
    if selection.ancestors is not None and (
        container.image not in selection.ancestors
        and str(container.config.get("Image") or "") not in f.get("ancestor", [])
    ):
        return False
    if f.get("health") and _health(container) not in f["health"]:
        return False
    if (
        f.get("network")
        and container.network_mode not in f["network"]
        and not any(n in (container.network_settings.get("Networks") or {}) for n in f["network"])
    ):
        return False
    if f.get("volume") and not any(
        v in (p.get("Name"), p.get("Source"), p.get("Destination"), dest)
        for v in f["volume"]
        for dest, p in container.mount_points.items()
        if isinstance(p, Mapping)
    ):
        return False
    if f.get("isolation") and "default" not in f["isolation"] and "" not in f["isolation"]:
        return False
    if f.get("is-task") and f["is-task"][0] in ("true", "1"):
        return False  # no swarm tasks on a berth host
    return not (f.get("publish") or f.get("expose"))  # no published ports yet


def select(containers: Sequence[Container], selection: Selection) -> list[Container]:
    """Newest first, Docker's order; ``before``/``since`` bound by creation; ``limit`` last."""
    ordered = sorted(containers, key=lambda c: c.created, reverse=True)
    out: list[Container] = []
    for container in ordered:
        if selection.before is not None and container.created >= selection.before.created:
            continue
        if selection.since is not None and container.created <= selection.since.created:
            continue
        running = container.state.running
        if not running and not selection.all_containers and selection.limit <= 0:
            continue
        if not matches(container, selection):
            continue
        out.append(container)
        if selection.limit > 0 and len(out) >= selection.limit:
            break
    return out


def prune_selection(filters: Mapping[str, list[str]]) -> Callable[[Container], bool]:
    """``POST /containers/prune``: which stopped containers the filters let go."""
    image_filters.validate(filters, PRUNE_KEYS)
    until = [image_filters.parse_until(v) for v in filters.get("until", [])]

    def wanted(container: Container) -> bool:
        labels = {str(k): str(v) for k, v in (container.config.get("Labels") or {}).items()}
        created = parse_rfc3339(container.created) or 0.0
        return (
            not container.state.running
            and not any(created > u for u in until)
            and image_filters.labels_match(filters.get("label", []), labels)
            and image_filters.labels_exclude(filters.get("label!", []), labels)
        )

    return wanted
