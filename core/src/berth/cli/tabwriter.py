"""Column alignment as Go's text/tabwriter does it for the docker CLI's tables and sections."""

from __future__ import annotations

from collections.abc import Sequence


def tabwrite(lines: Sequence[str], minwidth: int, padding: int) -> list[str]:
    """Align tab-terminated cells in columns; a column spans consecutive lines that have it.

    As Go's tabwriter: a cell's column is as wide as its widest cell plus `padding`, at least
    `minwidth`; the last cell of a line (not followed by a tab) is not padded.
    """
    rows = [line.split("\t") for line in lines]
    widths: list[list[int]] = [[] for _ in rows]

    def layout(first: int, last: int, column_widths: list[int]) -> None:
        column = len(column_widths)
        line = first
        while line < last:
            if len(rows[line]) - 1 <= column:
                widths[line] = column_widths
                line += 1
                continue
            end = line
            width = minwidth
            while end < last and len(rows[end]) - 1 > column:
                width = max(width, len(rows[end][column]) + padding)
                end += 1
            layout(line, end, [*column_widths, width])
            line = end

    layout(0, len(rows), [])
    out = []
    for cells, cell_widths in zip(rows, widths, strict=True):
        padded = [cell.ljust(cell_widths[i]) for i, cell in enumerate(cells[:-1])]
        out.append("".join(padded) + cells[-1])
    return out
