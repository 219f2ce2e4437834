"""The driver's options (``--storage-opt overlay.<key>=<value>``), checked before it starts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from berth_storage_overlay.mounter import MOUNT_APIS

PREFIX = "overlay."
KNOWN = ("mount_api",)


@dataclass(frozen=True)
class OverlayOptions:
    #: ``auto`` (the new mount API where the kernel has overlay's ``lowerdir+``, else the
    #: helper), ``fsconfig`` (insist on the new API) or ``legacy`` (always the helper).
    mount_api: str = "auto"


def parse_options(options: Mapping[str, Any]) -> OverlayOptions:
    """``{"overlay.mount_api": "legacy"}`` → OverlayOptions; unknown keys are a ValueError."""
    values: dict[str, str] = {}
    for raw_key, value in options.items():
        key = raw_key.removeprefix(PREFIX)
        if key not in KNOWN:
            known = ", ".join(PREFIX + k for k in KNOWN)
            raise ValueError(f"unknown storage option {raw_key!r} for overlay; it knows: {known}")
        values[key] = str(value).strip().lower()
    mount_api = values.get("mount_api", "auto")
    if mount_api not in MOUNT_APIS:
        raise ValueError(
            f"invalid overlay.mount_api {mount_api!r}; use one of: {', '.join(MOUNT_APIS)}"
        )
    return OverlayOptions(mount_api=mount_api)
