"""Plain-text tables for a terminal (tabulate's `plain` format): left-aligned columns, a
header, no borders, so that `grep` and `cut` work on what the CLI prints."""

from __future__ import annotations

from collections.abc import Sequence

from tabulate import tabulate


def render(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The table as lines. Cells stay text (an id of digits is not right-aligned as a
    number), and no line ends in padding."""
    text = tabulate(
        [list(row) for row in rows],
        headers=list(headers),
        tablefmt="plain",
        disable_numparse=True,
        stralign="left",
    )
    return "\n".join(line.rstrip() for line in text.splitlines())


def shorten(text: str, limit: int) -> str:
    """`text` on one line, cut to `limit` characters with an ellipsis."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
