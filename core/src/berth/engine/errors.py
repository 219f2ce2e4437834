"""Errors the engine raises; each carries one line a user can act on and an HTTP status."""

from __future__ import annotations


class BerthError(Exception):
    """Base of every error shown to users. ``status`` is the HTTP status the API answers with."""

    status = 500


class ConfigError(BerthError):
    """The daemon's configuration is invalid (bad key, bad value, unreadable file)."""

    status = 400


class PluginError(BerthError):
    """A plugin cannot be found, loaded or used."""

    status = 500


class BadParameter(BerthError):
    status = 400


class NotFound(BerthError):
    status = 404


class Conflict(BerthError):
    status = 409
