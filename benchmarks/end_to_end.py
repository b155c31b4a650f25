"""Benchmark 6 — messages per second end to end through `make local` (issue #5).

`local_gateway.load.run_load` — what `make local` runs, with the integration tests' load
check — sends distinct messages through the three doors (SNS, SQS, the local API) and waits
until each is sent or parked: moto's queues and topic, the event pump with real SQS
batches, the real handler, the sandbox. No provider faults here (the integration test has
them): this is throughput. The baseline, alternated with it: the same number of signed
calls made by hand, one after another, straight to the same sandbox — the provider's speed
as one plain client sees it. Between rounds the idempotency table is emptied
(`run_load` numbers its messages the same way every time; a repeat would be a replay).

Until `make local` has landed, this module reports that and no figure.
"""

from __future__ import annotations

import re
import subprocess
import time
from typing import Any, Final

from benchmarks.services import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ACCOUNT_ID, REPO
from benchmarks.stats import Summary, alternate, paired_ratios
from benchmarks.worker import run_worker

# Per round. 10,000 messages once would take minutes on this machine; 15 rounds of this
# many give a median within the time `make bench` has.
MESSAGES: Final = 150
_PLACEHOLDER: Final = re.compile(r"is coming|exit 2")
_MODULE: Final = re.compile(r"-m\s+([\w.]+)")


def local_recipe() -> str | None:
    """The `local` target's recipe in the Makefile, or None when there is none."""
    text = (REPO / "Makefile").read_text()
    match = re.search(r"^local:.*\n((?:\t.*\n)*)", text, re.MULTILINE)
    return match.group(1) if match else None


def _landed(recipe: str | None) -> bool:
    """A real recipe, and the module it runs (`python -m …`) is committed: work in
    progress in someone's working tree has not landed."""
    if recipe is None or _PLACEHOLDER.search(recipe):
        return False
    module = _MODULE.search(recipe)
    if module is None:
        return True
    path = module.group(1).replace(".", "/")
    tracked = subprocess.run(  # noqa: S603 (git from PATH, fixed arguments)
        ["git", "ls-files", "--", path, f"{path}.py"],  # noqa: S607
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    return tracked.returncode == 0 and bool(tracked.stdout.strip())


def run(runs: int) -> dict[str, Any]:
    """The figures, or why there are none."""
    if not _landed(local_recipe()):
        return {
            "status": "not run",
            "reason": "`make local` has not landed yet (issue #5): there is no local "
            "event pump to push messages through, so no figure is reported",
        }
    result = run_worker("end_to_end", runs, None)
    result["status"] = "measured"
    result["messages_per_round"] = MESSAGES
    return result


def measure(runs: int) -> dict[str, Any]:
    """The worker's half: start the local gateway, alternate load rounds and by-hand sends."""
    from benchmarks.bare import BareSender
    from local_gateway.gateway import LocalConfig, LocalGateway
    from local_gateway.load import run_load

    config = LocalConfig(moto_port=0, sandbox_port=0, api_port=0, outputs_path=None)
    with LocalGateway(config) as gateway:
        assert gateway.sandbox is not None
        assert gateway.resources is not None
        sandbox = gateway.sandbox
        dynamodb, table = gateway.clients["dynamodb"], gateway.resources.table_name
        bare = BareSender(sandbox.url, ACCESS_KEY_ID, ACCESS_KEY_SECRET, ACCOUNT_ID)
        counter = iter(range(10**9))

        def through_make_local() -> float:
            _empty(dynamodb, table)
            report = run_load(gateway, MESSAGES, failure_rate=0.0, timeout_s=300)
            if not report.holds or report.sent != MESSAGES:
                raise RuntimeError(
                    f"end to end: {report.sent} of {MESSAGES} sent, {len(report.lost)} lost, "
                    f"{len(report.duplicated)} duplicated"
                )
            return MESSAGES / report.seconds

        def by_hand() -> float:
            sandbox.reset()
            started = time.perf_counter()
            for _ in range(MESSAGES):
                bare.send(
                    {
                        "PhoneNumbers": ["(86)13800138000"],
                        "TemplateId": "UTA-LOAD",
                        "TemplateParams": [f"{next(counter):06d}"],
                    }
                )
            elapsed = time.perf_counter() - started
            if len(sandbox.accepted) != MESSAGES:
                raise RuntimeError("by hand: the sandbox did not accept every message")
            return MESSAGES / elapsed

        samples = alternate({"make_local": through_make_local, "by_hand": by_hand}, runs)
    return {
        "messages_per_s": {name: Summary.of(v).as_json(1) for name, v in samples.items()},
        "ratios": {
            "make_local/by_hand": Summary.of(
                paired_ratios(samples["make_local"], samples["by_hand"])
            ).as_json()
        },
    }


def _empty(dynamodb: Any, table: str) -> None:
    """Delete every idempotency record, so the next round's messages are new ones."""
    keys = [
        {"id": item["id"]}
        for page in dynamodb.get_paginator("scan").paginate(
            TableName=table, ProjectionExpression="id"
        )
        for item in page["Items"]
    ]
    for start in range(0, len(keys), 25):
        dynamodb.batch_write_item(
            RequestItems={table: [{"DeleteRequest": {"Key": k}} for k in keys[start : start + 25]]}
        )
