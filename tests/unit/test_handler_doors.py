"""Each door's happy path: SQS (raw and SNS-enveloped), SNS, API Gateway, direct invoke."""

from __future__ import annotations

import json

from local_gateway.context import LocalContext
from sms_gateway.credentialed_client import MAX_PARALLEL_CALLS
from sms_gateway.gateway import Gateway
from sms_gateway.handler import lambda_handler
from tests.harness import (
    api_event,
    load_event,
    message,
    sns_envelope,
    sqs_event,
    sqs_record,
)
from uspeedo_sandbox import Fault, Sandbox

SEED_CURL_BODY = {
    "Action": "SendUSMSMessage",
    "AccountId": 123,
    "PhoneNumbers": ["13800138000", "13100131000"],
    "TemplateParams": [123456, 10],
    "SenderId": "UCloud",
    "TemplateId": "UTA20210101xxxx",
    "UserId": "hGBCrtQw",
}


def test_sqs_fixture_is_sent_and_nothing_reported(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    answer = lambda_handler(load_event("sqsEvent"), context)

    assert answer == {"batchItemFailures": []}
    [sent] = sandbox.accepted
    assert sent.body["PhoneNumbers"] == ["(86)13800138000"]
    assert sent.body["TemplateParams"] == ["739201"]


def test_sns_enveloped_sqs_fixture_is_unwrapped_and_sent(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    answer = lambda_handler(load_event("snsSqsEvent"), context)

    assert answer == {"batchItemFailures": []}
    [sent] = sandbox.accepted
    assert sent.body["PhoneNumbers"] == ["(86)13900139000"]


def test_sns_fixture_is_sent(gateway: Gateway, sandbox: Sandbox, context: LocalContext) -> None:
    answer = lambda_handler(load_event("snsEvent"), context)

    assert answer == {"Outcomes": ["sent"]}
    [sent] = sandbox.accepted
    assert sent.body["PhoneNumbers"] == ["(86)13700137000"]
    assert sent.body["TemplateParams"] == ["264913"]


def test_api_fixture_is_sent_and_answers_the_result(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    answer = lambda_handler(load_event("apiGatewayProxyEvent"), context)

    assert answer["statusCode"] == 200
    result = json.loads(answer["body"])
    [sent] = sandbox.accepted
    assert result == {
        "SessionNos": [sent.session_no],
        "PhoneCount": 1,
        "UserId": "welcome-31",
        "IdempotentReplay": False,
    }


def test_api_base64_body(gateway: Gateway, sandbox: Sandbox, context: LocalContext) -> None:
    event = api_event(body={"PhoneNumbers": ["+14155550100"], "TemplateId": "T1"}, base64_body=True)

    answer = lambda_handler(event, context)

    assert answer["statusCode"] == 200
    assert sandbox.accepted[-1].body["PhoneNumbers"] == ["(1)4155550100"]


def test_seed_curl_body_as_a_direct_invoke(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    result = lambda_handler(SEED_CURL_BODY, context)

    [sent] = sandbox.accepted
    assert result == {
        "SessionNos": [sent.session_no],
        "PhoneCount": 2,
        "UserId": "hGBCrtQw",
        "IdempotentReplay": False,
    }
    assert sent.body == {
        "Action": "SendUSMSMessage",
        "AccountId": 123,
        "PhoneNumbers": ["(86)13800138000", "(86)13100131000"],
        "TemplateId": "UTA20210101xxxx",
        "TemplateParams": ["123456", "10"],
        "SenderId": "UCloud",
        "UserId": "hGBCrtQw",
    }


def test_a_ten_record_batch_is_sent_concurrently(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    # Each call takes 0.3 s: ten in a row would take 3 s, ten at once about 0.3 s. The
    # figure is the sandbox's count of calls in flight, not a clock.
    sandbox.set_fault(Fault(kind="slow", delay=0.3))
    records = [
        sqs_record({"PhoneNumbers": [f"+86138{i:08d}"], "TemplateId": "T1"}) for i in range(10)
    ]

    answer = lambda_handler(sqs_event(*records), context)

    assert answer == {"batchItemFailures": []}
    assert len(sandbox.accepted) == 10
    assert sandbox.max_in_flight >= 5


def test_the_provider_never_sees_more_than_ten_calls_in_flight(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    # Two messages of ten chunks each: twenty chunks, worked on by more threads than there
    # are provider slots (the others claim their records meanwhile). The sandbox counts.
    # Each call takes long enough (0.8 s) that all twenty would overlap without the slots,
    # however slowly a loaded machine checks the numbers and claims the records.
    sandbox.set_fault(Fault(kind="slow", delay=0.8))
    records = [sqs_record(message(*(f"+86138{m}{i:07d}" for i in range(10_000)))) for m in range(2)]

    answer = lambda_handler(sqs_event(*records), context)

    assert answer == {"batchItemFailures": []}
    assert len(sandbox.accepted) == 20
    assert sandbox.max_in_flight == MAX_PARALLEL_CALLS


def test_sns_envelope_with_idempotency_attribute(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    body = sns_envelope(
        {"PhoneNumbers": ["+8613800138000"], "TemplateId": "T1"}, IdempotencyKey="k-1"
    )

    first = lambda_handler(sqs_event(sqs_record(body)), context)
    second = lambda_handler(sqs_event(sqs_record(body)), context)

    assert first == second == {"batchItemFailures": []}
    assert len(sandbox.accepted) == 1
