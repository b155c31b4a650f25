"""Runs every benchmark, prints one table, writes `results.json` and `RESULTS.md`.

python -m benchmarks                       # everything, 15 alternating runs each
python -m benchmarks --only cold_start,bundle --runs 20
python -m benchmarks --before none         # skip the before-the-speed-ups variant
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import (
    batch_latency,
    before,
    bundle,
    client_overhead,
    cold_start,
    end_to_end,
    fan_out,
    fan_out_policy,
    machine,
    report,
    services,
    speedups,
)
from benchmarks.stats import MIN_RUNS
from benchmarks.worker import run_worker

HERE = Path(__file__).resolve().parent
ALL = (
    "cold_start",
    "speedups",
    "batch_latency",
    "client_overhead",
    "fan_out",
    "fan_out_policy",
    "csv_send",
    "bundle",
    "end_to_end",
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument(
        "--runs", type=int, default=MIN_RUNS, help=f"alternating runs (default {MIN_RUNS})"
    )
    parser.add_argument("--only", default=",".join(ALL), help="comma-separated benchmarks")
    parser.add_argument(
        "--before",
        default=before.DEFAULT_REF,
        help="git ref of the code before the speed-ups, measured alongside ('none': skip)",
    )
    parser.add_argument("--out", type=Path, default=HERE, help="where to write the results")
    parser.add_argument(
        "--render",
        action="store_true",
        help="measure nothing: rewrite RESULTS.md from the results.json in --out",
    )
    parser.add_argument(
        "--explore",
        action="store_true",
        help="also measure experiments behind the suggestions (fan-out: serial validation)",
    )
    return parser.parse_args(argv)


def _log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def main(argv: list[str]) -> int:
    """Run, print, write."""
    args = parse_args(argv)
    if args.render:
        stored = json.loads((args.out / "results.json").read_text())
        table = report.rows(stored)
        print(report.text_table(table))
        (args.out / "RESULTS.md").write_text(report.markdown(stored, table))
        return 0
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(wanted) - set(ALL))
    if unknown:
        print(f"unknown benchmarks: {', '.join(unknown)}", file=sys.stderr)
        return 2
    if args.runs < MIN_RUNS:
        _log(f"--runs {args.runs} is below {MIN_RUNS}: the figures are marked as a trial")
    started = time.perf_counter()
    results: dict[str, Any] = {
        "machine": machine.describe(),
        "runs": args.runs,
        "trial": args.runs < MIN_RUNS,
        "benchmarks": {},
    }
    found = results["benchmarks"]
    if "bundle" in wanted:
        _log("bundle: building the function's asset as cdk synth does")
        found["bundle"] = bundle.run()
    with (
        tempfile.TemporaryDirectory(prefix="bench-") as scratch,
        services.running(Path(scratch) / "logs") as running,
    ):
        steps: dict[str, Callable[[], dict[str, Any]]] = {
            "cold_start": lambda: cold_start.run(
                running, args.runs, _before_tree(args.before, Path(scratch)), _log
            ),
            "speedups": lambda: speedups.run(running, args.runs),
            "batch_latency": lambda: batch_latency.run(running, args.runs),
            "client_overhead": lambda: client_overhead.run(running, args.runs),
            "fan_out": lambda: fan_out.run(running, args.runs, args.explore),
            "fan_out_policy": lambda: fan_out_policy.run(running, args.runs),
        }
        for name, step in steps.items():
            if name in wanted:
                _log(f"{name}: {args.runs} alternating runs")
                found[name] = step()
    if "csv_send" in wanted:
        _log("csv_send: smsgw send --csv of 100,000 rows, prepared (nothing sent)")
        found["csv_send"] = run_worker("csv_send", args.runs, None)
    if "end_to_end" in wanted:
        # After the stand-ins above have stopped: make local starts its own.
        _log("end_to_end: the load run through make local, by-hand rounds around it")
        found["end_to_end"] = end_to_end.run(args.runs)
        if "load" in found["end_to_end"]:
            _log(found["end_to_end"]["load"]["summary"])
    load = found.get("end_to_end", {}).get("load")
    results["machine"]["load_average_after"] = machine.describe()["load_average"]
    results["duration_s"] = round(time.perf_counter() - started, 1)
    rows = report.rows(results)
    print(report.text_table(rows))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "RESULTS.md").write_text(report.markdown(results, rows))
    _log(f"done in {results['duration_s']} s: {args.out / 'RESULTS.md'}, results.json")
    if load and not load["holds"]:
        _log("the load run broke the contract (lost, duplicated or parked without a reason)")
        return 1
    return 0


def _before_tree(ref: str, scratch: Path) -> Path | None:
    if ref.lower() == "none":
        return None
    tree = before.build_tree(ref, scratch / "before")
    if tree is None:
        _log(f"before: {ref} is not in this clone's history; skipped")
    return tree
