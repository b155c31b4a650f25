"""Benchmark 2 — one 10-record SQS batch with the provider at 200 ms a call, against one
call made by hand: records are sent concurrently, so the batch should cost about one call
(sequential processing would cost ten).

The container is warm (the first round, which builds the gateway, is dropped): this is the
latency a message meets in the queue's steady state, idempotency records included.
The DynamoDB stand-in (moto, one Python process) answers ten concurrent calls one after
another, which real DynamoDB does not; two more variants show its share.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Final

from benchmarks.services import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ACCOUNT_ID, Services
from benchmarks.stats import Summary, alternate, paired_ratios
from benchmarks.worker import run_worker

PROVIDER_DELAY_S: Final = 0.2
BATCH_SIZE: Final = 10
GOAL: Final = 1.5


def run(services: Services, runs: int) -> dict[str, Any]:
    """Measure in a worker; check that every message reached the sandbox."""
    services.sandbox.reset(slow_s=PROVIDER_DELAY_S)
    result = run_worker("batch_latency", runs, services)
    # Per round: four 10-record batches (as deployed, idempotency off, policy off, events
    # off), a one-record batch, one call, ten calls by hand.
    expected = (runs + 1) * (BATCH_SIZE * 4 + 1 + 1 + BATCH_SIZE)
    accepted = services.sandbox.accepted_count()
    if accepted != expected:
        raise RuntimeError(f"batch latency: sandbox accepted {accepted}, expected {expected}")
    services.sandbox.reset()
    result["provider_delay_s"] = PROVIDER_DELAY_S
    result["goal"] = GOAL
    return result


def _without(*names: str) -> dict[str, str]:
    """The environment less `names`: the same gateway with a feature off."""
    return {key: value for key, value in os.environ.items() if key not in names}


def measure(runs: int) -> dict[str, Any]:
    """The worker's half. Alternates: the batch as deployed; the same batch with
    idempotency off (what the DynamoDB stand-in costs); a one-record batch; one call by
    hand (the baseline); and ten records by hand on ten threads, each claimed and
    completed in DynamoDB like the gateway does (the floor with idempotency)."""
    import boto3

    from benchmarks.bare import BareSender
    from local_gateway.context import LocalContext
    from sms_gateway import handler
    from sms_gateway.gateway import Gateway, gateway_from_env
    from tests.harness import message, sqs_event, sqs_record

    endpoint, table = os.environ["USPEEDO_ENDPOINT"], os.environ["IDEMPOTENCY_TABLE"]
    bare = BareSender(endpoint, ACCESS_KEY_ID, ACCESS_KEY_SECRET, ACCOUNT_ID)
    dynamodb = boto3.client("dynamodb")
    pool = ThreadPoolExecutor(BATCH_SIZE)
    deployed = gateway_from_env()  # idempotency and protection on, as the stack deploys it
    no_ledger = gateway_from_env(_without("IDEMPOTENCY_TABLE"))
    policy_off = gateway_from_env(_without("TRAFFIC_POLICY_PARAMETER", "PROTECTION_TABLE"))
    events_off = gateway_from_env(_without("RECEIPTS_QUEUE_URL", "EVENT_BUS_NAME"))
    counter = iter(range(10**9))

    def fresh() -> dict[str, Any]:
        # A new number and one-time code per message: a repeat would be an idempotent
        # replay, and one number (or one block of adjacent ones) would meet the policy's
        # limits. The serial's digits reversed spread the numbers over blocks.
        serial = f"{next(counter):08d}"
        return message(f"(86)138{serial[::-1]}", params=[serial[-6:]])

    def batch(size: int, gateway: Gateway) -> Callable[[], float]:
        def one() -> float:
            handler.use_gateway(gateway)
            event = sqs_event(*(sqs_record(fresh()) for _ in range(size)))
            started = time.perf_counter()
            answer = handler.lambda_handler(event, LocalContext())
            elapsed = time.perf_counter() - started
            if answer != {"batchItemFailures": []}:
                raise RuntimeError(f"the batch was not sent: {answer}")
            return elapsed

        return one

    def one_call() -> float:
        fields = fresh()
        started = time.perf_counter()
        bare.send(fields)
        return time.perf_counter() - started

    def claimed_send(fields: dict[str, Any]) -> None:
        key = {"id": {"S": uuid.uuid4().hex}}
        dynamodb.put_item(
            TableName=table,
            Item={**key, "status": {"S": "INPROGRESS"}},
            ConditionExpression="attribute_not_exists(id)",
        )
        session_no = bare.send(fields)
        dynamodb.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET #s = :s, #d = :d",
            ExpressionAttributeNames={"#s": "status", "#d": "data"},
            ExpressionAttributeValues={":s": {"S": "COMPLETED"}, ":d": {"S": session_no}},
        )

    def by_hand() -> float:
        bodies = [fresh() for _ in range(BATCH_SIZE)]
        started = time.perf_counter()
        list(pool.map(claimed_send, bodies))
        return time.perf_counter() - started

    samples = alternate(
        {
            "batch10": batch(BATCH_SIZE, deployed),
            "batch10_no_idempotency": batch(BATCH_SIZE, no_ledger),
            "batch10_policy_off": batch(BATCH_SIZE, policy_off),
            "batch10_events_off": batch(BATCH_SIZE, events_off),
            "batch1": batch(1, deployed),
            "one_call": one_call,
            "by_hand10": by_hand,
        },
        runs,
    )
    pool.shutdown()
    baseline = samples["one_call"]
    return {
        "seconds": {name: Summary.of(values).as_json() for name, values in samples.items()},
        "ratios": {
            f"{name}/one_call": Summary.of(paired_ratios(samples[name], baseline)).as_json()
            for name in (
                "batch10",
                "batch10_no_idempotency",
                "batch10_policy_off",
                "batch10_events_off",
                "batch1",
                "by_hand10",
            )
        }
        | {
            f"batch10/{name}": Summary.of(
                paired_ratios(samples["batch10"], samples[name])
            ).as_json()
            for name in ("batch10_policy_off", "batch10_events_off")
        },
    }
