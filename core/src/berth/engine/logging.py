"""structlog, configured once: JSON lines off a TTY, readable console output on one.

Stdlib loggers (stevedore, asyncio, …) go through the same formatter. Request and container
IDs are bound with :func:`structlog.contextvars.bind_contextvars` and appear on every line.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "error": logging.ERROR,
    "fatal": logging.CRITICAL,
}


def configure_logging(level: str = "info", fmt: str = "", stream: TextIO | None = None) -> None:
    """Route structlog and stdlib logging to ``stream`` (stderr) at ``level``.

    ``fmt`` is ``json``, ``console`` or empty for "console when the stream is a TTY".
    """
    stream = stream or sys.stderr
    use_console = fmt == "console" or (fmt == "" and stream.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if use_console
        else structlog.processors.JSONRenderer()
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS[level])
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str = "berth", **bound: Any) -> Any:
    """A structlog logger named ``name`` with ``bound`` context on every line."""
    return structlog.get_logger(name).bind(**bound)
