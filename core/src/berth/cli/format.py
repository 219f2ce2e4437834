"""`--format` and column output as the docker CLI does them.

`--format json` means `{{json .}}` per object; a `table` prefix prints a header and aligns the
tab-separated columns like Go's tabwriter; `\\t` and `\\n` typed in a list format become a tab and
a newline; anything else is a template (see `berth.cli.template`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from berth.cli.tabwriter import tabwrite
from berth.cli.template import Template, TemplateError, go_json

__all__ = ["ListFormat", "Template", "TemplateError", "render_one", "tabwrite"]

TABLE_PREFIX = "table"
JSON_FORMAT = "json"


def _expand_escapes(text: str) -> str:
    return text.replace("\\t", "\t").replace("\\n", "\n")


def render_one(format_text: str, data: Any) -> str:
    """`--format` of a single object (version, info, inspect): the text plus a newline."""
    if format_text.strip() == JSON_FORMAT:
        return go_json(data) + "\n"
    return Template(format_text).execute(data) + "\n"


@dataclass
class ListFormat:
    """`--format` of a list command: a table (with header), plain lines, or JSON lines."""

    template: Template | None  # None: JSON lines
    table: bool
    names: Mapping[str, str] | None = None

    @classmethod
    def from_option(
        cls, option: str | None, default_table: str, names: Mapping[str, str] | None = None
    ) -> ListFormat:
        text = (option or "").strip() or TABLE_PREFIX
        if text == JSON_FORMAT:
            return cls(None, False, names)
        table = text == TABLE_PREFIX or text.startswith(TABLE_PREFIX + " ")
        if text == TABLE_PREFIX:
            body = default_table
        elif table:
            body = text[len(TABLE_PREFIX) :].strip(" ")
        else:
            body = option or ""
        return cls(Template(_expand_escapes(body)), table, names)

    def render(self, items: Iterable[Any]) -> str:
        if self.template is None:
            return "".join(go_json(item) + "\n" for item in items)
        lines: list[str] = []
        if self.table:
            lines.extend(self.template.header(self.names).split("\n"))
        for item in items:
            text = self.template.execute(item)
            lines.extend(text.removesuffix("\n").split("\n"))
        if self.table:
            lines = tabwrite(lines, minwidth=10, padding=3)
        return "".join(line + "\n" for line in lines)

    def render_item(self, item: Any) -> str:
        """One item as a line (streamed output, no table)."""
        if self.template is None:
            return go_json(item) + "\n"
        return self.template.execute(item).removesuffix("\n") + "\n"
