"""RELIABILITY.md, rendered from the figures a complete, passing run of the suite wrote.

    python -m tests.reliability.report           # render from .reliability/*.json
    python -m tests.reliability.report --check   # exit 1 if RELIABILITY.md is stale

`make test` renders it by itself when a run passes and produced every part (the fault
matrix, the fuzzing, the leak sweep, the privilege checks). Parts from different runs, or
a part whose checks did not all pass, are refused: the file never mixes runs.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from sms_gateway.json_input import MAX_DEPTH
from tests.reliability.figures import FIGURES_DIR, PARTS, REPO_ROOT, read_parts
from tests.reliability.invariants import CATEGORIES

OUTPUT: Final = REPO_ROOT / "RELIABILITY.md"
_DOOR_NAMES: Final = {"sqs": "SQS", "sns": "SNS", "api": "API", "direct": "direct"}
_OUTCOME_HEADERS: Final = {
    "sent": "sent once",
    "rejected": "rejected to caller",
    "parked": "parked with reason",
    "redriven": "redriven by the queue",
    "unknown": "unknown outcome reported",
    "duplicates": "duplicates",
    "lost": "lost",
}
_FIGURES: Final = ("provider_calls", "invocations", "retries", "replays")
_FIGURE_HEADERS: Final = ("provider calls", "invocations", "retries", "replays")


class IncompleteFiguresError(Exception):
    """The figures on disk cannot make a report (missing, failed, or from several runs)."""


def load(run_id: str | None = None) -> dict[str, dict[str, Any]]:
    """Every part, checked: present, complete, and all from one run (`run_id` if given)."""
    parts = read_parts()
    missing = [name for name in PARTS if name not in parts]
    if missing:
        raise IncompleteFiguresError(f"no figures yet for {', '.join(missing)}; run the suite")
    failed = [name for name, part in parts.items() if not part.get("complete")]
    if failed:
        raise IncompleteFiguresError(f"{', '.join(failed)} did not pass in full")
    runs = {part["run"] for part in parts.values()}
    if len(runs) > 1 or (run_id is not None and runs != {run_id}):
        stale = [n for n, p in parts.items() if run_id is not None and p["run"] != run_id]
        which = f"the figures of {', '.join(stale)}" if stale else "the figures"
        raise IncompleteFiguresError(f"{which} come from another run; run the whole suite")
    return parts


def render_if_complete(run_id: str) -> str:
    """Write RELIABILITY.md if this run produced every part; say what happened."""
    try:
        text = render(load(run_id))
    except IncompleteFiguresError as why:
        return f"not regenerated ({why})"
    if OUTPUT.exists() and OUTPUT.read_text() == text:
        return "unchanged (regenerated from this run's figures)"
    OUTPUT.write_text(text)
    return "regenerated from this run's figures"


def render(parts: Mapping[str, Mapping[str, Any]]) -> str:
    """The whole document."""
    sections = [
        _header(),
        _matrix(parts["fault_matrix"]),
        _fuzz(parts["fuzz"]),
        _leaks(parts["leaks"]),
        _privilege(parts["privilege"]),
        _pumping(parts["pumping"]),
    ]
    return "\n".join(sections).rstrip() + "\n"


def _header() -> str:
    return f"""# Reliability and security: what the suite showed

Every figure below was produced by the test suite, not written by hand: `make test` renders
this file from the figures of a run in which every part of the suite ran and passed
(`tests/reliability/`, `tests/infra/test_least_privilege.py`). To regenerate it, run
`make test`. `.venv/bin/python -m tests.reliability.report` renders it again from the last
run's figures in `{FIGURES_DIR.name}/`, and `--check` fails when this file no longer matches
them. (A partial run, e.g. `pytest tests/infra/test_least_privilege.py tests/reliability`,
renders it too, with other fuzzing figures: hypothesis also draws on constants of the
modules a run has loaded.)

The contract checked (the README's "What happens to a message"): every message ends as exactly one
of sent once, rejected to its caller, or in the dead-letter queue — parked there by the
gateway with its reason, or redriven there by the queue after its retries; an outcome the
gateway cannot know (the request went out, no usable answer came back) is reported and never
re-sent within the idempotency window; nothing is sent twice, nothing is lost.

What the suite found, fixed in `functions/sms_gateway/` and pinned by the cell or test
named: a send whose idempotency record failed to save was retried and sent again once the
lock expired (`dynamodb-success-write`); a slow secret read let a provider call start
without time to finish (`slow-secret`); a fixed secret went unused for five minutes, the
broken one cached (`secret-incomplete`); an empty or unprintable field name was rejected
without naming a field, and an API body marked base64 that was not answered 500
(`test_regressions.py`).
"""


def _row(cells: Iterable[object]) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _count(value: int) -> str:
    return str(value) if value else "·"


def _matrix(part: Mapping[str, Any]) -> str:
    rows: list[dict[str, Any]] = part["rows"]
    doors: list[str] = part["doors"]
    scenarios: list[dict[str, str]] = part["scenarios"]
    by_scenario: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_scenario[row["scenario"]].append(row)
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        totals["messages"] += row["messages"]
        for name, value in row["outcomes"].items():
            totals[name] += value
        for name in _FIGURES:
            totals[name] += row[name]
    outcome_names = [*CATEGORIES, "duplicates", "lost"]

    lines = [
        "## Fault matrix",
        "",
        f"{len(scenarios)} faults × {len(doors)} doors = {len(rows)} cells; "
        f"{totals['messages']} messages, every one judged. Duplicates: "
        f"{totals['duplicates']}. Lost: {totals['lost']}. Breaches of the contract: 0 (a "
        "breach fails the suite). No provider call began with less time left than a "
        "worst-case call needs, in any cell.",
        "",
        "Each cell sends three messages through one door while one fault is in place: one "
        "number; two recipients with their own codes (SendBatchUSMSMessage); two numbers in "
        "other accepted forms. Each door retries as it does in production:",
        "",
        "- **SQS**: a moto queue with the stack's redrive (maxReceiveCount 5). What the "
        "handler reports as item failures is received again after one visibility timeout; "
        "after the fifth receive the queue moves it to the dead-letter queue, without a "
        "reason attribute (as AWS does) — counted as *redriven by the queue*.",
        "- **SNS** (a direct subscription): Lambda's asynchronous retries — two, one and two "
        "minutes apart — then the on-failure destination (the dead-letter queue), also "
        "*redriven*.",
        "- **API**: a client that retries 502 and 503 with the same `Idempotency-Key` after "
        "`Retry-After`, four attempts in all; a final 4xx or 503 is *rejected to caller*, a "
        "final 502 *unknown outcome reported*.",
        "- **direct invoke**: a caller that retries the retryable typed errors and "
        "`ProviderOutcomeUnknown` with the same `IdempotencyKey`, four attempts in all.",
        "",
        "Time between attempts is simulated, not waited for: idempotency locks and records "
        "and the secret's cache age by the interval (a visibility timeout, Lambda's retry "
        "delay, `Retry-After`). A transient fault clears after two failed attempts.",
        "",
        _row(
            [
                "fault",
                "kind",
                "messages",
                *[_OUTCOME_HEADERS[n] for n in outcome_names],
                *_FIGURE_HEADERS,
            ]
        ),
        _row(["---", "---", "---:", *["---:"] * (len(outcome_names) + len(_FIGURES))]),
    ]
    for scenario in scenarios:
        cells = by_scenario[scenario["id"]]
        outcomes = {n: sum(c["outcomes"][n] for c in cells) for n in outcome_names}
        lines.append(
            _row(
                [
                    scenario["fault"],
                    scenario["kind"],
                    sum(c["messages"] for c in cells),
                    *[_count(outcomes[n]) for n in outcome_names],
                    *[sum(c[f] for c in cells) for f in _FIGURES],
                ]
            )
        )
    lines.append(
        _row(
            [
                "**all faults**",
                "",
                f"**{totals['messages']}**",
                *[f"**{totals[n]}**" for n in outcome_names],
                *[f"**{totals[f]}**" for f in _FIGURES],
            ]
        )
    )
    lines += [
        "",
        "*provider calls*: requests the USpeedo sandbox received; *invocations*: handler "
        "invocations; *retries*: redeliveries by the queue, Lambda's retries, callers' "
        "retries; *replays*: chunks answered from their idempotency record instead of "
        "calling the provider (a replayed unknown outcome is reported again, never re-sent). "
        "One figure can differ by a call or two between runs: the stale key's provider "
        "calls. Chunks in flight together each make their call before the first refusal "
        "has the gateway read the rotated secret, so how many go out with the stale key "
        "depends on the threads' timing.",
        "",
        "<details><summary>Every cell: fault × door</summary>",
        "",
        _row(["fault", "door", *[_OUTCOME_HEADERS[n] for n in outcome_names], *_FIGURE_HEADERS]),
        _row(["---", "---", *["---:"] * (len(outcome_names) + len(_FIGURES))]),
    ]
    for scenario in scenarios:
        by_door = {c["door"]: c for c in by_scenario[scenario["id"]]}
        for door in doors:
            cell = by_door[door]
            lines.append(
                _row(
                    [
                        scenario["id"],
                        _DOOR_NAMES.get(door, door),
                        *[_count(cell["outcomes"][n]) for n in outcome_names],
                        *[cell[f] for f in _FIGURES],
                    ]
                )
            )
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def _fuzz(part: Mapping[str, Any]) -> str:
    doors: Mapping[str, Any] = part["doors"]
    examples: Mapping[str, int] = part["examples"]
    sqs, sns, api, direct = doors["sqs"], doors["sns"], doors["api"], doors["direct"]
    statuses = ", ".join(f"{n} × {s}" for s, n in sorted(api["statuses"].items()))
    outcomes = ", ".join(f"{n} × {o}" for o, n in sorted(direct["outcomes"].items()))
    drawn = (
        "afresh in this run"
        if part.get("random")
        else "from a fixed seed (RELIABILITY_FUZZ_RANDOM=1 draws afresh)"
    )
    lines = [
        "## Fuzzing",
        "",
        f"{sum(examples.values())} hypothesis examples over every event shape, drawn {drawn}. "
        "Bodies: random JSON, truncated JSON, message-shaped objects with wrong types, "
        "lists past the 10,000 limit, unicode, emoji, control characters, lone surrogates, "
        "unknown and empty field names, and nesting depth as a dimension of its own (2 to "
        f"100,000 levels, either side of the gateway's bound of {MAX_DEPTH}: "
        f"{sum(d.get('too_deep', 0) for d in doors.values())} examples nested past it, each "
        "refused as `$`/`too_deep` like any invalid body); events: SQS records through raw "
        "and enveloped "
        "SNS, optional keys missing, idempotency keys past 128 characters; API requests "
        "with any method and path, headers null, bodies marked base64 that are not.",
        "",
        _row(["door", "examples", "what must hold", "what the run saw"]),
        _row(["---", "---:", "---", "---"]),
        _row(
            [
                "SQS",
                f"{examples['sqs']} batches ({sqs.get('records', 0)} records)",
                "a batch answer; every bad record parked (body unchanged, reason naming the "
                "field) or reported for retry",
                f"{sqs.get('parked', 0)} parked, {sqs.get('reported', 0)} reported, the rest sent"
                + _deep(sqs),
            ]
        ),
        _row(
            [
                "SNS",
                examples["sns"],
                "one outcome per record; what is parked names the field; only a retryable "
                "error raises",
                f"{sns.get('parked', 0)} parked, {sns.get('raised', 0)} raised to retry, "
                "the rest sent" + _deep(sns),
            ]
        ),
        _row(
            ["API", examples["api"], "never a 500; a 400 lists the fields", statuses + _deep(api)]
        ),
        _row(
            [
                "direct",
                examples["direct"],
                "a result or a typed `GatewayError`; a validation error names each field",
                outcomes + _deep(direct),
            ]
        ),
        "",
    ]
    return "\n".join(lines)


def _deep(door: Mapping[str, Any]) -> str:
    deep = door.get("too_deep", 0)
    return f" ({deep} nested past the bound)" if deep else ""


def _pumping(part: Mapping[str, Any]) -> str:
    blocks, requests = part["attack_blocks"], part["attack_requests"]
    return (
        "## SMS pumping, simulated\n\n"
        f"`tests/unit/test_protection.py` sends, shuffled through SQS batches: {requests} "
        f"requests for one-time codes to {blocks} blocks of 100 adjacent numbers (every "
        f"number of each block), {part['blocked_requests']} to a blocked country, and "
        f"{part['users']} real users' requests to scattered numbers, under the policy "
        "Number 5/10 min, Prefix (2 digits) 20/h, Country 20,000/h, Global 200,000/day, "
        "Block RU.\n\n"
        + _row(["what", "requests", "SMS sent", "bound"])
        + "\n"
        + _row(["---", "---:", "---:", "---:"])
        + "\n"
        + _row(["attack on adjacent numbers", requests, part["attack_sent"], part["attack_bound"]])
        + "\n"
        + _row(["blocked country", part["blocked_requests"], part["blocked_sent"], 0])
        + "\n"
        + _row(["real users", part["users"], part["users_served"], part["users"]])
        + "\n\nEvery refused request was parked with its reason "
        f"({part['parked']} in the dead-letter queue); no number got a code twice.\n"
    )


def _leaks(part: Mapping[str, Any]) -> str:
    lines_written = round(part["log_lines"], -3)
    return (
        "## Leaks\n\n"
        "Everything the gateway's loggers and Powertools' own utilities wrote at DEBUG "
        f"during the reliability suite (about {lines_written:,} lines) was searched for "
        f"{part['numbers']} phone numbers, {part['parameters']} template parameters and "
        f"{part['secrets']} secrets the suite used — numbers and codes of refused messages "
        "and SendBatchUSMSMessage's per-recipient parameters included. "
        f"Found: {part['found']}. Each cell of the matrix also checks its own lines. "
        "botocore's DEBUG logs are out of scope: they print every AWS request body by "
        "design, and the function logs at INFO.\n"
    )


def _privilege(part: Mapping[str, Any]) -> str:
    checks: Mapping[str, Mapping[str, int]] = part["checks"]
    exceptions: Mapping[str, Any] = part["exceptions"]

    def figure(check: str, key: str) -> str:
        full, imported = checks[f"{check}/full"], checks[f"{check}/imported"]
        return f"{full[key]} / {imported[key]}"

    lines = [
        "## Least privilege and exposure",
        "",
        "Swept over both synthesized templates (every optional feature on / an imported "
        "secret with command-line values), every statement and resource of each:",
        "",
        _row(["check", "covered (full / imported)"]),
        _row(["---", "---"]),
        _row(
            [
                "no identity policy allows a wildcard action",
                f"{figure('identity_actions', 'statements')} statements",
            ]
        ),
        _row(
            [
                'Resource "*" only for actions with no resource-level permissions',
                f"{figure('identity_resources', 'on_every_resource')} of "
                f"{figure('identity_resources', 'statements')} statements",
            ]
        ),
        _row(
            [
                "queue, topic and key policies: no public principal, no wildcard beyond the "
                "exceptions, every service grant bound to its source ARN",
                f"{figure('resource_policies', 'statements')} statements",
            ]
        ),
        _row(
            [
                "only listed AWS managed policies",
                f"{figure('managed_policies', 'attached')} attached to "
                f"{figure('managed_policies', 'roles')} roles",
            ]
        ),
        _row(
            [
                "secrets by ARN only: no value in the template, no dynamic reference, no "
                "secret in an environment variable (USPEEDO_SECRET_ID is the ARN), reads "
                "scoped to that one ARN",
                f"{figure('secrets', 'environment_variables')} variables, "
                f"{figure('secrets', 'secret_reads')} read grants",
            ]
        ),
        _row(
            [
                "the function's data access: one policy parameter and its two tables "
                "(idempotency, protection), each granted on its own ARN only",
                f"{figure('data_access', 'parameters')} parameters, "
                f"{figure('data_access', 'tables')} tables, "
                f"{figure('data_access', 'grants')} grants",
            ]
        ),
        _row(
            [
                "queues and topics deny requests without TLS (aws:SecureTransport)",
                f"{figure('plain_http', 'queues')} queues, {figure('plain_http', 'topics')} topics",
            ]
        ),
        _row(
            [
                "every API method requires an API key, every stage is in a usage plan",
                f"{figure('api_keys', 'methods')} methods",
            ]
        ),
        _row(
            [
                "the function may be invoked only by AWS services, each bound to a source ARN",
                f"{figure('invoke_permissions', 'permissions')} permissions",
            ]
        ),
        "",
        "Each check is also run against a copy of the template broken on purpose (a wildcard "
        "action, a public queue, a queue without the TLS denial, a method without a key), "
        "and must find it.",
        "",
        "The exceptions, and why they are needed:",
        "",
    ]
    for action, reason in exceptions["wildcard_resources"].items():
        lines.append(f'- `{action}` on Resource "*": {reason}.')
    for grant, reason in exceptions["key_policy_actions"].items():
        lines.append(f"- key policy, `{grant}`: {reason}.")
    lines.append(f"- key policies: {exceptions['key_policy_resources']}.")
    for policy, reason in exceptions["managed_policies"].items():
        lines.append(f"- managed policy `{policy}`: {reason}.")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Render RELIABILITY.md from the last run's figures (or check it is current)."""
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.report")
    parser.add_argument("--check", action="store_true", help="fail if RELIABILITY.md is stale")
    args = parser.parse_args(argv)
    try:
        text = render(load())
    except IncompleteFiguresError as why:
        print(f"cannot render RELIABILITY.md: {why}", file=sys.stderr)
        return 2
    current = OUTPUT.read_text() if OUTPUT.exists() else ""
    if args.check:
        if current != text:
            print("RELIABILITY.md does not match the last run's figures", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {Path(OUTPUT).relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
