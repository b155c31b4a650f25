"""The CLI's progress bar: tqdm's bar redrawn in place on a terminal, a line per 100 items
elsewhere (no escape codes or carriage returns in logs)."""

from __future__ import annotations

import io
import time

import pytest

from smsgw import progress as progress_module
from smsgw.progress import Progress


def test_not_a_terminal_gets_a_line_per_hundred() -> None:
    stream = io.StringIO()
    progress = Progress("redriving", 250, stream, tty=False)

    for _ in range(250):
        progress.advance()
    progress.close()

    assert stream.getvalue() == "redriving: 100/250\nredriving: 200/250\n"


def test_a_line_is_written_when_a_batch_crosses_a_hundred() -> None:
    stream = io.StringIO()
    progress = Progress("redriving", None, stream, tty=False)

    for _ in range(11):
        progress.advance(10)

    assert stream.getvalue() == "redriving: 100\n"


def test_a_terminal_gets_one_bar_redrawn_in_place(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "BAR_DELAY_S", 0)
    stream = io.StringIO()
    progress = Progress("redriving", 1000, stream, tty=True, unit="msg")

    for _ in range(100):
        progress.advance(10)
    progress.close()

    text = stream.getvalue()
    assert text.startswith("\rredriving:")
    final = text.rstrip("\n").rsplit("\r", 1)[-1]
    assert final.startswith("redriving: 100%|")
    assert "1000/1000" in final
    assert "msg" in final
    assert text.count("\n") == 1
    # Redraws are throttled: a fast loop does not write 100 frames.
    assert text.count("\r") < 10


def test_the_bar_never_shows_more_than_all(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "BAR_DELAY_S", 0)
    stream = io.StringIO()
    progress = Progress("redriving", 10, stream, tty=True)

    progress.advance(5)
    progress.advance(10)  # SQS's count was an estimate
    progress.close()

    final = stream.getvalue().rstrip("\n").rsplit("\r", 1)[-1]
    assert "15/15" in final
    assert "100%" in final


def test_nothing_is_drawn_for_a_job_quicker_than_the_delay() -> None:
    stream = io.StringIO()
    progress = Progress("redriving", 0, stream, tty=True)
    progress.close()

    quick = Progress("sending", 5, stream, tty=True)
    quick.advance(5)
    quick.close()

    assert stream.getvalue() == ""


def test_a_job_that_outlasts_the_delay_shows_its_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_module, "BAR_DELAY_S", 0.05)
    stream = io.StringIO()
    progress = Progress("sending", 3, stream, tty=True)

    for _ in range(3):
        time.sleep(0.04)
        progress.advance()
    progress.close()

    assert "3/3" in stream.getvalue()
