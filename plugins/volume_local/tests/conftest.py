"""berth's test fixtures (``plugin_context``, ``fake_distribution``) for this plugin's tests."""

from berth.testing.fixtures import fake_distribution, plugin_context

__all__ = ["fake_distribution", "plugin_context"]
