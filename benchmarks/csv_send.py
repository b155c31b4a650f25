"""How fast `smsgw send --csv` gets a file ready to send, and in how much memory.

`measure_csv_send(rows)` writes a CSV of `rows` recipients (a number, a UserId and two
template parameters each) in a temporary folder and runs the command's own path over it —
reading, checking every row with the gateway's model, grouping into messages of 1,000 and
making their keys, in both of the command's passes — with the sending replaced by a sink
that sends nothing (the `open_sink` seam of `smsgw.csv_send.send_file`; no network).

Two runs: one timed (seconds, rows per second), one under tracemalloc for the peak memory:
the most the Python heap held above what it held before the run (tracemalloc's peak;
tracemalloc slows allocation-heavy code, hence the separate timed run). The process's RSS
(resource.getrusage) would count the interpreter and every module loaded too, and never
goes down, so it could not show that the file is streamed: the peak stays about one
message's rows whatever the file's size.

In `make bench` (`measure`): the command's path against a baseline measured in the same
rounds — the same file read with `csv.DictReader` and cut into the same `Recipients`
messages by hand, with no checks and no keys: what any script would do at the least. Alone:
`.venv/bin/python -c "from benchmarks.csv_send import measure_csv_send; print(measure_csv_send())"`.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any, Final

from smsgw.csv_send import Options, Report, send_file
from smsgw.doors import Outcome, Sink

TEMPLATE_ID: Final = "UTA2211ABCDEF"
_MIB: Final = 1024 * 1024


def write_rows(path: Path, rows: int) -> None:
    """A recipients file: distinct valid numbers (mainland mobile), each with its own code."""
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["PhoneNumber", "UserId", "Name", "Code"])
        for index in range(rows):
            writer.writerow(
                [f"+86138{index:08d}", f"user-{index}", f"Name {index}", f"{index % 10**6:06d}"]
            )


def _no_sink() -> Sink:
    def accept(message: dict[str, Any], key: str | None) -> Outcome:
        return Outcome(True, message_id="not-sent")

    return accept


def _prepare(path: Path) -> Report:
    return send_file(path, Options(TEMPLATE_ID), _no_sink, progress_stream=io.StringIO())


def measure_csv_send(rows: int = 100_000) -> dict[str, Any]:
    """`{"rows", "seconds", "rows_per_second", "peak_memory_mib"}` for a file of `rows`."""
    with tempfile.TemporaryDirectory(prefix="csv-send-") as folder:
        path = Path(folder) / "recipients.csv"
        write_rows(path, rows)
        started = time.perf_counter()
        report = _prepare(path)
        seconds = time.perf_counter() - started
        if report.rows != rows:
            raise RuntimeError(f"prepared {report.rows} rows of {rows}")
        tracemalloc.start()
        try:
            _prepare(path)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return {
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds),
        "peak_memory_mib": round(peak / _MIB, 2),
    }


# Rounds of 100,000 rows each: a few are enough for a figure that is reported, not a goal.
ROUNDS: Final = 3
ROWS: Final = 100_000
_GROUP: Final = 1_000


def _by_hand(path: Path) -> int:
    """The baseline: read and group, nothing else."""
    messages = 0
    with path.open(encoding="utf-8", newline="") as stream:
        group: list[dict[str, Any]] = []
        for row in csv.DictReader(stream):
            params = [value for name, value in row.items() if name not in ("PhoneNumber", "UserId")]
            group.append(
                {
                    "PhoneNumber": row["PhoneNumber"],
                    "UserId": row["UserId"],
                    "TemplateParams": params,
                }
            )
            if len(group) == _GROUP:
                json.dumps({"TemplateId": TEMPLATE_ID, "Recipients": group})
                messages, group = messages + 1, []
    return messages


def measure(runs: int) -> dict[str, Any]:
    """The worker's half (`make bench`): the command and the baseline, alternated, and the
    command's peak memory."""
    from benchmarks.stats import Summary, alternate, paired_ratios

    with tempfile.TemporaryDirectory(prefix="csv-send-") as folder:
        path = Path(folder) / "recipients.csv"
        write_rows(path, ROWS)

        def timed(run: Any) -> float:
            started = time.perf_counter()
            run(path)
            return time.perf_counter() - started

        samples = alternate(
            {"csv_send": lambda: timed(_prepare), "by_hand": lambda: timed(_by_hand)},
            min(runs, ROUNDS),
        )
        memory = measure_csv_send(ROWS)
    return {
        "rows": ROWS,
        "seconds": {name: Summary.of(values).as_json() for name, values in samples.items()},
        "ratios": {
            "csv_send/by_hand": Summary.of(
                paired_ratios(samples["csv_send"], samples["by_hand"])
            ).as_json()
        },
        "peak_memory_mib": memory["peak_memory_mib"],
    }


if __name__ == "__main__":
    print(measure_csv_send())
