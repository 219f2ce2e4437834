"""Whiteouts: how a layer says that something of its parent is gone.

In a layer tar (the OCI layer format, Docker's too) a deleted ``dir/name`` is an empty entry
``dir/.wh.name``, and a directory whose parent content is hidden entirely (replaced) holds an
entry ``dir/.wh..wh..opq``. On disk, drivers whose layer directory is a full copy of the parent
apply these in place (:attr:`WhiteoutFormat.NAIVE`); overlayfs wants a 0/0 character device for a
deleted name and the xattr ``trusted.overlay.opaque=y`` on a replaced directory
(:attr:`WhiteoutFormat.OVERLAY`).
"""

from __future__ import annotations

import enum
import os
import stat

#: The prefix of a whiteout entry's name in a layer tar.
WHITEOUT_PREFIX = ".wh."
#: The prefix of names reserved for whiteout metadata (AUFS used ``.wh..wh.plnk`` and others).
WHITEOUT_META_PREFIX = ".wh..wh."
#: The entry that marks its directory opaque.
WHITEOUT_OPAQUE = ".wh..wh..opq"
#: overlayfs' opaque-directory xattr and its value.
OVERLAY_OPAQUE_XATTR = "trusted.overlay.opaque"
OVERLAY_OPAQUE_VALUE = b"y"
#: xattrs under this prefix belong to overlayfs itself: never taken from a tar, never exported.
OVERLAY_XATTR_PREFIX = "trusted.overlay."


class WhiteoutFormat(enum.Enum):
    """How :func:`~berth.plugins.layers.apply_layer` applies a layer's deletions."""

    #: Delete in place: for drivers whose layer directory starts as a full copy of its parent
    #: (vfs, btrfs). An opaque directory loses everything it had that this layer did not bring.
    NAIVE = "naive"
    #: Record deletions the way overlayfs reads them in an upper directory: a 0/0 character
    #: device for a deleted name, ``trusted.overlay.opaque=y`` on a replaced directory.
    OVERLAY = "overlay"


def is_whiteout_device(st: os.stat_result) -> bool:
    """Whether ``st`` (from lstat) is overlayfs' whiteout: a character device numbered 0/0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
