"""The redrive's progress bar: redrawn in place on a terminal, a line per 100 elsewhere."""

from __future__ import annotations

import io

from smsgw.progress import BAR_WIDTH, Progress


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


def test_a_terminal_gets_one_bar_redrawn_in_place() -> None:
    stream = io.StringIO()
    progress = Progress("redriving", 1000, stream, tty=True)

    for _ in range(100):
        progress.advance(10)
    progress.close()

    text = stream.getvalue()
    assert text.startswith("\rredriving [")
    assert text.endswith(f"\rredriving [{'#' * BAR_WIDTH}] 1000/1000\n")
    assert text.count("\n") == 1
    # Redraws are throttled: a fast loop does not write 100 frames.
    assert text.count("\r") < 10


def test_the_bar_never_shows_more_than_all() -> None:
    progress = Progress("redriving", 10, io.StringIO(), tty=True)
    progress.advance(5)
    assert progress.render() == f"redriving [{'#' * (BAR_WIDTH // 2)}{'-' * (BAR_WIDTH // 2)}] 5/10"

    progress.advance(10)  # SQS's count was an estimate
    assert progress.render() == f"redriving [{'#' * BAR_WIDTH}] 15/15"


def test_nothing_is_drawn_for_an_empty_job() -> None:
    stream = io.StringIO()
    Progress("redriving", 0, stream, tty=True).close()
    assert stream.getvalue() == ""
