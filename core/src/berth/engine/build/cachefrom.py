"""``--cache-from``: steps taken from images named by the user (pulled or loaded, so without
the local cache's records), matched as Docker's classic builder matches them: the image's
history and layers must extend the current parent's, and its next history entry must be the
step about to run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from berth.engine.images.store import Image


@dataclass(frozen=True)
class CacheSourceMatch:
    source: Image
    entry: dict[str, Any]  # the history entry of the step
    layer_index: int | None  # which of the source's layers the step made (None: no layer)
    last: bool  # the source's last step: its config is the step's config


def _history_key(entry: dict[str, Any]) -> tuple[str, bool]:
    return str(entry.get("created_by") or ""), bool(entry.get("empty_layer"))


def find(
    sources: Sequence[Image],
    history: list[dict[str, Any]],
    diff_ids: Sequence[str],
    created_by: str,
) -> CacheSourceMatch | None:
    """The first source image whose next step after ``history``/``diff_ids`` is ``created_by``."""
    own = [_history_key(h) for h in history]
    for source in sources:
        theirs = source.config.history
        if len(theirs) <= len(own):
            continue
        if [_history_key(h) for h in theirs[: len(own)]] != own:
            continue
        if tuple(source.config.diff_ids[: len(diff_ids)]) != tuple(diff_ids):
            continue
        entry = theirs[len(own)]
        if str(entry.get("created_by") or "") != created_by:
            continue
        layer_index = None if entry.get("empty_layer") else len(diff_ids)
        if layer_index is not None and layer_index >= len(source.config.diff_ids):
            continue
        return CacheSourceMatch(source, entry, layer_index, len(theirs) == len(own) + 1)
    return None
