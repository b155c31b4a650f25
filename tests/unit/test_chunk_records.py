"""The typed chunk path keeps the idempotency record's shape: records written as plain dicts
(before `ChunkOutcome` existed) still replay, and what is written now is the same shape."""

from __future__ import annotations

import json
from typing import Any

import pytest

from sms_gateway.chunks import ChunkOutcome
from sms_gateway.errors import UnknownOutcomeError
from sms_gateway.gateway import Gateway
from sms_gateway.idempotency import KEY_PREFIX, DynamoLedger
from sms_gateway.message_input import parse_message
from tests.harness import message
from tests.unit.conftest import TABLE, Aws
from uspeedo_sandbox import Sandbox

# What earlier versions stored as a chunk's result, one of each shape.
SENT_RECORD = {"Outcome": "sent", "SessionNo": "S-OLD", "PhoneCount": 1, "UserId": None}
BATCH_RECORD = {
    "Outcome": "sent",
    "SessionNo": "S-OLD-BATCH",
    "PhoneCount": 1,
    "UserId": None,
    "Refused": [{"Index": 1, "Reason": "number unreachable"}],
}
UNKNOWN_RECORD = {"Outcome": "unknown", "Reason": "no answer", "PhoneCount": 1}


@pytest.fixture(autouse=True)
def _lambda_context(gateway: Gateway, context: Any) -> None:
    gateway.register_lambda_context(context)


@pytest.mark.parametrize("record", [SENT_RECORD, BATCH_RECORD, UNKNOWN_RECORD])
def test_an_outcome_reads_and_writes_the_stored_shape(record: dict[str, Any]) -> None:
    assert ChunkOutcome.from_record(record).as_record() == record


def _store_as_before(gateway: Gateway, body: dict[str, Any], result: dict[str, Any]) -> None:
    """Write the message's first chunk's record as the dict-based ledger did."""
    ledger = gateway.ledger
    assert isinstance(ledger, DynamoLedger)
    [chunk] = gateway.sender.chunks_of(parse_message(body))
    ledger.store.configure(ledger.config, key_prefix=KEY_PREFIX)
    ledger.store.save_success(data=chunk.idempotency_payload(), result=result)


def test_a_record_written_before_replays(gateway: Gateway, aws: Aws, sandbox: Sandbox) -> None:
    body = message("+8613800138000")
    _store_as_before(gateway, body, SENT_RECORD)

    outcome = gateway.accept(body)

    assert outcome.as_result() == {
        "SessionNos": ["S-OLD"],
        "PhoneCount": 1,
        "IdempotentReplay": True,
    }
    assert sandbox.requests == []
    [item] = aws.dynamodb.scan(TableName=TABLE)["Items"]
    assert json.loads(item["data"]["S"]) == SENT_RECORD


def test_a_batch_record_written_before_replays_with_its_refusals(
    gateway: Gateway, sandbox: Sandbox
) -> None:
    body = {
        "Recipients": [
            {"PhoneNumber": "+8613800138000", "TemplateParams": ["1"]},
            {"PhoneNumber": "+8613900139000", "TemplateParams": ["2"]},
        ],
        "TemplateId": "UTA-OLD",
    }
    _store_as_before(gateway, body, BATCH_RECORD)

    result = gateway.accept(body).as_result()

    assert result["SessionNos"] == ["S-OLD-BATCH"]
    assert result["Failed"] == [{"PhoneNumber": "(86)13900139000", "Reason": "number unreachable"}]
    assert result["IdempotentReplay"] is True
    assert sandbox.requests == []


def test_an_unknown_outcome_written_before_is_never_resent(
    gateway: Gateway, sandbox: Sandbox
) -> None:
    body = message("+8613800138000")
    _store_as_before(gateway, body, UNKNOWN_RECORD)

    with pytest.raises(UnknownOutcomeError, match="no answer"):
        gateway.accept(body)
    assert sandbox.requests == []


def test_what_is_written_now_is_the_same_shape(
    gateway: Gateway, aws: Aws, sandbox: Sandbox
) -> None:
    gateway.accept(message("+8613800138000"))

    [item] = aws.dynamodb.scan(TableName=TABLE)["Items"]
    stored = json.loads(item["data"]["S"])
    assert stored == {
        "Outcome": "sent",
        "SessionNo": sandbox.accepted[0].session_no,
        "PhoneCount": 1,
        "UserId": None,
    }
