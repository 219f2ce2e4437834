"""Can the hub client work here? It needs nothing from the host but Python's TLS support."""

from __future__ import annotations

import importlib.util

from berth.plugins import PluginContext, ProbeResult

#: The C extension behind :mod:`ssl`; missing from Pythons built without OpenSSL.
SSL_MODULE = "_ssl"


def probe(ctx: PluginContext) -> ProbeResult:
    """TLS available (looked up, not imported): then the client works."""
    try:
        has_tls = importlib.util.find_spec(SSL_MODULE) is not None
    except (ImportError, ValueError):
        has_tls = False
    if not has_tls:
        return ProbeResult.unsupported(
            "this Python has no TLS support (no ssl module); install a Python built with OpenSSL"
        )
    return ProbeResult.ok()
