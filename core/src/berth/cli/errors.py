"""Errors of the command line itself (not of the daemon): shown as one line, exit status 1."""

from __future__ import annotations


class CliError(Exception):
    """A user-facing error raised by berth.cli (a bad --format template, ...)."""
