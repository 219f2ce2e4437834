"""``--storage-opt`` keys of the overlay driver: known ones parsed, anything else refused."""

from __future__ import annotations

import re

import pytest
from berth.testing.fixtures import PluginContextFactory
from berth_storage_overlay.options import OverlayOptions, parse_options
from berth_storage_overlay.plugin import create_driver


def test_no_options_mean_the_defaults() -> None:
    assert parse_options({}) == OverlayOptions(mount_api="auto")


@pytest.mark.parametrize("key", ["overlay.mount_api", "mount_api"])
@pytest.mark.parametrize("value", ["auto", "fsconfig", "legacy", " Legacy "])
def test_mount_api_is_read_with_or_without_prefix(key: str, value: str) -> None:
    assert parse_options({key: value}).mount_api == value.strip().lower()


def test_unknown_option_is_one_line_naming_the_known_ones() -> None:
    with pytest.raises(ValueError) as info:
        parse_options({"overlay.size": "10G"})
    assert str(info.value) == (
        "unknown storage option 'overlay.size' for overlay; it knows: overlay.mount_api"
    )


def test_option_of_another_driver_is_refused() -> None:
    with pytest.raises(ValueError, match=re.escape("unknown storage option 'btrfs.min_space'")):
        parse_options({"btrfs.min_space": "1G"})


def test_bad_mount_api_names_the_choices() -> None:
    expected = "invalid overlay.mount_api 'new'; use one of: auto, fsconfig, legacy"
    with pytest.raises(ValueError, match=re.escape(expected)):
        parse_options({"overlay.mount_api": "new"})


def test_the_factory_refuses_unknown_options_before_touching_anything(
    plugin_context: PluginContextFactory,
) -> None:
    ctx = plugin_context("storage", "overlay", {"overlay.size": "1G"}, create_dirs=False)
    with pytest.raises(ValueError, match=re.escape("unknown storage option 'overlay.size'")):
        create_driver(ctx)
    assert not ctx.data_dir.exists()
