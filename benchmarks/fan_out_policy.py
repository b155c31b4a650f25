"""Benchmark 4b — the fan-out with the traffic policy on and off.

A batch like benchmark 4's (messages of up to 10,000 numbers, provider at 200 ms; its
size below), sent by two gateways in alternating rounds: one with the policy and the
protection table (as the stack deploys it), one without. Each number costs the policy one
conditional counter update per `Number` limit, and each block of adjacent numbers one per
`Prefix` limit, so this is the protection's heaviest case.

The policy has the deployed default's shape (the same limits, so the same counter
updates) with counts no fan-out reaches: the default's `Country` cap (20,000 an hour) would
refuse most of a large batch, and the run must send every number to compare like
with like. The numbers are new each round and scattered over blocks (a fixed permutation of
a serial), so no `Number` or `Prefix` limit is met either.

A third variant measures the stand-in's floor: the same conditional counter updates, in
transactions of 100 as the gateway makes them, issued by hand on a pool of the gateway's
protection concurrency, with nothing else — what moto (one Python process) needs to serve
them; DynamoDB serves them in parallel. Rounds are few: `ROUNDS`, after one warm-up round
of `WARMUP_NUMBERS` numbers (connections, the secret, the policy: what a first batch pays
whatever its size), which is dropped.

Size: the stand-in serves a counter update in about 2 ms of one Python process
(transactions included: moto parses each item's expressions), so 10,000 numbers with the
policy on take ≈75 s a round and 100,000 ≈12 minutes, which `make bench` cannot afford.
It measures one message of 2,000 numbers (2 calls), the same per-number work;
`make bench-policy-full` (`BENCH_POLICY_NUMBERS=100000 python -m benchmarks --only
fan_out_policy`) measures the full fan-out (messages of 10,000) and keeps it in
`benchmarks/fan_out_policy_full.json`, which `make bench` shows beside its own figure.
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from benchmarks import fan_out
from benchmarks.services import SandboxControl, Services
from benchmarks.stats import Summary, alternate, paired_ratios
from benchmarks.worker import run_worker

ROUNDS: Final = 2
# The dropped warm-up: one message this size through each variant.
WARMUP_NUMBERS: Final = 100
FULL_NUMBERS: Final = 100_000  # benchmark 4's fan-out
# Messages of 10,000 numbers in the batch (see the docstring).
NUMBERS: Final = int(os.environ.get("BENCH_POLICY_NUMBERS", "2000"))
MESSAGES: Final = math.ceil(NUMBERS / fan_out.NUMBERS_PER_MESSAGE)
PER_MESSAGE: Final = NUMBERS // MESSAGES
# Big enough that no fan-out round meets a cap; the limits' shape is the default's.
_NO_CAP: Final = 10**9
_PARAMETER: Final = "/sms-gateway-bench/fan-out-policy"
# A multiplier coprime with 10**8: serial → national number is a permutation, so numbers
# never repeat across rounds, and consecutive serials land in far-apart blocks.
_SCATTER: Final = 48_271_117
_SPACE: Final = 10**8
# DynamoDB's most items in one transaction (the gateway's counters go 100 at a time).
_PER_TRANSACTION: Final = 100


def run(services: Services, runs: int) -> dict[str, Any]:
    """Measure in a worker with protection configured (the worker builds both gateways)."""
    rounds = min(runs, ROUNDS)
    result = run_worker(
        "fan_out_policy",
        rounds,
        services,
        TRAFFIC_POLICY_PARAMETER=services.policy_parameter,
        PROTECTION_TABLE=services.protection_table,
        BENCH_POLICY_NUMBERS=str(NUMBERS),
    )
    services.sandbox.reset()
    return result


def bench_policy(default_document: str) -> str:
    """The default policy with its `Country` and `Global` caps out of reach."""
    policy = json.loads(default_document)
    for limit in policy["Limits"]:
        if limit["Scope"] in ("Country", "Global"):
            limit["Count"] = _NO_CAP
    return json.dumps(policy)


def scattered_numbers(first_serial: int, count: int) -> list[str]:
    """`count` distinct mainland-mobile numbers, far apart, never repeating across calls
    with disjoint serial ranges."""
    return [
        f"(86)138{(serial * _SCATTER) % _SPACE:08d}"
        for serial in range(first_serial, first_serial + count)
    ]


def measure(runs: int) -> dict[str, Any]:
    """The worker's half: policy on, policy off and the stand-in's floor, alternated."""
    import boto3

    from local_gateway.context import LocalContext
    from sms_gateway import handler
    from sms_gateway.gateway import PROTECTION_CALLS, gateway_from_env
    from tests.harness import message, sqs_event, sqs_record

    ssm = boto3.client("ssm")
    default = ssm.get_parameter(Name=os.environ["TRAFFIC_POLICY_PARAMETER"])["Parameter"]
    ssm.put_parameter(
        Name=_PARAMETER, Value=bench_policy(default["Value"]), Type="String", Overwrite=True
    )
    policy_on = gateway_from_env({**os.environ, "TRAFFIC_POLICY_PARAMETER": _PARAMETER})
    policy_off = gateway_from_env(
        {**os.environ, "TRAFFIC_POLICY_PARAMETER": "", "PROTECTION_TABLE": ""}
    )
    sandbox = SandboxControl(os.environ["USPEEDO_ENDPOINT"])
    dynamodb = boto3.client("dynamodb")
    floor_pool = ThreadPoolExecutor(PROTECTION_CALLS)
    serials = iter(range(0, 10**9, PER_MESSAGE))
    updates_per_number = _updates_per_number(json.loads(default["Value"]))

    def batch(gateway: Any, messages: int = MESSAGES, per_message: int = PER_MESSAGE) -> float:
        sandbox.reset(slow_s=fan_out.PROVIDER_DELAY_S)
        records = [
            sqs_record(
                message(
                    *scattered_numbers(next(serials), per_message),
                    params=[f"{index:06d}"],
                )
            )
            for index in range(messages)
        ]
        calls = messages * math.ceil(per_message / fan_out.NUMBERS_PER_CALL)
        handler.use_gateway(gateway)
        started = time.perf_counter()
        answer = handler.lambda_handler(sqs_event(*records), LocalContext(remaining_ms=900_000))
        elapsed = time.perf_counter() - started
        if answer != {"batchItemFailures": []} or sandbox.accepted_count() != calls:
            raise RuntimeError(f"the batch was not sent in {calls} calls: {answer}")
        return elapsed

    def floor(numbers: int = MESSAGES * PER_MESSAGE) -> float:
        counters = [uuid.uuid4().hex for _ in range(numbers * updates_per_number)]
        batches = [
            counters[start : start + _PER_TRANSACTION]
            for start in range(0, len(counters), _PER_TRANSACTION)
        ]
        started = time.perf_counter()
        list(floor_pool.map(lambda batch: _conditional_adds(dynamodb, batch), batches))
        return time.perf_counter() - started

    # The warm-up at a small size: a full-size warm-up round would cost as much as a
    # measured one (tens of seconds) to pay first-use costs that do not grow with it.
    for gateway in (policy_on, policy_off):
        batch(gateway, messages=1, per_message=WARMUP_NUMBERS)
    floor(WARMUP_NUMBERS)
    samples = alternate(
        {
            "policy_on": lambda: batch(policy_on),
            "policy_off": lambda: batch(policy_off),
            "counter_updates_by_hand": floor,
        },
        runs,
        warmup=0,
    )
    floor_pool.shutdown()
    return {
        "rounds": runs,
        "numbers": MESSAGES * PER_MESSAGE,
        "updates_per_number": updates_per_number,
        "seconds": {name: Summary.of(values).as_json() for name, values in samples.items()},
        "ratios": {
            "policy_on/policy_off": Summary.of(
                paired_ratios(samples["policy_on"], samples["policy_off"])
            ).as_json(),
            "counter_updates_by_hand/policy_off": Summary.of(
                paired_ratios(samples["counter_updates_by_hand"], samples["policy_off"])
            ).as_json(),
        },
    }


def _updates_per_number(policy: dict[str, Any]) -> int:
    """Counter updates a scattered number costs: one per `Number` limit, and one per
    `Prefix` limit (its block holds no other number of the round)."""
    return sum(1 for limit in policy["Limits"] if limit["Scope"] in ("Number", "Prefix"))


def _conditional_adds(dynamodb: Any, keys: list[str]) -> None:
    # The shape of the gateway's own counter updates (limit_counters): ADD under a
    # condition, with a TTL, a transaction of up to 100 counters.
    table, ttl = os.environ["PROTECTION_TABLE"], str(int(time.time()) + 3600)
    dynamodb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": table,
                    "Key": {"id": {"S": f"count#{key}"}},
                    "UpdateExpression": "ADD #n :one SET #ttl = :ttl",
                    "ConditionExpression": "attribute_not_exists(#n) OR #n <= :most",
                    "ExpressionAttributeNames": {"#n": "n", "#ttl": "expiration"},
                    "ExpressionAttributeValues": {
                        ":one": {"N": "1"},
                        ":ttl": {"N": ttl},
                        ":most": {"N": "4"},
                    },
                }
            }
            for key in keys
        ]
    )
