"""Benchmark 1 — cold start as Lambda pays it, against the bare minimum, and where it goes.

Every run is a fresh process: import the handler, handle one SQS event of one message
(secret from the moto server, sent to the sandbox), exit. The baseline does the same job by
hand with boto3 and urllib3 (`probe_bare.py`). With a Python 3.13 on the machine (the
Lambda's runtime) every variant runs under it too; with `--before`, the code before the
speed-ups runs alongside (`before.py`). All variants alternate within each round.

Tracing on, as the stack deploys it (`gateway_traced`), runs under the Lambda's Python
only (3.13 when the machine has one): the X-Ray SDK patches every supported library it
finds installed, and the venv holds some the bundle does not (requests), which would
load and be patched there but never in Lambda. The core alone, protection and delivery
events off (`gateway_core`), runs there too: what those features add to the cold start
Lambda pays is the as-deployed figure over it.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from benchmarks import py313
from benchmarks.services import FUNCTIONS, REPO, Services
from benchmarks.stats import Summary, alternate, paired_ratios
from tests.harness import message, sqs_event, sqs_record

HERE: Final = Path(__file__).resolve().parent
IMPORTTIME_RUNS: Final = 5
TOP: Final = 10
_RATIO_KEYS: Final = ("total_s", "wall_s", "import_s")
_IMPORTTIME: Final = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")
# What Lambda's runtime sets in every function's environment that the code looks at:
# `telemetry.tracing_enabled` and Powertools' Tracer look for Lambda; the batch processor
# runs its event loop Lambda's way. Set for every variant, so tracing on and off differ
# by tracing alone.
LAMBDA_RUNTIME_ENV: Final = {
    "AWS_LAMBDA_FUNCTION_NAME": "sms-gateway",
    "LAMBDA_TASK_ROOT": "/var/task",
}
# Tracing on as deployed (infra/function.py: `Tracing.ACTIVE`, POWERTOOLS_TRACE_DISABLED
# not set, responses never captured); Lambda sets the context-missing strategy. The
# daemon's address is the probe's own listener (`probe_gateway.listen_as_daemon`).
TRACED_ENV: Final = {
    "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
}


# The core alone: protection and delivery events off (idempotency and the gateway key
# stay: every message needs them). What the as-deployed cold start adds to it is theirs.
CORE_ENV: Final = {
    "TRAFFIC_POLICY_PARAMETER": "",
    "PROTECTION_TABLE": "",
    "RECEIPTS_QUEUE_URL": "",
    "EVENT_BUS_NAME": "",
}


@dataclass(frozen=True)
class Variant:
    """One way to run a probe: which script, which interpreter, which code root."""

    name: str
    python: Path
    script: Path
    code_root: Path
    extra_path: tuple[Path, ...] = ()
    traced: bool = False
    core: bool = False  # protection and delivery events off (`CORE_ENV`)

    def pythonpath(self) -> str:
        return ":".join(str(p) for p in (self.code_root, *self.extra_path, REPO))

    def command(self, event_path: Path, out_path: Path) -> list[str]:
        traced = ["--traced"] if self.traced else []
        return [str(self.python), str(self.script), str(event_path), str(out_path), *traced]


def trace_header() -> str:
    """A sampled trace header, as Lambda's runtime passes each invocation: a new trace
    each run."""
    root = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    return f"Root={root};Parent={secrets.token_hex(8)};Sampled=1"


class Probe:
    """Runs one variant once, on a fresh message, and checks that it was really sent."""

    def __init__(self, services: Services, scratch: Path) -> None:
        self.services = services
        self.scratch = scratch
        self.counter = 0

    def __call__(self, variant: Variant) -> dict[str, float]:
        self.counter += 1
        # A new number and one-time code each run: a repeat would be an idempotent replay,
        # and one number (or block) would meet the traffic policy's limits. The serial's
        # digits reversed spread the numbers over blocks of adjacent numbers.
        serial = f"{self.counter:08d}"
        body = message(f"(86)138{serial[::-1]}", params=[f"{100000 + self.counter}"])
        event_path = self.scratch / "event.json"
        out_path = self.scratch / "out.json"
        event_path.write_text(json.dumps(sqs_event(sqs_record(body))))
        out_path.unlink(missing_ok=True)
        before = self.services.sandbox.accepted_count()
        env = self.environment(variant)
        started = time.perf_counter()
        done = subprocess.run(  # noqa: S603 (our interpreters and scripts)
            variant.command(event_path, out_path),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{variant.name} failed:\n{done.stderr[-3000:]}")
        figures = json.loads(out_path.read_text())
        if figures["answer"] != {"batchItemFailures": []}:
            raise RuntimeError(f"{variant.name} did not send: {figures['answer']}")
        if self.services.sandbox.accepted_count() != before + 1:
            raise RuntimeError(f"{variant.name}: the sandbox did not accept exactly one message")
        found = {
            "wall_s": wall,
            "total_s": figures["total_s"],
            "import_s": figures["import_s"],
            "first_event_s": figures["first_event_s"],
        }
        if variant.traced:
            found["subsegments"] = figures["subsegments"]  # the probe checked there were some
        return found

    def environment(self, variant: Variant) -> dict[str, str]:
        """The Lambda's environment for `variant`, pointed at the stand-ins."""
        env = self.services.env(PYTHONPATH=variant.pythonpath(), **LAMBDA_RUNTIME_ENV)
        if variant.traced:
            del env["POWERTOOLS_TRACE_DISABLED"]
            env |= TRACED_ENV | {"_X_AMZN_TRACE_ID": trace_header()}
        if variant.core:
            env |= CORE_ENV
        return env


def _summaries(samples: list[dict[str, float]]) -> dict[str, Any]:
    keys = samples[0].keys()
    return {key: Summary.of([s[key] for s in samples]).as_json() for key in keys}


def _ratios(
    subject: list[dict[str, float]], baseline: list[dict[str, float]], keys: tuple[str, ...]
) -> dict[str, Any]:
    return {
        key: Summary.of(
            paired_ratios([s[key] for s in subject], [b[key] for b in baseline])
        ).as_json()
        for key in keys
    }


# The ratios reported, subject/baseline, for each pair measured in the run.
_PAIRS: Final = (
    ("gateway", "bare"),
    ("gateway", "before"),
    ("gateway_traced", "bare"),
    ("gateway_traced", "gateway"),
    ("gateway_core", "bare"),
    ("gateway", "gateway_core"),
)


def _paired(samples: dict[str, list[dict[str, float]]], label: str) -> dict[str, Any]:
    """Every pair's ratios under one interpreter (`label`)."""
    return {
        f"{subject}/{baseline}{label}": _ratios(
            samples[f"{subject}{label}"], samples[f"{baseline}{label}"], _RATIO_KEYS
        )
        for subject, baseline in _PAIRS
        if f"{subject}{label}" in samples and f"{baseline}{label}" in samples
    }


def import_breakdown(python: Path, env: dict[str, str], runs: int = IMPORTTIME_RUNS) -> Any:
    """`-X importtime` of `import sms_gateway.handler`: the top packages by self time, as a
    share of the handler's whole import (median of `runs` runs)."""
    shares: dict[str, list[float]] = {}
    totals: list[float] = []
    for _ in range(runs):
        done = subprocess.run(  # noqa: S603 (our interpreter, fixed arguments)
            [str(python), "-X", "importtime", "-c", "import sms_gateway.handler"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        groups, total_us = _group(done.stderr)
        totals.append(total_us / 1e6)
        for name, self_us in groups.items():
            shares.setdefault(name, []).append(self_us / total_us)
    medians = {name: statistics.median(v + [0.0] * (runs - len(v))) for name, v in shares.items()}
    top = sorted(medians.items(), key=lambda item: item[1], reverse=True)[:TOP]
    total = statistics.median(totals)
    return {
        "import_s_median": round(total, 4),
        "top": [
            {"package": name, "share": round(share, 4), "ms": round(share * total * 1000, 1)}
            for name, share in top
        ],
    }


def _group(stderr: str) -> tuple[dict[str, float], float]:
    """Self time per package within the handler's import (its subtree in the output)."""
    rows = []
    for line in stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            rows.append((int(match.group(1)), int(match.group(2)), len(match.group(3)), match[4]))
    end = max(i for i, row in enumerate(rows) if row[3] == "sms_gateway.handler")
    root_depth = rows[end][2]
    start = end
    while start > 0 and rows[start - 1][2] > root_depth:
        start -= 1
    groups: dict[str, float] = {}
    for self_us, _, _, name in rows[start : end + 1]:
        # Our own modules one by one; everybody else's by top-level package.
        key = name if name.startswith("sms_gateway.") else name.split(".")[0]
        groups[key] = groups.get(key, 0.0) + self_us
    return groups, float(rows[end][1])


def _variants(
    python: Path, label: str, extra: tuple[Path, ...], before_root: Path | None, traced: bool
) -> list[Variant]:
    gateway = Variant(f"gateway{label}", python, HERE / "probe_gateway.py", FUNCTIONS, extra)
    found = [gateway, Variant(f"bare{label}", python, HERE / "probe_bare.py", FUNCTIONS, extra)]
    if traced:
        found.append(dataclasses.replace(gateway, name=f"gateway_traced{label}", traced=True))
        found.append(dataclasses.replace(gateway, name=f"gateway_core{label}", core=True))
    if before_root is not None:
        found.append(
            Variant(f"before{label}", python, HERE / "probe_gateway.py", before_root, extra)
        )
    return found


def run(
    services: Services,
    runs: int,
    before_root: Path | None,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Alternate every variant `runs` times; figures, ratios and the import breakdown."""
    services.sandbox.reset()
    interpreters: list[tuple[str, Path, tuple[Path, ...]]] = [("", Path(sys.executable), ())]
    notes: list[str] = []
    python313 = py313.find()
    if python313 is not None:
        log(f"cold start: preparing Python 3.13 packages for {python313}")
        interpreters.append((" (3.13)", python313, (py313.site_packages(python313),)))
    else:
        notes.append("no Python 3.13 on this machine: measured with the venv's Python only")
    # Tracing under the Lambda's Python only: the last interpreter (see the docstring).
    traced_label = interpreters[-1][0]
    variants = [
        v
        for label, py, extra in interpreters
        for v in _variants(py, label, extra, before_root, traced=label == traced_label)
    ]
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as scratch:
        probe = Probe(services, Path(scratch))
        runners: dict[str, Callable[[], dict[str, float]]] = {
            v.name: functools.partial(probe, v) for v in variants
        }
        log(f"cold start: {len(variants)} variants × {runs} alternating runs")
        samples = alternate(runners, runs)
    result: dict[str, Any] = {"variants": {}, "ratios": {}, "notes": notes}
    for variant in variants:
        result["variants"][variant.name] = {
            "python": _version(variant.python),
            **_summaries(samples[variant.name]),
        }
    for label, py, extra in interpreters:
        result["ratios"] |= _paired(samples, label)
        log(f"cold start: -X importtime{label}")
        gateway = _variants(py, label, extra, None, traced=False)[0]
        env = services.env(PYTHONPATH=gateway.pythonpath())
        result.setdefault("importtime", {})[label.strip(" ()") or "venv"] = import_breakdown(
            py, env
        )
    return result


def _version(python: Path) -> str:
    found = subprocess.run(  # noqa: S603 (our interpreters)
        [str(python), "-c", "import sys; print(sys.version.split()[0])"],
        capture_output=True,
        text=True,
        check=True,
    )
    return found.stdout.strip()
