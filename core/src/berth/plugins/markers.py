"""pluggy markers for the ``berth`` project: plugins decorate their hooks with ``hookimpl``."""

import pluggy

PROJECT = "berth"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)
