"""A progress bar on stderr for long jobs: redrawn in place on a terminal, a plain line per
100 items otherwise (CI logs and pipes get no escape codes)."""

from __future__ import annotations

import sys
import time
from typing import Final, TextIO

BAR_WIDTH: Final = 30
LINE_EVERY: Final = 100
# Redrawing more often than this costs more than it shows.
_REDRAW_S: Final = 0.1


class Progress:
    """Counts done items out of an estimated `total` (None: unknown)."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        stream: TextIO | None = None,
        tty: bool | None = None,
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty() if tty is None else tty
        self._drawn_at = 0.0
        self._drawn = False

    def advance(self, count: int = 1) -> None:
        """Record `count` more items done."""
        before = self.done
        self.done += count
        if self._tty:
            now = time.monotonic()
            if now - self._drawn_at >= _REDRAW_S:
                self._drawn_at = now
                self._draw()
        elif self.done // LINE_EVERY > before // LINE_EVERY:
            self._stream.write(f"{self.label}: {self._count()}\n")
            self._stream.flush()

    def close(self) -> None:
        """Draw the final state and leave the line (only if a bar was drawn)."""
        if self._tty and self._drawn:
            self._draw()
            self._stream.write("\n")
            self._stream.flush()

    def render(self) -> str:
        """The bar as text: `label [#####-----] 120/1000`."""
        total = self._total()
        if total is None:
            return f"{self.label} {self._count()}"
        filled = BAR_WIDTH * self.done // total if total else BAR_WIDTH
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        return f"{self.label} [{bar}] {self._count()}"

    def _total(self) -> int | None:
        # The total is an estimate (SQS counts are approximate): never show more than 100 %.
        return None if self.total is None else max(self.total, self.done)

    def _count(self) -> str:
        total = self._total()
        return str(self.done) if total is None else f"{self.done}/{total}"

    def _draw(self) -> None:
        self._drawn = True
        self._stream.write("\r" + self.render())
        self._stream.flush()
