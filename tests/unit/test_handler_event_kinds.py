"""Events no door takes are refused by name, counted and logged; the four doors, and the
model's judgement of anything that may be a message, are as before.

The foreign events in `tests/events/` are AWS Powertools' own samples
(aws-powertools/powertools-lambda-python, `tests/events/`, names kept).
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from local_gateway.context import LocalContext
from sms_gateway import handler
from sms_gateway.errors import MessageValidationError, UnsupportedEventError
from sms_gateway.event_kinds import EventKind, kind_of
from sms_gateway.gateway import Gateway
from sms_gateway.handler import lambda_handler
from sms_gateway.message import MESSAGE_FIELDS
from tests.harness import EVENTS, api_event, load_event, message
from tests.unit.conftest import Aws, log_lines
from uspeedo_sandbox import Sandbox

# Powertools' sample events, by the kind they are and the name the refusal gives them.
FOREIGN: dict[str, tuple[EventKind, str]] = {
    "s3Event": (EventKind.S3, "an S3 event"),
    "eventBridgeEvent": (EventKind.EVENTBRIDGE, "an EventBridge event"),
    "kinesisStreamEvent": (EventKind.KINESIS, "a Kinesis stream event"),
    "dynamoStreamEvent": (EventKind.DYNAMODB, "a DynamoDB stream event"),
    "apiGatewayProxyV2Event": (EventKind.HTTP_API, "an API Gateway HTTP API"),
    "lambdaFunctionUrlEvent": (EventKind.FUNCTION_URL, "a Lambda function URL event"),
    "albEvent": (EventKind.ALB, "an Application Load Balancer event"),
    "apiGatewayWebSocketApiMessage": (EventKind.WEBSOCKET, "an API Gateway WebSocket API"),
    "cloudWatchLogEvent": (EventKind.CLOUDWATCH_LOGS, "a CloudWatch Logs event"),
    "kafkaEventMsk": (EventKind.KAFKA, "a Kafka event"),
    "kinesisFirehosePutEvent": (EventKind.FIREHOSE, "a Kinesis Data Firehose event"),
    "cognitoCustomSMSSenderEvent": (EventKind.COGNITO, "a Cognito trigger event"),
    "cloudformationCustomResourceCreate": (
        EventKind.CLOUDFORMATION,
        "a CloudFormation custom resource event",
    ),
}
# The project's own fixtures, one per door (SQS twice: raw and SNS-enveloped).
DOORS: dict[str, EventKind] = {
    "sqsEvent": EventKind.SQS,
    "snsSqsEvent": EventKind.SQS,
    "snsEvent": EventKind.SNS,
    "apiGatewayProxyEvent": EventKind.API,
}


def _emf_blobs(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith('{"_aws"')]


def _strings(value: Any) -> list[str]:
    """Every string leaf of a JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def test_every_fixture_is_a_door_or_a_named_foreign_event() -> None:
    names = {path.stem for path in Path(EVENTS).glob("*.json")}

    assert names == set(FOREIGN) | set(DOORS)


@pytest.mark.parametrize("name", sorted(FOREIGN))
def test_a_foreign_event_is_refused_by_name_counted_and_logged(
    gateway: Gateway,
    sandbox: Sandbox,
    aws: Aws,
    context: LocalContext,
    logs: io.StringIO,
    capsys: pytest.CaptureFixture[str],
    name: str,
) -> None:
    kind, description = FOREIGN[name]
    event = load_event(name)

    with pytest.raises(UnsupportedEventError) as refused:
        lambda_handler(event, context)

    error = refused.value
    text = str(error)
    assert text.startswith(description)
    assert f"{kind.description} is not supported: send messages through the SNS topic" in text
    assert error.code == "UnsupportedEvent"
    assert error.event_type == kind.value
    assert not error.retryable
    # Never a judgement of the event as a message: none of its own keys is named.
    assert not [k for k in event if re.search(rf"\b{re.escape(k)}\b", text)], text
    # Counted by type...
    blobs = [b for b in _emf_blobs(capsys.readouterr().out) if "UnsupportedEvents" in b]
    assert [(b["EventType"], b["UnsupportedEvents"]) for b in blobs] == [(kind.value, [1.0])]
    assert blobs[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0] == ["service", "EventType"]
    # ...and logged by type, never by content.
    [warning] = [line for line in log_lines(logs) if "event_type" in line]
    assert (warning["level"], warning["event_type"]) == ("WARNING", kind.value)
    assert warning["event_kind"] == kind.value
    logged = logs.getvalue()
    # (The context's ARN, logged with every line, holds the samples' account id.)
    content = [s for s in _strings(event) if len(s) >= 12 and s not in context.invoked_function_arn]
    assert not [s for s in content if s in logged]
    assert sandbox.requests == []
    assert aws.dead_letters() == []


def test_a_foreign_event_is_refused_without_building_the_gateway(
    monkeypatch: pytest.MonkeyPatch, context: LocalContext
) -> None:
    # No environment, no gateway: building one would fail with a configuration error.
    monkeypatch.delenv("USPEEDO_SECRET_ID", raising=False)
    handler.use_gateway(None)

    with pytest.raises(UnsupportedEventError, match=r"^an S3 event is not supported"):
        lambda_handler(load_event("s3Event"), context)


@pytest.mark.parametrize(
    "event",
    [
        {"Version": "1", "Payload": {"To": "+8613800138000"}},
        {"Records": [{"eventSource": "aws:codestar", "data": "x"}]},
        {"Records": []},
    ],
    ids=["unknown-keys", "records-of-another-source", "empty-records"],
)
def test_a_dict_naming_no_message_field_is_an_unrecognised_event(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext, event: dict[str, Any]
) -> None:
    with pytest.raises(UnsupportedEventError) as refused:
        lambda_handler(event, context)

    assert str(refused.value).startswith(
        ("an event of an unrecognised shape is not supported", "an event of records from")
    )
    assert sandbox.requests == []


@pytest.mark.parametrize(("name", "kind"), sorted(DOORS.items()))
def test_the_doors_fixtures_keep_their_kind(name: str, kind: EventKind) -> None:
    assert kind_of(load_event(name), MESSAGE_FIELDS) is kind


@pytest.mark.parametrize(
    "event",
    [
        message(),
        {"phoneNumbers": ["+8613800138000"], "templateId": "x"},
        {"phone_numbers": ["+8613800138000"]},
        {**message(), "requestContext": {}},  # a stray field is the model's to name
        {},
        [],
        "PhoneNumbers",
        42,
        None,
    ],
    ids=["message", "typo", "snake-case", "stray-field", "empty", "list", "string", "int", "null"],
)
def test_what_may_be_a_message_is_a_direct_invoke(event: Any) -> None:
    assert kind_of(event, MESSAGE_FIELDS) is EventKind.DIRECT


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        # A REST authorizer's request carries httpMethod and requestContext too.
        (
            {**api_event(), "type": "REQUEST", "methodArn": "arn:aws:execute-api:x"},
            EventKind.AUTHORIZER,
        ),
        # A REST event missing a part is still one (the API answers 400), not a message.
        ({**api_event(), "requestContext": None}, EventKind.API),
        ({k: v for k, v in api_event().items() if k != "httpMethod"}, EventKind.API),
        ({k: v for k, v in api_event().items() if k != "requestContext"}, EventKind.API),
        # AWS Config names `accountId` (a message field, case aside): its shape wins.
        (
            {"configRuleName": "r", "invokingEvent": "{}", "accountId": "123456789012"},
            EventKind.CONFIG,
        ),
        (
            {"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}},
            EventKind.EVENTBRIDGE,
        ),
        ({"eventSource": "aws:rmq", "rmqMessagesByQueue": {}}, EventKind.MQ),
        ({"Records": [{"eventSource": "aws:s3"}]}, EventKind.S3),
    ],
    ids=[
        "rest-authorizer",
        "rest-null-context",
        "rest-no-method",
        "rest-no-context",
        "config-rule",
        "scheduled",
        "rabbitmq",
        "s3-minimal",
    ],
)
def test_shapes_beyond_the_fixtures(event: dict[str, Any], kind: EventKind) -> None:
    assert kind_of(event, MESSAGE_FIELDS) is kind


def test_every_kind_has_a_description_and_only_the_doors_are_supported() -> None:
    assert {k for k in EventKind if k.supported} == set(DOORS.values()) | {EventKind.DIRECT}
    assert all(re.match(r"^an? [A-Za-z]", k.description) for k in EventKind)


def test_a_typod_message_still_gets_the_models_did_you_mean(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    with pytest.raises(MessageValidationError) as refused:
        lambda_handler({"phoneNumbers": ["+8613800138000"], "templateId": "x"}, context)

    by_field = {e.field: e for e in refused.value.errors}
    assert by_field["phoneNumbers"].rule == "unknown_field"
    assert "did you mean PhoneNumbers?" in by_field["phoneNumbers"].message
    assert "did you mean TemplateId?" in by_field["templateId"].message
    assert sandbox.requests == []


def test_an_empty_event_still_gets_the_models_required_fields(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext
) -> None:
    with pytest.raises(MessageValidationError) as refused:
        lambda_handler({}, context)

    assert {(e.field, e.rule) for e in refused.value.errors} >= {
        ("PhoneNumbers", "required"),
        ("TemplateId", "required"),
    }


@pytest.mark.parametrize("event", [[message()], "PhoneNumbers", 42], ids=["list", "str", "int"])
def test_an_event_that_is_not_an_object_is_judged_by_the_model(
    gateway: Gateway, sandbox: Sandbox, context: LocalContext, event: Any
) -> None:
    with pytest.raises(MessageValidationError) as refused:
        lambda_handler(event, context)

    # A string is taken as the message's JSON text (and this one is not JSON).
    assert [e.rule for e in refused.value.errors] in (["not_an_object"], ["not_json"])
    assert sandbox.requests == []
