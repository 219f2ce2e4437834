"""Layers for storage drivers: unpack a layer tar, compare trees, export changes as a tar.

Part of the public plugin API (:mod:`berth.plugins`): storage drivers use these so that each
does not write its own tar code. Every function here is confined to the directory it is given
(never writes, and never reads through a symlink, outside it) and reports bad layers with
:class:`LayerError`, whose text is one line.
"""

from berth.plugins.layers.apply import apply_layer
from berth.plugins.layers.changes import changes_size, overlay_changes, tree_changes
from berth.plugins.layers.errors import LayerError
from berth.plugins.layers.export import export_changes
from berth.plugins.layers.naive import NaiveDiffMixin
from berth.plugins.layers.whiteouts import WhiteoutFormat

__all__ = [
    "LayerError",
    "NaiveDiffMixin",
    "WhiteoutFormat",
    "apply_layer",
    "changes_size",
    "export_changes",
    "overlay_changes",
    "tree_changes",
]
