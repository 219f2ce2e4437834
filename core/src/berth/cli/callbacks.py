"""click callbacks for the flags several commands share, read as the docker CLI reads them."""

from __future__ import annotations

import click


def filters(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> dict[str, list[str]]:
    """Repeated `name=value` into {name: [values]}, as docker's filter flag reads them."""
    by_key: dict[str, list[str]] = {}
    for value in values:
        if not value:
            continue
        key, sep, val = value.partition("=")
        if not sep:
            raise click.BadParameter(
                f'"{value}": bad format of filter (expected name=value)', ctx, param
            )
        by_key.setdefault(key.strip().lower(), []).append(val.strip())
    return by_key


def pairs(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    """Repeated `key=value` (a key alone means an empty value) into a map."""
    found: dict[str, str] = {}
    for value in values:
        key, _, val = value.partition("=")
        if not key:
            raise click.BadParameter(f'invalid key/value pair "{value}"', ctx, param)
        found[key] = val
    return found
