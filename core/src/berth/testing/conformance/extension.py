"""Conformance suite of extensions (entry-point group ``berth.extensions.v1``).

An extension declares no driver; it implements event hooks (``berth_container_started``, …).
Its checks are the common registration ones plus: it implements at least one hook.
"""

from __future__ import annotations

from typing import ClassVar

import pluggy

from berth.plugins import DriverKind
from berth.testing.conformance.registration import PluginRegistrationSuite


class ExtensionSuite(PluginRegistrationSuite):
    """Subclass it and set ``name`` (the entry-point name) and ``distribution``."""

    kind: ClassVar[DriverKind] = "extension"

    def test_implements_at_least_one_hook(self, plugin_manager: pluggy.PluginManager) -> None:
        plugin = plugin_manager.get_plugin(f"{self.kind}:{self.name}")
        callers = plugin_manager.get_hookcallers(plugin) or []
        assert callers, "an extension implements at least one hook (see docs/plugins/hooks.md)"
