"""The hub probe's answers."""

from __future__ import annotations

import pytest
from berth.plugins import PluginContext
from berth.testing.fixtures import PluginContextFactory
from berth_registry_hub import probe as hub


@pytest.fixture
def ctx(plugin_context: PluginContextFactory) -> PluginContext:
    return plugin_context("registry", "hub")


def test_with_tls_it_works(ctx: PluginContext) -> None:
    assert hub.probe(ctx).supported


def test_without_tls_it_says_so(ctx: PluginContext, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hub, "SSL_MODULE", "_berth_no_such_ssl")
    result = hub.probe(ctx)
    assert not result.supported
    assert result.reason.startswith("this Python has no TLS support")


def test_factory_builds_the_client(ctx: PluginContext) -> None:
    from berth.plugins import RegistryClient
    from berth_registry_hub.plugin import create_client

    assert isinstance(create_client(ctx), RegistryClient)
