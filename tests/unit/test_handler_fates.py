"""Every message ends as exactly one of: sent, rejected to its caller, or parked in the
dead-letter queue with its reason — and nothing is sent twice."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from local_gateway.context import LocalContext
from sms_gateway.dead_letter import MAX_MESSAGE_BYTES
from sms_gateway.errors import (
    CredentialsError,
    IdempotencyKeyReusedError,
    MessageValidationError,
    OutOfTimeError,
    PermanentError,
    TransientError,
    UnknownOutcomeError,
)
from sms_gateway.gateway import Gateway
from sms_gateway.handler import lambda_handler
from tests.conftest import SANDBOX_ACCOUNT_ID, SANDBOX_SECRET
from tests.harness import message, sns_envelope, sns_event, sqs_event, sqs_record
from tests.unit.conftest import Aws
from uspeedo_sandbox import Fault, Sandbox

FLAKY = "UTA-FLAKY"  # the sandbox fails this template transiently
REFUSED = "UTA-REFUSED"  # the sandbox refuses this template (a permanent RetCode)


def _numbers(count: int, prefix: str = "+86138") -> list[str]:
    return [f"{prefix}{i:08d}" for i in range(count)]


def _failures(answer: dict[str, Any]) -> list[str]:
    return [item["itemIdentifier"] for item in answer["batchItemFailures"]]


# --- the mixed batch -------------------------------------------------------------------


def test_mixed_batch_reports_only_the_transient_record_and_parks_the_rest(
    gateway: Gateway, aws: Aws, sandbox: Sandbox, context: LocalContext
) -> None:
    sandbox.add_fault(Fault(kind="status", status=503, template_id=FLAKY))
    sandbox.add_fault(Fault(kind="retcode", ret_code=18017, template_id=REFUSED))
    valid = sqs_record(message("+8613800138000"))
    not_json = sqs_record("PhoneNumbers=+8613800138001")
    invalid = sqs_record(message("+8613800138002", SenderId="FAR-TOO-LONG-SENDER"))
    transient = sqs_record(message("+8613800138003", TemplateId=FLAKY))
    permanent = sqs_record(message("+8613800138004", TemplateId=REFUSED))
    enveloped = sqs_record(sns_envelope(message("+8613800138005")))

    answer = lambda_handler(
        sqs_event(valid, not_json, invalid, transient, permanent, enveloped), context
    )

    assert _failures(answer) == [transient["messageId"]]
    sent = sorted(n for m in sandbox.accepted for n in m.body["PhoneNumbers"])
    assert sent == ["(86)13800138000", "(86)13800138005"]
    parked = {p["Body"]: p["Attributes"] for p in aws.dead_letters()}
    assert set(parked) == {not_json["body"], invalid["body"], permanent["body"]}
    assert parked[not_json["body"]]["ErrorCode"] == "InvalidMessage"
    assert "$" in parked[not_json["body"]]["ErrorMessage"]
    assert parked[invalid["body"]]["ErrorCode"] == "InvalidMessage"
    assert "SenderId" in parked[invalid["body"]]["ErrorMessage"]
    assert parked[permanent["body"]]["ErrorCode"] == "ProviderRejected"
    assert parked[permanent["body"]]["RetCode"] == "18017"


def test_parked_message_keeps_the_producers_attributes(
    gateway: Gateway, aws: Aws, context: LocalContext
) -> None:
    record = sqs_record(
        message(SenderId="FAR-TOO-LONG-SENDER"), IdempotencyKey="order-7", Tenant="acme"
    )

    lambda_handler(sqs_event(record), context)

    [parked] = aws.dead_letters()
    assert parked["Attributes"]["IdempotencyKey"] == "order-7"
    assert parked["Attributes"]["Tenant"] == "acme"


def test_a_batch_that_fails_entirely_reports_every_record_without_raising(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    sandbox.set_fault(Fault(kind="status", status=503))
    records = [sqs_record(message(n)) for n in _numbers(3)]

    answer = lambda_handler(sqs_event(*records), context)

    assert sorted(_failures(answer)) == sorted(r["messageId"] for r in records)


# --- duplicates and idempotency --------------------------------------------------------


def test_duplicate_delivery_sends_once_and_replays(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    body = message("+8613800138000")

    first = lambda_handler(dict(body), context)
    second = lambda_handler(dict(body), context)

    assert len(sandbox.accepted) == 1
    assert first["IdempotentReplay"] is False
    assert second == {**first, "IdempotentReplay": True}


def test_same_message_through_two_doors_is_sent_once(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    body = message("+8613800138000")

    lambda_handler(sqs_event(sqs_record(body)), context)
    lambda_handler(sns_event(body), context)

    assert len(sandbox.accepted) == 1


def test_explicit_key_reused_with_another_message_is_refused(
    gateway: Gateway, aws: Aws, sandbox: Sandbox, context: LocalContext
) -> None:
    lambda_handler(message("+8613800138000", IdempotencyKey="order-1"), context)

    with pytest.raises(IdempotencyKeyReusedError):
        lambda_handler(message("+8613800138999", IdempotencyKey="order-1"), context)
    other = sqs_record(message("+8613800138999"), IdempotencyKey="order-1")
    answer = lambda_handler(sqs_event(other), context)

    assert _failures(answer) == []
    [parked] = aws.dead_letters()
    assert parked["Attributes"]["ErrorCode"] == "IdempotencyKeyReused"
    assert len(sandbox.accepted) == 1


def test_the_attribute_key_dedupes_messages_written_differently(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    lambda_handler(sqs_event(sqs_record(message("+8613800138000"), IdempotencyKey="k")), context)
    lambda_handler(sqs_event(sqs_record(message("(86)138 0013 8000"), IdempotencyKey="k")), context)

    assert len(sandbox.accepted) == 1


def test_a_partial_success_is_retried_without_resending_what_went_out(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    numbers = _numbers(2_500)
    sandbox.set_fault(Fault(kind="status", status=503, count=1))
    record = sqs_record(message(*numbers))

    first = lambda_handler(sqs_event(record), context)
    sent_first = len(sandbox.accepted)
    second = lambda_handler(sqs_event(record), context)

    assert _failures(first) == [record["messageId"]]
    assert sent_first == 2  # three chunks of ≤ 1,000: one failed, two went out
    assert _failures(second) == []
    assert len(sandbox.accepted) == 3  # the retry sent only the failed chunk
    delivered = [n for m in sandbox.accepted for n in m.body["PhoneNumbers"]]
    assert len(delivered) == len(set(delivered)) == 2_500
    assert sorted(len(m.body["PhoneNumbers"]) for m in sandbox.accepted) == [500, 1000, 1000]


def test_the_result_of_a_retried_chunked_message_names_every_session(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    sandbox.set_fault(Fault(kind="status", status=503, count=1))
    body = message(*_numbers(2_500), IdempotencyKey="big-1")

    with pytest.raises(TransientError):
        lambda_handler(dict(body), context)
    result = lambda_handler(dict(body), context)

    assert sorted(result["SessionNos"]) == sorted(m.session_no for m in sandbox.accepted)
    assert result["PhoneCount"] == 2_500
    assert result["IdempotentReplay"] is False


# --- the provider's answers ------------------------------------------------------------


def test_credentials_refused_refetch_the_secret_once_then_use_the_rotated_one(
    gateway: Gateway, aws: Aws, sandbox: Sandbox, context: LocalContext
) -> None:
    aws.put_secret("stale-secret")
    fetches: list[str] = []
    aws.secretsmanager.meta.events.register(
        "before-call.secrets-manager.GetSecretValue", lambda **_: fetches.append("get")
    )

    with pytest.raises(CredentialsError) as refused:
        lambda_handler(message("+8613800138000"), context)
    assert refused.value.ret_code == 171
    assert len(fetches) == 2  # the first read, then one forced refresh: no loop

    aws.put_secret(SANDBOX_SECRET)  # the operator rotates the secret
    result = lambda_handler(message("+8613800138001"), context)

    assert len(fetches) == 3  # the cached stale key was refused once, then refreshed
    assert [m.session_no for m in sandbox.accepted] == result["SessionNos"]


def test_a_message_naming_an_account_the_provider_refuses_is_parked_not_retried(
    gateway: Gateway, aws: Aws, sandbox: Sandbox, context: LocalContext
) -> None:
    record = sqs_record(message("+8613800138000", AccountId=SANDBOX_ACCOUNT_ID + 1))

    answer = lambda_handler(sqs_event(record), context)

    assert _failures(answer) == []  # no retry: no rotation makes that account ours
    assert sandbox.accepted == []
    [parked] = aws.dead_letters()
    assert parked["Attributes"]["ErrorCode"] == "ProviderRejected"
    assert parked["Attributes"]["RetCode"] == "172"
    assert "AccountId" in parked["Attributes"]["ErrorMessage"]


def test_the_secrets_own_account_refused_is_retried_as_credentials(
    gateway: Gateway, aws: Aws, sandbox: Sandbox, context: LocalContext
) -> None:
    # The message names the secret's account: an account problem is ours, not the message's.
    sandbox.set_fault(Fault(kind="retcode", ret_code=172))
    record = sqs_record(message("+8613800138000", AccountId=SANDBOX_ACCOUNT_ID))

    answer = lambda_handler(sqs_event(record), context)

    assert _failures(answer) == [record["messageId"]]
    assert aws.dead_letters() == []


def test_unknown_outcome_is_parked_and_never_resent_within_the_window(
    gateway: Gateway, aws: Aws, sandbox: Sandbox, context: LocalContext
) -> None:
    sandbox.set_fault(Fault(kind="drop", count=1))
    record = sqs_record(message("+8613800138000"))

    first = lambda_handler(sqs_event(record), context)
    second = lambda_handler(sqs_event(record), context)

    assert _failures(first) == _failures(second) == []
    assert len(sandbox.requests) == 1  # the redelivery did not call the provider again
    parked = aws.dead_letters()
    assert [p["Attributes"]["ErrorCode"] for p in parked] == ["ProviderOutcomeUnknown"] * 2


def test_direct_invoke_raises_typed_errors(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    with pytest.raises(MessageValidationError) as invalid:
        lambda_handler({"PhoneNumbers": ["+8613800138000"]}, context)
    assert [e.field for e in invalid.value.errors] == ["TemplateId"]

    sandbox.set_fault(Fault(kind="retcode", ret_code=18014, count=1))
    with pytest.raises(PermanentError) as refused:
        lambda_handler(message("+8613800138000"), context)
    assert refused.value.ret_code == 18014

    sandbox.set_fault(Fault(kind="hang", count=1))
    with pytest.raises(UnknownOutcomeError):
        lambda_handler(message("+8613800138001"), context)


def test_no_call_is_started_without_time_to_finish_it(gateway: Gateway, sandbox: Sandbox) -> None:
    with pytest.raises(OutOfTimeError):
        lambda_handler(message("+8613800138000"), LocalContext(remaining_ms=5_000))

    assert sandbox.requests == []


def test_sns_parks_what_cannot_be_sent_and_raises_only_what_to_retry(
    gateway: Gateway, aws: Aws, sandbox: Sandbox, context: LocalContext
) -> None:
    assert lambda_handler(sns_event("not json"), context) == {"Outcomes": ["parked"]}
    [parked] = aws.dead_letters()
    assert parked["Body"] == "not json"

    sandbox.set_fault(Fault(kind="status", status=503))
    with pytest.raises(TransientError):
        lambda_handler(sns_event(message("+8613800138000")), context)


def test_parked_body_is_the_delivered_body_unchanged(
    gateway: Gateway, aws: Aws, context: LocalContext
) -> None:
    envelope = sns_envelope(json.dumps({"PhoneNumbers": []}))

    lambda_handler(sqs_event(sqs_record(envelope)), context)

    [parked] = aws.dead_letters()
    assert parked["Body"] == envelope


# --- a message near SQS's size limit ---------------------------------------------------


def _enforce_sqs_size_limit(aws: Aws) -> None:
    """What SQS checks and moto does not: the body plus every attribute's name, data type
    and value within MAX_MESSAGE_BYTES (UTF-8)."""

    def check(params: dict[str, Any], **_: Any) -> None:
        size = len(params["MessageBody"].encode()) + sum(
            len(name.encode())
            + len(value["DataType"].encode())
            + len(value["StringValue"].encode())
            for name, value in params.get("MessageAttributes", {}).items()
        )
        if size > MAX_MESSAGE_BYTES:
            raise ClientError(
                {"Error": {"Code": "InvalidParameterValue", "Message": "Message too long"}},
                "SendMessage",
            )

    aws.sqs.meta.events.register("provide-client-params.sqs.SendMessage", check)


def _body_of(size: int) -> str:
    """An invalid message (unknown field) of exactly `size` bytes."""
    skeleton = json.dumps({**message("+8613800138000"), "Padding": ""})
    return json.dumps({**message("+8613800138000"), "Padding": "x" * (size - len(skeleton))})


def _park_near_the_limit(aws: Aws, context: LocalContext, spare: int) -> dict[str, Any]:
    """Park an invalid message `spare` bytes short of the limit; what was parked."""
    body = _body_of(MAX_MESSAGE_BYTES - spare)
    record = sqs_record(body, IdempotencyKey="order-7", Tenant="acme")

    answer = lambda_handler(sqs_event(record), context)

    assert _failures(answer) == []
    [parked] = aws.dead_letters()
    assert parked["Body"] == body
    assert parked["Attributes"]["ErrorCode"] == "InvalidMessage"
    return dict(parked["Attributes"])


def _sizes(attributes: dict[str, str]) -> dict[str, int]:
    """Each attribute's share of the message size (all are Strings here)."""
    return {
        name: len(name) + len("String") + len(value.encode()) for name, value in attributes.items()
    }


def test_a_message_near_the_size_limit_is_parked_with_its_reason(
    gateway: Gateway, aws: Aws, context: LocalContext
) -> None:
    _enforce_sqs_size_limit(aws)
    full = _park_near_the_limit(aws, context, spare=10_000)
    size = _sizes(full)
    ours = size["ErrorCode"] + size["ErrorMessage"]

    # The producer's attributes go first, IdempotencyKey last; then OriginalMessageId; then
    # the reason's text is shortened; ErrorCode always stays.
    original = "OriginalMessageId"
    assert set(full) == {"ErrorCode", "ErrorMessage", "IdempotencyKey", "Tenant", original}
    # (Each park is a new SQS message: its OriginalMessageId differs, its size does not.)
    kept = _park_near_the_limit(aws, context, ours + size["IdempotencyKey"] + size[original])
    assert set(kept) == {"ErrorCode", "ErrorMessage", "IdempotencyKey", original}
    assert kept["ErrorMessage"] == full["ErrorMessage"]
    kept = _park_near_the_limit(aws, context, ours + size[original])
    assert set(kept) == {"ErrorCode", "ErrorMessage", original}
    assert kept["ErrorMessage"] == full["ErrorMessage"]
    assert _park_near_the_limit(aws, context, ours) == {
        k: full[k] for k in ("ErrorCode", "ErrorMessage")
    }
    shortened = _park_near_the_limit(aws, context, ours - 20)
    assert set(shortened) == {"ErrorCode", "ErrorMessage"}
    assert shortened["ErrorMessage"].endswith("…")
    assert full["ErrorMessage"].startswith(shortened["ErrorMessage"][:-1])
    assert _park_near_the_limit(aws, context, size["ErrorCode"]) == {"ErrorCode": "InvalidMessage"}
