"""The checker bites: every breach of the contract it exists for is reported — first on
hand-made observations, then on the real gateway broken on purpose (a passing matrix
means something only if a broken gateway fails it)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from sms_gateway.chunk_calls import ChunkCalls
from sms_gateway.chunks import ChunkOutcome, ChunkRequest
from sms_gateway.dead_letter import DeadLetterQueue
from sms_gateway.errors import GatewayError
from sms_gateway.gateway import SENT as DELIVERED
from sms_gateway.gateway import Gateway
from sms_gateway.idempotency import DynamoLedger, SendChunk
from tests.reliability.invariants import (
    PARKED,
    REDRIVEN,
    REJECTED,
    SENT,
    UNKNOWN,
    Observed,
    judge,
    tally,
)
from tests.reliability.matrix import run_cell
from tests.reliability.scenarios import SCENARIOS, Scenario
from tests.reliability.world import World

REASON = {"ErrorCode": "ProviderRejected", "ErrorMessage": "refused | RetCode 18017"}
UNKNOWN_REASON = {"ErrorCode": "ProviderOutcomeUnknown", "ErrorMessage": "no answer"}


@pytest.mark.parametrize(
    ("observed", "category"),
    [
        (Observed("m", "sqs", "acked", accepted=1), SENT),
        (Observed("m", "sns", "acked", [REASON]), PARKED),
        (Observed("m", "sqs", "exhausted", [{}]), REDRIVEN),
        (Observed("m", "sqs", "acked", [UNKNOWN_REASON], accepted=1), UNKNOWN),
        (Observed("m", "sns", "acked", [UNKNOWN_REASON], accepted=0), UNKNOWN),
        (Observed("m", "api", "sent", accepted=1), SENT),
        (Observed("m", "direct", "rejected"), REJECTED),
        (Observed("m", "api", "unknown", accepted=1), UNKNOWN),
    ],
)
def test_each_fate_the_contract_allows_passes(observed: Observed, category: str) -> None:
    assert judge(observed) == (category, [])


@pytest.mark.parametrize(
    ("observed", "breach"),
    [
        (Observed("m", "sqs", "acked", accepted=2), "sent 2 times"),
        (Observed("m", "api", "unknown", accepted=2), "sent 2 times"),
        (Observed("m", "sqs", "acked", accepted=0), "lost"),
        (Observed("m", "direct", "sent", accepted=0), "lost"),
        (Observed("m", "sqs", "exhausted"), "not in the dead-letter queue"),
        (Observed("m", "sqs", "acked", [{}], accepted=0), "parked without a reason"),
        (Observed("m", "sns", "acked", [{"ErrorCode": "X"}]), "no ErrorMessage"),
        (Observed("m", "sqs", "acked", [REASON, REASON]), "2 times"),
        (Observed("m", "sns", "acked", [REASON], accepted=1), "reported as parked"),
        (Observed("m", "sqs", "exhausted", [{}], accepted=1), "reported as redriven"),
        (Observed("m", "api", "rejected", accepted=1), "reported as rejected"),
        (Observed("m", "api", "sent", [REASON], accepted=1), "yet was parked"),
        (
            Observed("m", "sqs", "acked", [UNKNOWN_REASON], asked_after_unknown=1),
            "after an unknown",
        ),
        (Observed("m", "direct", "crash"), "no fate"),
        (Observed("m", "sns", "nothing"), "no fate"),
    ],
)
def test_each_breach_is_reported(observed: Observed, breach: str) -> None:
    _, problems = judge(observed)

    assert any(breach in problem for problem in problems), problems


def test_the_tally_counts_duplicates_and_the_lost() -> None:
    judged = tally(
        [
            Observed("a", "sqs", "acked", accepted=3),
            Observed("b", "sqs", "acked", accepted=0),
            Observed("c", "sqs", "exhausted"),
            Observed("d", "api", "sent", accepted=1),
        ]
    )

    assert judged.duplicates == 2
    assert judged.lost == 2  # b was acknowledged unsent, c vanished
    assert judged.counts[SENT] == 3
    assert len(judged.violations) == 3


# --- the real gateway, broken on purpose -------------------------------------------------


def _scenario(name: str) -> Scenario:
    return next(s for s in SCENARIOS if s.id == name)


def _forgetful_ledger(self: DynamoLedger, chunk: ChunkRequest, send: SendChunk) -> ChunkOutcome:
    return send(chunk)  # idempotency off


def _swallow_retryable(self: Gateway, delivery: Any, remaining_ms: Any = None) -> str:
    try:
        self.accept(delivery.message, key=delivery.idempotency_key, remaining_ms=remaining_ms)
    except GatewayError as exc:
        if not exc.retryable:
            raise
    return DELIVERED  # a transient failure acknowledged as if sent


def _park_without_reason(
    self: DeadLetterQueue,
    body: str,
    error: GatewayError,
    original_attributes: Mapping[str, Mapping[str, Any]] | None = None,
    original_message_id: str | None = None,
) -> None:
    self._client().send_message(QueueUrl=self.queue_url, MessageBody=body)


@pytest.mark.parametrize(
    ("target", "mutation", "scenario", "door", "breach"),
    [
        (DynamoLedger, ("run", _forgetful_ledger), "duplicate-delivery", "sns", "sent 2 times"),
        (DynamoLedger, ("run", _forgetful_ledger), "late-answer", "api", "sent"),
        (Gateway, ("send_or_park", _swallow_retryable), "http-503", "sqs", "lost"),
        (
            DeadLetterQueue,
            ("park", _park_without_reason),
            "retcode-18017",
            "sqs",
            "without a reason",
        ),
    ],
    ids=["no-idempotency", "no-idempotency-unknown", "swallowed-retry", "reasonless-park"],
)
def test_a_broken_gateway_fails_the_matrix(
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    target: type,
    mutation: tuple[str, Callable[..., Any]],
    scenario: str,
    door: str,
    breach: str,
) -> None:
    monkeypatch.setattr(target, *mutation)

    row = run_cell(world, _scenario(scenario), door)

    assert any(breach in problem for problem in row.tally.violations), row.tally.violations


def test_a_gateway_that_logs_a_request_fails_the_leak_check(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = ChunkCalls.send

    def leaky(self: ChunkCalls, chunk: ChunkRequest, remaining_ms: Any = None) -> ChunkOutcome:
        logging.getLogger("sms_gateway.sender").debug("sending %s", chunk.body)
        return original(self, chunk, remaining_ms)

    monkeypatch.setattr(ChunkCalls, "send", leaky)
    mark = world.logs.mark()
    try:
        with pytest.raises(AssertionError, match="personal or secret values reached the logs"):
            run_cell(world, _scenario("none"), "sqs")
    finally:
        # Planted on purpose and caught: kept out of the package's final sweep.
        world.logs.discard_since(mark)
