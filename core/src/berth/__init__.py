"""berth: a container engine for Linux."""

__version__ = "0.1.0"
