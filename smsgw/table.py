"""Plain-text tables for a terminal: left-aligned columns, a header, no borders."""

from __future__ import annotations

from collections.abc import Sequence

_GAP = "  "


def render(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The table as lines; the last column is not padded (it is often long free text)."""
    widths = [len(h) for h in headers]
    for row in rows:
        for index, cell in enumerate(row):
            widths[index] = max(widths[index], len(cell))

    def line(cells: Sequence[str]) -> str:
        padded = [cell.ljust(widths[i]) for i, cell in enumerate(cells[:-1])]
        return _GAP.join([*padded, cells[-1]]).rstrip()

    return "\n".join([line(headers), *(line(row) for row in rows)])


def shorten(text: str, limit: int) -> str:
    """`text` on one line, cut to `limit` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
