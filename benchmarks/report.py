"""The table printed by `make bench`, and `RESULTS.md` written from the same figures.

The text lives in `benchmarks/templates/RESULTS.md.tmpl`, in named blocks with `$name`
placeholders (`string.Template`). This module only computes the figures from the results,
as strings, and fills them in; a new run cannot leave the text quoting numbers that are gone,
and a placeholder without a figure stops the rendering (`Template.substitute`).

Each benchmark's results become one or more *kinds* of figures (`_figures`): the kind picks
the table rows (`ROWS`), the goal line (`goal_<kind>` block) and the section's text. A goal
not met brings its `why_<kind>` block into the goal line: what limits the figure and what
was tried, worded from the figures so that it stays true when they move.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any, Final

from benchmarks import before, fan_out, fan_out_policy, speedups
from benchmarks.stats import MIN_RUNS
from smsgw.table import render as table_render

GOAL_COLD_START = 1.3
GOAL_BATCH = 1.2
GOAL_CLIENT = 2.0
GOAL_FAN_OUT = 1.3
GOAL_PROTECTION = 1.1
# `make bench` in a fresh clone: under ten minutes.
BUDGET_S = 600
PYDANTIC_AND_MODEL = (
    "pydantic",
    "pydantic_core",
    "annotated_types",
    "typing_inspection",
    "sms_gateway.model",  # the model's one module, in results measured before the split
    "sms_gateway.message_input",
    "sms_gateway.input_fields",
    "sms_gateway.validation_errors",
    "sms_gateway.message",
    "phonenumbers",
    "sms_gateway.phone",
)
TEMPLATE_FILE: Final = Path(__file__).resolve().parent / "templates" / "RESULTS.md.tmpl"
_BLOCK: Final = re.compile(r"^=== (\w+) ===$", re.MULTILINE)

Figures = dict[str, str]


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    number: str
    benchmark: str
    subject: str
    baseline: str
    ratio: str
    goal: str = "—"
    met: str = "—"


@dataclass(frozen=True)
class RowSpec:
    """One line of the table as templates over a kind's figures; left out without `needs`."""

    number: str
    benchmark: str
    subject: str
    baseline: str
    ratio: str
    goal: str = "—"
    met: str = "—"
    needs: str = ""

    def render(self, figures: Mapping[str, str]) -> Row | None:
        """The row, or None when a figure it needs is absent."""
        if self.needs and self.needs not in figures:
            return None
        cells = (self.benchmark, self.subject, self.baseline, self.ratio, self.goal, self.met)
        return Row(self.number, *(Template(cell).substitute(figures) for cell in cells))


_ONE_CALL: Final = "one call: $one_call"
ROWS: Final[Mapping[str, tuple[RowSpec, ...]]] = {
    "cold_start": (
        RowSpec(
            "1",
            "cold start, import + first SQS message (Python $python)",
            "$total",
            "by hand: $bare_total",
            "$ratio_total",
            "≤ ${goal}×",
            "$met",
        ),
        RowSpec(
            "1",
            "  whole process, spawn to exit (Python $python)",
            "$wall",
            "by hand: $bare_wall",
            "$ratio_wall",
        ),
        RowSpec(
            "1",
            "  import alone (Python $python)",
            "$import",
            "boto3 + urllib3: $bare_import",
            "$ratio_import",
        ),
        RowSpec(
            "1",
            "  now vs before the speed-ups (Python $python)",
            "$total",
            "before: $before_total",
            "$ratio_before_total",
            needs="before_total",
        ),
    ),
    "cold_start_traced": (
        RowSpec(
            "1",
            "cold start, tracing on as deployed (Python $python)",
            "$total",
            "by hand: $bare_total",
            "$ratio_total",
            "reported",
        ),
        RowSpec(
            "1", "  tracing on ÷ off (Python $python)", "$total", "off: $off_total", "$ratio_off"
        ),
    ),
    "cold_start_core": (
        RowSpec(
            "1",
            "cold start, protection and delivery events off (Python $python)",
            "$total",
            "by hand: $bare_total",
            "$ratio_total",
            "reported",
        ),
        RowSpec(
            "1",
            "  as deployed ÷ protection and events off (Python $python)",
            "$deployed_total",
            "off: $total",
            "$ratio_deployed",
        ),
    ),
    "batch_latency": (
        RowSpec(
            "2",
            "batch of 10 records, provider at 200 ms",
            "$batch10",
            _ONE_CALL,
            "$ratio_batch10",
            "≤ ${goal}×",
            "$met",
        ),
        RowSpec(
            "2",
            "  the same, idempotency off",
            "$batch10_no_idempotency",
            _ONE_CALL,
            "$ratio_batch10_no_idempotency",
        ),
        RowSpec(
            "2",
            "  the same, protection off (policy on ÷ off)",
            "$batch10_policy_off",
            "$batch10",
            "$ratio_protection",
            "≤ ${protection_goal}×",
            "$protection_met",
            needs="batch10_policy_off",
        ),
        RowSpec(
            "2",
            "  the same, delivery events off (events on ÷ off)",
            "$batch10_events_off",
            "$batch10",
            "$ratio_events",
            needs="batch10_events_off",
        ),
        RowSpec(
            "2",
            "  10 claimed sends by hand (DynamoDB stand-in's floor)",
            "$by_hand10",
            _ONE_CALL,
            "$ratio_by_hand10",
        ),
        RowSpec("2", "  batch of 1 record", "$batch1", _ONE_CALL, "$ratio_batch1"),
    ),
    "client_overhead": (
        RowSpec(
            "3",
            "client, calls/s over $sends sends",
            "${ours_rate}/s",
            "SDK $sdk_version: ${sdk_rate}/s",
            "$ratio_rate",
            "≥ ${goal}×",
            "$met",
        ),
        RowSpec(
            "3",
            "  the same, SDK logging at WARNING",
            "${ours_rate}/s",
            "SDK: ${sdk_quiet_rate}/s",
            "$ratio_quiet_rate",
        ),
        RowSpec(
            "3",
            "  client CPU per call (SDK ÷ ours)",
            "$ours_cpu ms",
            "SDK: $sdk_cpu ms",
            "$ratio_cpu",
        ),
    ),
    "client_overhead_not_run": (
        RowSpec("3", "client overhead", "—", "SDK not installed", "not run"),
    ),
    "fan_out": (
        RowSpec(
            "4",
            "fan-out, $calls calls ($messages messages × $numbers_per_message numbers)",
            "$gateway",
            "ideal: $measured_ideal measured, $ideal computed",
            "$ratio_gateway",
            "≤ ${goal}×",
            "$met",
        ),
        RowSpec(
            "4",
            "  validating 100,000 numbers alone (10 × one message; ÷ fan-out)",
            "$validation_only",
            "fan-out: $gateway",
            "$ratio_validation_only",
        ),
    ),
    "fan_out_policy": (
        RowSpec(
            "4",
            "  fan-out, $numbers numbers, policy on ÷ off ($rounds rounds; $updates counters each)",
            "$policy_on",
            "off: $policy_off",
            "$ratio_policy_on",
            "≤ ${goal}×",
            "$met",
        ),
        RowSpec(
            "4",
            "  the same counter updates by hand (DynamoDB stand-in's floor; ÷ off)",
            "$counter_updates_by_hand",
            "off: $policy_off",
            "$ratio_counter_updates_by_hand",
        ),
    ),
    "fan_out_policy_full": (
        RowSpec(
            "4",
            "  the same at $numbers numbers, recorded apart ($date, commit $commit; see 4)",
            "$policy_on",
            "off: $policy_off",
            "$ratio_policy_on",
            "≤ ${goal}×",
            "$met",
        ),
    ),
    "csv_send": (
        RowSpec(
            "7",
            "smsgw send --csv, $rows rows checked and grouped (peak heap $peak MiB)",
            "$csv_send ($rate rows/s)",
            "by hand, unchecked: $by_hand",
            "$ratio_csv_send",
            "reported",
            "—",
        ),
    ),
    "bundle": (
        RowSpec(
            "5", "bundle, zipped", "$zipped", "goal: $goal_zipped", "${ratio}×", "≤ 1×", "$met"
        ),
        RowSpec(
            "5", "  unzipped (of which .pyc)", "$unzipped", ".pyc: $pyc", "${pyc_ratio}× is .pyc"
        ),
    ),
    "end_to_end": (
        RowSpec(
            "6",
            "end to end through make local ($messages messages, $failure_rate provider failures)",
            "$rate msg/s",
            "by hand, one client: $by_hand msg/s",
            "$ratio",
            "every message once or parked with a reason",
            "$met",
        ),
    ),
    "end_to_end_not_measured": (
        RowSpec("6", "end to end through make local", "—", "—", "$status"),
    ),
}
# The table's order, and the goals' (the kinds with a `goal_<kind>` block).
TABLE_ORDER: Final = (
    "cold_start",
    "batch_latency",
    "client_overhead",
    "fan_out",
    "fan_out_policy",
    "bundle",
    "end_to_end",
    "csv_send",
)
GOALS_ORDER: Final = (
    "cold_start",
    "batch_latency",
    "client_overhead",
    "bundle",
    "fan_out",
    "fan_out_policy",
    "end_to_end",
    "csv_send",
)
GOAL_KINDS: Final = frozenset(
    {
        "cold_start",
        "cold_start_traced",
        "cold_start_import",
        "cold_start_core",
        "batch_latency",
        "client_overhead",
        "bundle",
        "fan_out",
        "fan_out_policy",
        "fan_out_policy_full",
        "end_to_end",
        "end_to_end_not_measured",
        "csv_send",
    }
)
_COLD_START_COLUMNS: Final = ("total_s", "import_s", "first_event_s", "wall_s")
HEADERS: Final = (
    "#",
    "benchmark",
    "figure (median)",
    "baseline (median)",
    "ratio (IQR)",
    "goal",
    "met",
)
DURATION_HEADERS: Final = ("step", "seconds", "share of the run")
# Steps that are not benchmarks (runner.Durations), by what they do.
_SETUP_STEPS: Final = {
    "install": "setup: bench requirements installed (pip)",
    "services": "setup: stand-ins started (moto, sandbox, resources)",
}


# --- The templates --------------------------------------------------------------------------


@functools.cache
def templates(path: Path = TEMPLATE_FILE) -> Mapping[str, Template]:
    """The named blocks of the template file (what comes before the first is a note)."""
    parts = _BLOCK.split(path.read_text(encoding="utf-8"))
    names, bodies = parts[1::2], parts[2::2]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: a block name is used twice")
    return {name: Template(body.strip("\n")) for name, body in zip(names, bodies, strict=True)}


def fill(block: str, figures: Mapping[str, str] | None = None, **more: str) -> str:
    """A block with its placeholders filled; a missing figure raises KeyError."""
    return templates()[block].substitute({**(figures or {}), **more})


# --- Formats --------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s"


def _mb(size: float) -> str:
    return f"{size / 1e6:.2f} MB"


def _x(summary: Mapping[str, Any]) -> str:
    return f"{summary['median']:.2f}× ({summary['p25']:.2f}–{summary['p75']:.2f})"


def _at_most(ratio: float, goal: float) -> str:
    margin = (ratio - goal) / goal
    return f"yes, {-margin:.0%} under" if ratio <= goal else f"no, {margin:.0%} over"


def _at_least(ratio: float, goal: float) -> str:
    margin = ratio / goal - 1
    return f"yes, {margin:.0%} above" if ratio >= goal else f"no, {-margin:.0%} short"


def _goal(goal: float) -> Figures:
    return {"goal": f"{goal}", "goal_g": f"{goal:g}"}


def _why(block: str, met: bool, figures: Mapping[str, str]) -> str:
    """What limits a figure and what was tried (`block`), when its goal is not met."""
    return "" if met else " " + fill(block, figures)


def _medians(
    seconds: Mapping[str, Any], ratios: Mapping[str, Any], unit: Callable[[float], str]
) -> Figures:
    """Each variant's median, and each ratio `a/b` as `ratio_a`."""
    figures = {name: unit(summary["median"]) for name, summary in seconds.items()}
    figures |= {f"ratio_{key.split('/')[0]}": _x(ratio) for key, ratio in ratios.items()}
    return figures


def _md_rows(lines: Iterable[Sequence[str]]) -> str:
    return "\n".join(
        "| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in lines
    )


def _md_table(headers: Sequence[str], lines: Iterable[Sequence[str]]) -> str:
    return "\n".join(
        ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers), _md_rows(lines)]
    )


# --- Figures, one benchmark at a time -------------------------------------------------------


def _labels(cold: Mapping[str, Any], subject: str = "gateway") -> list[str]:
    ratios = cold.get("ratios", {})
    return [label for label in ("", " (3.13)") if f"{subject}/bare{label}" in ratios]


def _cold_start_figures(cold: Mapping[str, Any], label: str) -> Figures:
    variants, ratios = cold["variants"], cold["ratios"]
    gateway, bare = variants[f"gateway{label}"], variants[f"bare{label}"]
    ratio = ratios[f"gateway/bare{label}"]
    figures = {
        "python": gateway["python"],
        "ratio": f"{ratio['total_s']['median']:.2f}",
        "met": _at_most(ratio["total_s"]["median"], GOAL_COLD_START),
        **_goal(GOAL_COLD_START),
    }
    figures["floor"] = f"{_import_floor(gateway, bare):.2f}"
    for key, name in (("total_s", "total"), ("wall_s", "wall"), ("import_s", "import")):
        figures[name] = _ms(gateway[key]["median"])
        figures[f"bare_{name}"] = _ms(bare[key]["median"])
        figures[f"ratio_{name}"] = _x(ratio[key])
    speedup = ratios.get(f"gateway/before{label}")
    if speedup:
        figures["before_total"] = _ms(variants[f"before{label}"]["total_s"]["median"])
        figures["ratio_before_total"] = _x(speedup["total_s"])
        figures["ratio_before_import"] = _x(speedup["import_s"])
    return figures


def _import_floor(gateway: Mapping[str, Any], bare: Mapping[str, Any]) -> float:
    """The cold start's ratio were everything after the handler's import no dearer than the
    by-hand job after its own: a lower bound, since the handler's import leaves boto3 for
    the first invocation where the by-hand import holds it."""
    median = {key: (gateway[key]["median"], bare[key]["median"]) for key in ("import_s", "total_s")}
    (import_s, bare_import_s), (_, bare_total_s) = median["import_s"], median["total_s"]
    return float((import_s + bare_total_s - bare_import_s) / bare_total_s)


def _traced_figures(cold: Mapping[str, Any], label: str) -> Figures:
    """Tracing on as deployed, against the by-hand job and against tracing off."""
    variants, ratios = cold["variants"], cold["ratios"]
    traced, gateway = variants[f"gateway_traced{label}"], variants[f"gateway{label}"]
    to_bare, to_off = (
        ratios[f"gateway_traced/bare{label}"],
        ratios[f"gateway_traced/gateway{label}"],
    )

    def added_ms(key: str) -> str:
        # The ratio's share above tracing off, in milliseconds of tracing off's median.
        return f"{(to_off[key]['median'] - 1) * gateway[key]['median'] * 1000:.0f}"

    return {
        "python": traced["python"],
        "total": _ms(traced["total_s"]["median"]),
        "bare_total": _ms(variants[f"bare{label}"]["total_s"]["median"]),
        "off_total": _ms(gateway["total_s"]["median"]),
        "ratio_total": _x(to_bare["total_s"]),
        "ratio_off": _x(to_off["total_s"]),
        "ratio": f"{to_bare['total_s']['median']:.2f}",
        "vs_off": f"{to_off['total_s']['median']:.2f}",
        "added_ms": added_ms("total_s"),
        "added_import_ms": added_ms("import_s"),
        "subsegments": f"{traced['subsegments']['median']:.0f}",
    }


def _core_figures(cold: Mapping[str, Any], label: str) -> Figures:
    """The core alone (protection and delivery events off), against the by-hand job, and
    what the as-deployed cold start adds to it."""
    variants, ratios = cold["variants"], cold["ratios"]
    core, deployed = variants[f"gateway_core{label}"], variants[f"gateway{label}"]
    to_bare, deployed_to_core = (
        ratios[f"gateway_core/bare{label}"],
        ratios[f"gateway/gateway_core{label}"],
    )
    return {
        "python": core["python"],
        "total": _ms(core["total_s"]["median"]),
        "first": _ms(core["first_event_s"]["median"]),
        "bare_total": _ms(variants[f"bare{label}"]["total_s"]["median"]),
        "deployed_total": _ms(deployed["total_s"]["median"]),
        "deployed_first": _ms(deployed["first_event_s"]["median"]),
        "ratio_total": _x(to_bare["total_s"]),
        "ratio_deployed": _x(deployed_to_core["total_s"]),
        "ratio": f"{to_bare['total_s']['median']:.2f}",
        "vs_core": f"{deployed_to_core['total_s']['median']:.2f}",
        "met": _at_most(to_bare["total_s"]["median"], GOAL_COLD_START),
    }


def _share(cold: Mapping[str, Any], key: str, names: tuple[str, ...]) -> tuple[float, float]:
    breakdown = cold["importtime"][key]
    picked = [row for row in breakdown["top"] if row["package"] in names]
    return sum(row["share"] for row in picked), sum(row["ms"] for row in picked)


def _import_share_figures(cold: Mapping[str, Any]) -> Figures:
    share, ms = _share(cold, "venv", PYDANTIC_AND_MODEL)
    powertools, powertools_ms = _share(cold, "venv", ("aws_lambda_powertools",))
    gateway = cold["variants"]["gateway"]["total_s"]["median"]
    bare = cold["variants"]["bare"]["total_s"]["median"]
    return {
        "share": f"{share:.0%}",
        "ms": f"{ms:.0f}",
        "without": f"{(gateway - ms / 1000) / bare:.2f}",
        "powertools": f"{powertools:.0%}",
        "powertools_ms": f"{powertools_ms:.0f}",
    }


def _cold_start_kinds(cold: Mapping[str, Any]) -> list[tuple[str, Figures]]:
    found = [("cold_start", _cold_start_figures(cold, label)) for label in _labels(cold)]
    if "venv" in cold.get("importtime", {}):
        found.append(("cold_start_import", _import_share_figures(cold)))
    found += [
        ("cold_start_traced", _traced_figures(cold, label))
        for label in _labels(cold, "gateway_traced")
    ]
    found += [
        ("cold_start_core", _core_figures(cold, label)) for label in _labels(cold, "gateway_core")
    ]
    return found


def _batch_figures(batch: Mapping[str, Any]) -> Figures:
    ratios = batch["ratios"]
    ratio = ratios["batch10/one_call"]["median"]
    by_hand = ratios["by_hand10/one_call"]["median"]
    # Only the ratios to one call name `ratio_<variant>`: an on ÷ off ratio has its own name
    # (`batch10/…` would otherwise overwrite the batch's own `ratio_batch10`).
    to_one_call = {key: value for key, value in ratios.items() if key.endswith("/one_call")}
    figures = {
        **_medians(batch["seconds"], to_one_call, _ms),
        **_goal(GOAL_BATCH),
        "ratio": f"{ratio:.2f}",
        "met": _at_most(ratio, GOAL_BATCH),
        "no_idempotency": f"{ratios['batch10_no_idempotency/one_call']['median']:.2f}",
        **_protection_figures(ratios),
        **_events_cost(ratios),
        "by_hand": f"{by_hand:.2f}",
        "stand_in": f"{(by_hand - 1) / (ratio - 1) if ratio > 1 else 0.0:.0%}",
    }
    return figures | {"why": _why("why_batch_latency", ratio <= GOAL_BATCH, figures)}


def _protection_figures(ratios: Mapping[str, Any]) -> Figures:
    """Protection's own cost (the batch with the policy on ÷ off), when it was measured."""
    on_off = ratios.get("batch10/batch10_policy_off")
    if on_off is None:
        return {"protection": ""}
    ratio = on_off["median"]
    figures = {
        "ratio_protection": f"{ratio:.2f}×",
        "protection_goal": f"{GOAL_PROTECTION}",
        "protection_met": _at_most(ratio, GOAL_PROTECTION),
    }
    return figures | {"protection": " " + fill("goal_batch_protection", figures)}


def _events_cost(ratios: Mapping[str, Any]) -> Figures:
    """Delivery events' cost on the send path (one receipt check queued a message)."""
    on_off = ratios.get("batch10/batch10_events_off")
    return {"ratio_events": _x(on_off)} if on_off is not None else {}


def _client_kinds(client: Mapping[str, Any]) -> list[tuple[str, Figures]]:
    ratios = client["ratios"]
    if "ours/sdk calls_per_s" not in ratios:
        return [("client_overhead_not_run", {})]
    rate, cpu = client["calls_per_s"], client["cpu_ms_per_call"]
    ratio = ratios["ours/sdk calls_per_s"]["median"]
    figures = {
        "sends": f"{client['sends_per_client']:,}",
        "sdk_version": client["sdk_version"],
        **{f"{name}_rate": f"{rate[name]['median']:.0f}" for name in rate},
        **{f"{name}_cpu": f"{cpu[name]['median']:.2f}" for name in cpu},
        "ratio_rate": _x(ratios["ours/sdk calls_per_s"]),
        "ratio_quiet_rate": _x(ratios["ours/sdk_quiet calls_per_s"]),
        "ratio_cpu": _x(ratios["sdk/ours cpu_per_call"]),
        **_goal(GOAL_CLIENT),
        "ratio": f"{ratio:.2f}",
        "met": _at_least(ratio, GOAL_CLIENT),
        "cpu": f"{ratios['sdk/ours cpu_per_call']['median']:.1f}",
    }
    figures["why"] = _why("why_client_overhead", ratio >= GOAL_CLIENT, figures)
    return [("client_overhead", figures)]


def _fan_out_figures(fan: Mapping[str, Any]) -> Figures:
    ratio = fan["ratios"]["gateway/measured_ideal"]["median"]
    validation = fan["seconds"]["validation_only"]["median"]
    figures = {
        **_medians(fan["seconds"], fan["ratios"], _s),
        **_goal(GOAL_FAN_OUT),
        "met": _at_most(ratio, GOAL_FAN_OUT),
        "calls": f"{fan['calls']}",
        "concurrency": f"{fan['concurrency']}",
        "ideal": _s(fan["ideal_s"]),
        "validation_share": f"{fan['ratios']['validation_only/gateway']['median']:.0%}",
        "validation_per_message": _s(validation / fan_out.MESSAGES),
        "messages": f"{fan_out.MESSAGES}",
        "numbers": f"{fan_out.MESSAGES * fan_out.NUMBERS_PER_MESSAGE:,}",
        "numbers_per_message": f"{fan_out.NUMBERS_PER_MESSAGE:,}",
        "numbers_per_call": f"{fan_out.NUMBERS_PER_CALL:,}",
    }
    return figures | {"why": _why("why_fan_out", ratio <= GOAL_FAN_OUT, figures)}


def _fan_out_policy_figures(fan: Mapping[str, Any]) -> Figures:
    ratio = fan["ratios"]["policy_on/policy_off"]["median"]
    floor = fan["ratios"]["counter_updates_by_hand/policy_off"]["median"]
    updates = fan["numbers"] * fan["updates_per_number"]
    figures = {
        **_medians(fan["seconds"], fan["ratios"], _s),
        **_goal(GOAL_PROTECTION),
        "ratio": f"{ratio:.2f}",
        "floor": f"{floor:.2f}",
        "floor_share": _share_of(floor - 1, ratio - 1),
        "update_ms": f"{fan['seconds']['counter_updates_by_hand']['median'] / updates * 1000:.1f}",
        "rounds": f"{fan['rounds']}",
        "numbers": f"{fan['numbers']:,}",
        "updates": f"{fan['updates_per_number']}",
        "met": _at_most(ratio, GOAL_PROTECTION),
    }
    return figures | {"why": _why("why_fan_out_policy", ratio <= GOAL_PROTECTION, figures)}


def _share_of(part: float, whole: float) -> str:
    """`part` as a share of `whole`; "all" when the part measured at least the whole (two
    figures from few rounds on a shared machine can cross)."""
    if whole <= 0:
        return "0%"
    return "all" if part >= whole else f"{max(part, 0.0) / whole:.0%}"


def _policy_full_figures(full: Mapping[str, Any]) -> Figures:
    """The last full-size record (`make bench-policy-full`), with when and how it was made."""
    recorded = full["recorded"]
    uncommitted = " " + fill("uncommitted") if recorded["uncommitted_changes"] else ""
    return {
        **_fan_out_policy_figures(full),
        "date": recorded["date_utc"],
        "commit": recorded["commit"],
        "uncommitted": uncommitted,
        "command": recorded["command"],
        "minutes": f"{recorded['duration_s'] / 60:.0f}",
    }


def _fan_out_policy_kinds(fan: Mapping[str, Any]) -> list[tuple[str, Figures]]:
    found = [("fan_out_policy", _fan_out_policy_figures(fan))]
    if "full_size" in fan:
        found.append(("fan_out_policy_full", _policy_full_figures(fan["full_size"])))
    return found


def _csv_send_figures(csv: Mapping[str, Any]) -> Figures:
    median = csv["seconds"]["csv_send"]["median"]
    return {
        **_medians(csv["seconds"], csv["ratios"], _s),
        "rows": f"{csv['rows']:,}",
        "rate": f"{csv['rows'] / median:,.0f}",
        "peak": f"{csv['peak_memory_mib']:.1f}",
    }


def _bundle_figures(size: Mapping[str, Any]) -> Figures:
    pyc_ratio = size["pyc_bytes"] / size["unzipped_bytes"]
    figures = {
        "zipped": _mb(size["zipped_bytes"]),
        "unzipped": _mb(size["unzipped_bytes"]),
        "pyc": _mb(size["pyc_bytes"]),
        "pyc_ratio": f"{pyc_ratio:.2f}",
        "pyc_share": f"{pyc_ratio:.0%}",
        "goal_zipped": _mb(size["goal_zipped_bytes"]),
        "goal_mb": f"{size['goal_zipped_bytes'] / 1e6:g} MB",
        "ratio": f"{size['zipped/goal']:.2f}",
        "met": _at_most(size["zipped/goal"], 1.0),
        "method": size["method"],
        "build_s": f"{size['build_s']}",
        "files": f"{size['files']:,}",
        "left_out": f"{len(size.get('left_out') or {})}",
    }
    return figures | {"why": _why("why_bundle", size["zipped/goal"] <= 1.0, figures)}


def _end_to_end_kinds(e2e: Mapping[str, Any]) -> list[tuple[str, Figures]]:
    if e2e["status"] != "measured":
        status = {"status": e2e["status"], "status_sentence": e2e["status"].capitalize()}
        return [("end_to_end_not_measured", {**status, "reason": e2e["reason"]})]
    load, by_hand = e2e["load"], e2e["by_hand_messages_per_s"]
    counts = ("parked", "parked_without_reason", "lost", "duplicated", "api_retries")
    thousands = ("messages", "sent", "provider_calls", "provider_failures")
    full_size = e2e.get("full_size_messages", load["messages"])
    figures = {
        **{name: f"{load[name]}" for name in counts},
        **{name: f"{load[name]:,}" for name in thousands},
        "parked_with_reason": f"{load['parked'] - load['parked_without_reason']}",
        "failure_rate": f"{load['failure_rate']:.0%}",
        "seconds": f"{load['seconds']:.0f}",
        "rate": f"{load['messages_per_s']:.0f}",
        "held": "held" if load["holds"] else "**broken**",
        "met": "yes" if load["holds"] else "NO",
        "by_hand": f"{by_hand['median']:.0f}",
        "by_hand_p25": f"{by_hand['p25']:.0f}",
        "by_hand_p75": f"{by_hand['p75']:.0f}",
        "by_hand_n": f"{by_hand['n']}",
        "baseline_per_round": f"{e2e['baseline_messages_per_round']:,}",
        "ratio": _x(e2e["ratios"]["make_local/by_hand"]),
        "full_size": f"{full_size:,}",
    }
    smaller = full_size > load["messages"]
    figures["size"] = " " + fill("end_to_end_size", figures) if smaller else ""
    figures["size_note"] = " " + fill("end_to_end_size_note", figures) if smaller else ""
    return [("end_to_end", figures)]


_KINDS: Final[Mapping[str, Callable[[Mapping[str, Any]], list[tuple[str, Figures]]]]] = {
    "cold_start": _cold_start_kinds,
    "batch_latency": lambda batch: [("batch_latency", _batch_figures(batch))],
    "client_overhead": _client_kinds,
    "fan_out": lambda fan: [("fan_out", _fan_out_figures(fan))],
    "fan_out_policy": _fan_out_policy_kinds,
    "csv_send": lambda csv: [("csv_send", _csv_send_figures(csv))],
    "bundle": lambda size: [("bundle", _bundle_figures(size))],
    "end_to_end": _end_to_end_kinds,
}


def _figures(bench: Mapping[str, Any], order: Iterable[str]) -> list[tuple[str, Figures]]:
    """The kinds of figures of the benchmarks present, in `order`."""
    return [found for name in order if bench.get(name) for found in _KINDS[name](bench[name])]


# --- The table ------------------------------------------------------------------------------


def rows(results: Mapping[str, Any]) -> list[Row]:
    """The table's rows, in benchmark order."""
    table = (
        spec.render(figures)
        for kind, figures in _figures(results["benchmarks"], TABLE_ORDER)
        for spec in ROWS.get(kind, ())
    )
    return [row for row in table if row is not None]


def _cells(row: Row) -> tuple[str, ...]:
    return (row.number, row.benchmark, row.subject, row.baseline, row.ratio, row.goal, row.met)


def text_table(table: list[Row]) -> str:
    """The table for a terminal (the CLI's renderer)."""
    return table_render(HEADERS, [_cells(row) for row in table])


# --- Durations ------------------------------------------------------------------------------


def duration_rows(results: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """Each step's wall time and share of the run, then what no step accounts for."""
    steps: Mapping[str, float] = results.get("durations_s") or {}
    total = results["duration_s"]
    rest = max(0.0, total - sum(steps.values()))
    named = [(_SETUP_STEPS.get(name, name), seconds) for name, seconds in steps.items()]
    named.append(("the rest (start-up, stand-ins stopped, results written)", rest))
    return [(name, f"{seconds:.0f}", f"{seconds / total:.0%}") for name, seconds in named]


def _budget_figures(results: Mapping[str, Any]) -> Figures:
    total = results["duration_s"]
    return {
        "total": f"{total:.0f}",
        "budget": f"{BUDGET_S}",
        "budget_minutes": f"{BUDGET_S // 60}",
        "budget_share": f"{total / BUDGET_S:.0%}",
        "budget_met": _at_most(total / BUDGET_S, 1.0),
    }


def durations_text(results: Mapping[str, Any]) -> str:
    """The durations for a terminal, and the run against its budget."""
    table = table_render(DURATION_HEADERS, duration_rows(results))
    return table + "\n" + fill("durations_total", _budget_figures(results))


# --- RESULTS.md -----------------------------------------------------------------------------


def markdown(results: Mapping[str, Any], table: list[Row]) -> str:
    """RESULTS.md."""
    bench = results["benchmarks"]
    goals = [
        fill(f"goal_{kind}", figures)
        for kind, figures in _figures(bench, GOALS_ORDER)
        if kind in GOAL_KINDS
    ]
    parts = [
        fill("title", _run_figures(results)),
        fill("trial", min_runs=f"{MIN_RUNS}") if results["trial"] else "",
        fill("machine", _machine_figures(results["machine"])),
        fill("figures", table=_md_table(HEADERS, [_cells(r) for r in table])),
        fill("goals", goals="\n".join(goals)),
        _durations_section(results),
        fill("method"),
        *_cold_start_section(bench.get("cold_start")),
        *_speedups_section(bench.get("cold_start"), bench.get("speedups")),
        _batch_section(bench.get("batch_latency")),
        _client_section(bench.get("client_overhead")),
        _fan_out_section(bench.get("fan_out")),
        *_fan_out_policy_section(bench.get("fan_out_policy")),
        *_bundle_section(bench.get("bundle")),
        _end_to_end_section(bench.get("end_to_end")),
        fill("suggestions"),
    ]
    return "\n\n".join(part.rstrip() for part in parts if part.strip()) + "\n"


def _run_figures(results: Mapping[str, Any]) -> Figures:
    return {
        "date": results["machine"]["date_utc"],
        "runs": f"{results['runs']}",
        "duration": f"{results['duration_s']:.0f}",
    }


def _machine_figures(machine: Mapping[str, Any]) -> Figures:
    figures = {
        name: f"{machine[name]}"
        for name in ("cpu", "cpus", "machine", "memory_gb", "platform", "python", "commit")
    }
    figures |= {
        "load_before": f"{machine['load_average']}",
        "load_after": f"{machine.get('load_average_after')}",
        "uncommitted": " " + fill("uncommitted") if machine["uncommitted_changes"] else "",
    }
    return {name: value.replace("|", "\\|") for name, value in figures.items()}


def _durations_section(results: Mapping[str, Any]) -> str:
    if not results.get("durations_s"):
        return ""
    rows = _md_rows(duration_rows(results))
    return fill("durations", _budget_figures(results), rows=rows)


def _cold_start_section(cold: Mapping[str, Any] | None) -> list[str]:
    if not cold:
        return []
    variants = [
        (name, v["python"], *(_ms(v[k]["median"]) for k in _COLD_START_COLUMNS))
        for name, v in cold["variants"].items()
    ]
    kinds = _cold_start_kinds(cold)
    traced = [figures for kind, figures in kinds if kind == "cold_start_traced"]
    core = [figures for kind, figures in kinds if kind == "cold_start_core"]
    return [
        fill("cold_start", rows=_md_rows(variants)),
        *(fill("cold_start_traced", figures) for figures in traced),
        *(fill("cold_start_core", figures) for figures in core),
        *(fill("cold_start_note", note=note) for note in cold.get("notes", [])),
        *(
            fill(
                "cold_start_importtime",
                key=key,
                import_ms=_ms(breakdown["import_s_median"]),
                rows=_md_rows(
                    (r["package"], f"{r['share']:.1%}", f"{r['ms']:.1f}") for r in breakdown["top"]
                ),
            )
            for key, breakdown in cold.get("importtime", {}).items()
        ),
    ]


def _speedups_section(cold: Mapping[str, Any] | None, found: Mapping[str, Any] | None) -> list[str]:
    if not cold and not found:
        return []
    totals = [
        fill("speedup_total", figures)
        for kind, figures in (_cold_start_kinds(cold) if cold else [])
        if kind == "cold_start" and "ratio_before_total" in figures
    ]
    each = [
        (
            change.what,
            found[change.name]["files"],
            _ms(found[change.name]["before_s"]["median"]),
            _ms(found[change.name]["after_s"]["median"]),
            _x(found[change.name]["after/before"]),
            _ms(found[change.name]["saved_s"]["median"]),
            change.effect,
        )
        for change in speedups.CHANGES
        if found and change.name in found
    ]
    return [
        fill("speedups"),
        "\n".join(totals),
        fill(
            "speedups_before_ref" if totals else "speedups_before_not_run", ref=before.DEFAULT_REF
        ),
        fill("speedups_each", _rounds_figures(found), rows=_md_rows(each)) if found else "",
    ]


def _rounds_figures(found: Mapping[str, Any]) -> Figures:
    rounds = min(change["before_s"]["n"] for change in found.values())
    fewer = fill("speedups_fewer_rounds", min_runs=f"{MIN_RUNS}") if rounds < MIN_RUNS else ""
    return {"rounds": f"{rounds}", "fewer": fewer}


def _batch_section(batch: Mapping[str, Any] | None) -> str:
    if not batch:
        return ""
    ratios = batch["ratios"]
    variants = (
        (
            name,
            _ms(s["median"]),
            _x(ratios[f"{name}/one_call"]) if f"{name}/one_call" in ratios else "1",
        )
        for name, s in batch["seconds"].items()
    )
    return fill("batch_latency", rows=_md_rows(variants))


def _client_section(client: Mapping[str, Any] | None) -> str:
    if not client:
        return ""
    kind, figures = _client_kinds(client)[0]
    clients = (
        (
            name,
            f"{client['calls_per_s'][name]['median']:.0f}",
            f"{client['cpu_ms_per_call'][name]['median']:.2f} ms",
        )
        for name in client["calls_per_s"]
    )
    return fill(kind, figures, rows=_md_rows(clients))


def _fan_out_section(fan: Mapping[str, Any] | None) -> str:
    if not fan:
        return ""
    variants = (
        (name, _s(s["median"]), f"{_s(s['p25'])}–{_s(s['p75'])}")
        for name, s in fan["seconds"].items()
    )
    return fill("fan_out", _fan_out_figures(fan), rows=_md_rows(variants))


def _fan_out_policy_section(fan: Mapping[str, Any] | None) -> list[str]:
    if not fan:
        return []
    variants = (
        (name, _s(s["median"]), f"{_s(s['p25'])}–{_s(s['p75'])}")
        for name, s in fan["seconds"].items()
    )
    kinds = dict(_fan_out_policy_kinds(fan))
    full = kinds.get("fan_out_policy_full")
    return [
        fill("fan_out_policy", kinds["fan_out_policy"], rows=_md_rows(variants)),
        fill("fan_out_policy_full", full)
        if full
        else fill("fan_out_policy_no_full", numbers=f"{fan_out_policy.FULL_NUMBERS:,}"),
    ]


def _bundle_section(size: Mapping[str, Any] | None) -> list[str]:
    if not size:
        return []
    largest = (
        (p["part"], _mb(p["zipped_bytes"]), _mb(p["unzipped_bytes"]), f"{p['zipped_share']:.1%}")
        for p in size["largest"]
    )
    left_out = size.get("left_out") or {}
    candidates = size.get("candidates") or {}
    total, pyc = size["zipped_bytes"], size["pyc_zipped_bytes"]
    candidate_rows = (
        (name, _mb(c["zipped_bytes"]), f"{c['zipped_bytes'] / total:.1%}", c["why"])
        for name, c in candidates.items()
    )
    return [
        fill("bundle", _bundle_figures(size), rows=_md_rows(largest)),
        fill("bundle_left_out", rows=_md_rows((f"`{k}`", v) for k, v in left_out.items()))
        if left_out
        else "",
        fill(
            "bundle_candidates",
            rows=_md_rows(candidate_rows),
            pyc_zipped=_mb(pyc),
            pyc_zip_share=f"{pyc / total:.1%}",
        )
        if candidates
        else "",
    ]


def _end_to_end_section(e2e: Mapping[str, Any] | None) -> str:
    if not e2e:
        return ""
    ((kind, figures),) = _end_to_end_kinds(e2e)
    return fill(kind, figures)
