"""Nesting bombs, on every door: a message body, an SNS envelope or a provider answer that
nests arrays deeper than any parser should follow. Each ends as the contract names it —
never a bare RecursionError, a 500, a silent item failure or a second SMS."""

from __future__ import annotations

import json
from typing import Any

import pytest

from local_gateway.context import LocalContext
from sms_gateway.errors import MessageValidationError, UnknownOutcomeError
from sms_gateway.gateway import Gateway
from sms_gateway.handler import lambda_handler
from sms_gateway.json_input import MAX_DEPTH
from tests.harness import (
    api_event,
    message,
    sns_envelope,
    sns_event,
    sqs_event,
    sqs_record,
)
from tests.unit.conftest import Aws
from uspeedo_sandbox import Fault, Sandbox

# Deep enough for Python 3.13's parser too (about 10,000 levels do it there).
BOMB_DEPTH = 100_000
BOMB = "[" * BOMB_DEPTH + "]" * BOMB_DEPTH


def _nested_message(depth: int) -> str:
    """A message whose TemplateParams[0] nests `depth` arrays: valid JSON, small text."""
    text = json.dumps(message("+8613800138000", params=["__NEST__"]))
    return text.replace('"__NEST__"', "[" * depth + "]" * depth)


def _parked_codes(aws: Aws) -> list[tuple[str, str]]:
    return [(m["Attributes"]["ErrorCode"], m["Body"]) for m in aws.dead_letters()]


def _api(event: dict[str, Any], context: LocalContext) -> tuple[int, dict[str, Any]]:
    answer = lambda_handler(event, context)
    return answer["statusCode"], json.loads(answer["body"])


# --- message bodies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [BOMB, _nested_message(BOMB_DEPTH), _nested_message(MAX_DEPTH + 1)],
    ids=["bare-bomb", "bomb-in-a-field", "just-too-deep"],
)
@pytest.mark.parametrize("door", ["sqs", "sns-in-sqs"])
def test_a_deep_body_from_the_queue_is_parked_as_invalid_and_not_retried(
    gateway: Gateway,
    aws: Aws,
    sandbox: Sandbox,
    context: LocalContext,
    body: str,
    door: str,
) -> None:
    record = sqs_record(body if door == "sqs" else sns_envelope(body))

    answer = lambda_handler(sqs_event(record), context)

    assert answer["batchItemFailures"] == []
    assert _parked_codes(aws) == [("InvalidMessage", record["body"])]
    assert sandbox.requests == []


def test_an_sns_envelope_that_is_itself_a_bomb_is_parked(
    gateway: Gateway, aws: Aws, sandbox: Sandbox, context: LocalContext
) -> None:
    # Not recognisable as an envelope: parked whole, as an unreadable message.
    record = sqs_record(BOMB)

    assert lambda_handler(sqs_event(record), context)["batchItemFailures"] == []
    assert [code for code, _ in _parked_codes(aws)] == ["InvalidMessage"]


def test_a_deep_body_from_sns_is_parked_and_nothing_escapes(
    gateway: Gateway, aws: Aws, sandbox: Sandbox, context: LocalContext
) -> None:
    answer = lambda_handler(sns_event(_nested_message(BOMB_DEPTH)), context)

    assert answer == {"Outcomes": ["parked"]}
    assert [code for code, _ in _parked_codes(aws)] == ["InvalidMessage"]
    assert sandbox.requests == []


def test_the_dead_letter_reason_names_the_rule(
    gateway: Gateway, aws: Aws, context: LocalContext
) -> None:
    lambda_handler(sqs_event(sqs_record(BOMB)), context)

    (parked,) = aws.dead_letters()
    assert parked["Attributes"]["ErrorMessage"] == (
        f"invalid message: $: the body nests arrays and objects more than {MAX_DEPTH} levels deep"
    )


def test_a_deep_api_body_answers_400_naming_the_rule(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    status, body = _api(api_event(body=_nested_message(BOMB_DEPTH)), context)

    assert status == 400
    assert body["Error"]["Code"] == "InvalidMessage"
    assert [(f["Field"], f["Rule"]) for f in body["Error"]["Fields"]] == [("$", "too_deep")]
    assert sandbox.requests == []


def test_a_deep_direct_invoke_raises_the_validation_error(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    deep: Any = []
    for _ in range(MAX_DEPTH + 5):
        deep = [deep]
    event = message("+8613800138000", params=[deep])

    with pytest.raises(MessageValidationError) as raised:
        lambda_handler(event, context)

    assert [(e.field, e.rule) for e in raised.value.errors] == [("$", "too_deep")]
    assert sandbox.requests == []


def test_a_body_at_the_depth_limit_is_judged_by_its_fields(
    gateway: Gateway, context: LocalContext
) -> None:
    # The bound refuses only what is deeper: at the limit, the model names the field.
    with pytest.raises(MessageValidationError) as raised:
        lambda_handler(json.loads(_nested_message(MAX_DEPTH - 2)), context)

    assert [e.field for e in raised.value.errors] == ["TemplateParams[0]"]


# --- the provider's answer ---------------------------------------------------------------


def test_a_bomb_from_the_provider_via_sqs_is_parked_once_and_never_resent(
    gateway: Gateway, aws: Aws, sandbox: Sandbox, context: LocalContext
) -> None:
    sandbox.set_fault(Fault(kind="nested"))
    record = sqs_record(message("+8613800138000"))

    first = lambda_handler(sqs_event(record), context)
    again = lambda_handler(sqs_event(record), context)  # the queue delivers it twice

    assert first["batchItemFailures"] == again["batchItemFailures"] == []
    assert len(sandbox.requests) == 1
    assert [code for code, _ in _parked_codes(aws)] == ["ProviderOutcomeUnknown"] * 2


def test_a_bomb_from_the_provider_via_the_api_is_an_unknown_outcome_sent_once(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    sandbox.set_fault(Fault(kind="nested"))
    event = api_event(body=message("+8613800138000"), headers={"Idempotency-Key": "bomb-1"})

    answers = [_api(event, context), _api(event, context)]  # the client retries

    assert [status for status, _ in answers] == [502, 502]
    assert {body["Error"]["Code"] for _, body in answers} == {"ProviderOutcomeUnknown"}
    assert len(sandbox.requests) == 1


def test_a_bomb_from_the_provider_on_direct_invoke_raises_unknown_outcome(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    sandbox.set_fault(Fault(kind="nested"))

    with pytest.raises(UnknownOutcomeError):
        lambda_handler(message("+8613800138000"), context)
    assert len(sandbox.requests) == 1
