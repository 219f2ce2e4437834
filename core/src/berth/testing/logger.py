"""A logger for tests that records what a driver logs, shaped like the structlog one core hands
plugins (``log.info("layer.created", id=...)``, ``log.bind(key=value)``)."""

from __future__ import annotations

from typing import Any


class RecordingLogger:
    """Keeps every call as a dict: ``{"event": ..., "level": ..., **bound, **keywords}``.

    Loggers made with :meth:`bind` share the list of records with the one they came from.
    """

    def __init__(self, records: list[dict[str, Any]] | None = None, **context: Any) -> None:
        self.records: list[dict[str, Any]] = [] if records is None else records
        self.context: dict[str, Any] = context

    def bind(self, **context: Any) -> RecordingLogger:
        return RecordingLogger(self.records, **{**self.context, **context})

    def _log(self, level: str, event: str, **keywords: Any) -> None:
        self.records.append({**self.context, **keywords, "event": event, "level": level})

    def debug(self, event: str, **keywords: Any) -> None:
        self._log("debug", event, **keywords)

    def info(self, event: str, **keywords: Any) -> None:
        self._log("info", event, **keywords)

    def warning(self, event: str, **keywords: Any) -> None:
        self._log("warning", event, **keywords)

    warn = warning

    def error(self, event: str, **keywords: Any) -> None:
        self._log("error", event, **keywords)

    def exception(self, event: str, **keywords: Any) -> None:
        self._log("error", event, exc_info=True, **keywords)

    def critical(self, event: str, **keywords: Any) -> None:
        self._log("critical", event, **keywords)

    def events(self, level: str | None = None) -> list[str]:
        """The event names logged so far (at ``level`` only, if given)."""
        return [r["event"] for r in self.records if level is None or r["level"] == level]
