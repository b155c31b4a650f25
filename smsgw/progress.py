"""A progress bar on stderr for long jobs: tqdm's bar on a terminal, a plain line per 100
items otherwise (CI logs and pipes get no escape codes and no carriage returns, which is
what tqdm would write there)."""

from __future__ import annotations

import sys
from typing import Any, Final, TextIO

from tqdm import tqdm

LINE_EVERY: Final = 100
# The bar appears only for a job that outlasts this: an instant one leaves no trace.
BAR_DELAY_S: Final = 0.5
# Redrawing more often than this costs more than it shows.
REDRAW_S: Final = 0.1


class Progress:
    """Counts done items out of an estimated `total` (None: unknown)."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        stream: TextIO | None = None,
        tty: bool | None = None,
        unit: str = "it",
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self._stream = stream or sys.stderr
        on_terminal = self._stream.isatty() if tty is None else tty
        self._bar: tqdm[Any] | None = (
            tqdm(
                total=total,
                desc=label,
                unit=unit,
                file=self._stream,
                delay=BAR_DELAY_S,
                mininterval=REDRAW_S,
                dynamic_ncols=True,
            )
            if on_terminal
            else None
        )

    def advance(self, count: int = 1) -> None:
        """Record `count` more items done."""
        before = self.done
        self.done += count
        if self.total is not None and self.done > self.total:
            # The total was an estimate (SQS counts are approximate): never show over 100 %.
            self.total = self.done
            if self._bar is not None:
                self._bar.total = self.done
        if self._bar is not None:
            self._bar.update(count)
        elif self.done // LINE_EVERY > before // LINE_EVERY:
            self._stream.write(f"{self.label}: {self._count()}\n")
            self._stream.flush()

    def close(self) -> None:
        """Draw the final state and leave the line (a bar that never showed stays hidden)."""
        if self._bar is not None:
            self._bar.close()

    def _count(self) -> str:
        return str(self.done) if self.total is None else f"{self.done}/{self.total}"
