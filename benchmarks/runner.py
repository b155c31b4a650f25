"""Runs every benchmark, prints one table, writes `results.json` and `RESULTS.md`.

python -m benchmarks                       # everything, 15 alternating runs each
python -m benchmarks --only cold_start,bundle --runs 20
python -m benchmarks --before b27b0e2      # also the code before the speed-ups

Each step's wall time is recorded beside the figures (`durations_s`): `make bench` must stay
under ten minutes, and the table of durations shows where they go.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

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
from benchmarks.pip_install import pip_install
from benchmarks.stats import MIN_RUNS
from benchmarks.worker import run_worker

HERE: Final = Path(__file__).resolve().parent
ALL: Final = (
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
# The benchmarks that talk to the stand-ins (moto, the sandbox) the runner starts.
_ON_SERVICES: Final = frozenset(ALL) - {"csv_send", "bundle", "end_to_end"}
# The last full-size record of the protection fan-out (`make bench-policy-full`), shown
# beside the size `make bench` measures.
POLICY_FULL_RECORD: Final = HERE / "fan_out_policy_full.json"
POLICY_FULL_COMMAND: Final = (
    f"BENCH_POLICY_NUMBERS={fan_out_policy.FULL_NUMBERS} python -m benchmarks --only fan_out_policy"
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
        default="none",
        help="git ref of the code before the speed-ups, measured alongside the cold start "
        f"(default none: skipped; the speed-ups started from {before.DEFAULT_REF})",
    )
    parser.add_argument("--out", type=Path, default=HERE, help="where to write the results")
    parser.add_argument(
        "--requirements",
        type=Path,
        help="pip install this requirements file (with constraints.txt) first, timed with "
        "the run (make bench: requirements-bench.txt)",
    )
    parser.add_argument(
        "--render",
        action="store_true",
        help="measure nothing: rewrite RESULTS.md from the results.json in --out",
    )
    parser.add_argument(
        "--record-policy-full",
        type=Path,
        metavar="RESULTS_JSON",
        help=f"measure nothing: keep the full-size fan_out_policy of RESULTS_JSON in "
        f"{POLICY_FULL_RECORD.name} (make bench-policy-full)",
    )
    return parser.parse_args(argv)


def _log(text: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


class Durations:
    """Each step's wall time, in seconds, in the order the steps ran."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        """Time the block as `name`."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = round(time.perf_counter() - started, 1)


def main(argv: list[str]) -> int:
    """Run, print, write."""
    args = parse_args(argv)
    if args.render:
        stored = json.loads((args.out / "results.json").read_text())
        _print_tables(stored)
        (args.out / "RESULTS.md").write_text(report.markdown(stored, report.rows(stored)))
        return 0
    if args.record_policy_full:
        return record_policy_full(args.record_policy_full, POLICY_FULL_RECORD)
    wanted = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = sorted(set(wanted) - set(ALL))
    if unknown:
        print(f"unknown benchmarks: {', '.join(unknown)}", file=sys.stderr)
        return 2
    if args.runs < MIN_RUNS:
        _log(f"--runs {args.runs} is below {MIN_RUNS}: the figures are marked as a trial")
    started = time.perf_counter()
    durations = Durations()
    if args.requirements:
        with durations.step("install"):
            _pip_install(args.requirements)
    results: dict[str, Any] = {
        "machine": machine.describe(),
        "runs": args.runs,
        "trial": args.runs < MIN_RUNS,
        "benchmarks": _measure(args, wanted, durations),
    }
    _add_policy_full_record(results["benchmarks"])
    results["machine"]["load_average_after"] = machine.describe()["load_average"]
    results["duration_s"] = round(time.perf_counter() - started, 1)
    results["durations_s"] = durations.seconds
    _print_tables(results)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "RESULTS.md").write_text(report.markdown(results, report.rows(results)))
    _log(f"done in {results['duration_s']} s: {args.out / 'RESULTS.md'}, results.json")
    load = results["benchmarks"].get("end_to_end", {}).get("load")
    if load and not load["holds"]:
        _log("the load run broke the contract (lost, duplicated or parked without a reason)")
        return 1
    return 0


def _measure(args: argparse.Namespace, wanted: list[str], durations: Durations) -> dict[str, Any]:
    """Every wanted benchmark's results, each timed."""
    found: dict[str, Any] = {}
    if "bundle" in wanted:
        _log("bundle: building the function's asset as cdk synth does")
        with durations.step("bundle"):
            found["bundle"] = bundle.run()
    if _ON_SERVICES.intersection(wanted):
        found |= _measure_on_services(args, wanted, durations)
    if "csv_send" in wanted:
        _log("csv_send: smsgw send --csv of 100,000 rows, prepared (nothing sent)")
        with durations.step("csv_send"):
            found["csv_send"] = run_worker("csv_send", args.runs, None)
    if "end_to_end" in wanted:
        # After the stand-ins above have stopped: make local starts its own.
        _log(f"end_to_end: {end_to_end.MESSAGES:,} messages through make local, by hand around")
        with durations.step("end_to_end"):
            found["end_to_end"] = end_to_end.run(args.runs)
        if "load" in found["end_to_end"]:
            _log(found["end_to_end"]["load"]["summary"])
    return found


def _measure_on_services(
    args: argparse.Namespace, wanted: list[str], durations: Durations
) -> dict[str, Any]:
    """The benchmarks that need the stand-ins, with the stand-ins started (timed too)."""
    found: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch, contextlib.ExitStack() as stack:
        with durations.step("services"):
            running = stack.enter_context(services.running(Path(scratch) / "logs"))
        steps: dict[str, Callable[[], dict[str, Any]]] = {
            "cold_start": lambda: cold_start.run(
                running, args.runs, _before_tree(args.before, Path(scratch)), _log
            ),
            "speedups": lambda: speedups.run(running, args.runs),
            "batch_latency": lambda: batch_latency.run(running, args.runs),
            "client_overhead": lambda: client_overhead.run(running, args.runs),
            "fan_out": lambda: fan_out.run(running, args.runs),
            "fan_out_policy": lambda: fan_out_policy.run(running, args.runs),
        }
        for name, step in steps.items():
            if name in wanted:
                _log(f"{name}: {args.runs} alternating runs")
                with durations.step(name):
                    found[name] = step()
    return found


def _pip_install(requirements: Path) -> None:
    _log(f"install: {requirements}")
    pip_install("-r", str(requirements))


def _print_tables(results: dict[str, Any]) -> None:
    print(report.text_table(report.rows(results)))
    if results.get("durations_s"):
        print()
        print(report.durations_text(results))


def _add_policy_full_record(found: dict[str, Any]) -> None:
    """The last full-size record beside a smaller fan_out_policy measured now."""
    policy = found.get("fan_out_policy")
    if policy is None or policy["numbers"] >= fan_out_policy.FULL_NUMBERS:
        return
    if POLICY_FULL_RECORD.exists():
        policy["full_size"] = json.loads(POLICY_FULL_RECORD.read_text())


def record_policy_full(results_path: Path, destination: Path) -> int:
    """Keep the fan_out_policy of a full-size run (its results.json) as the record, with
    when, on what code and by which command it was measured."""
    results = json.loads(results_path.read_text())
    policy = results["benchmarks"].get("fan_out_policy")
    if policy is None or policy["numbers"] < fan_out_policy.FULL_NUMBERS:
        print(f"{results_path}: no full-size fan_out_policy in it", file=sys.stderr)
        return 2
    found = results["machine"]
    record = {
        "recorded": {
            "date_utc": found["date_utc"],
            "commit": found["commit"],
            "uncommitted_changes": found["uncommitted_changes"],
            "command": POLICY_FULL_COMMAND,
            "duration_s": results["duration_s"],
            "trial": results["trial"],
            "load_average": found["load_average"],
            "load_average_after": found.get("load_average_after"),
        },
        **{key: value for key, value in policy.items() if key != "full_size"},
    }
    destination.write_text(json.dumps(record, indent=2) + "\n")
    _log(f"{destination}: {policy['numbers']:,} numbers, recorded {found['date_utc']}")
    return 0


def _before_tree(ref: str, scratch: Path) -> Path | None:
    if ref.lower() == "none":
        return None
    tree = before.build_tree(ref, scratch / "before")
    if tree is None:
        _log(f"before: {ref} is not in this clone's history; skipped")
    return tree
