"""A parked message names the MessageId its producer got (`OriginalMessageId`), so it can be
found by what was sent — and keeps naming it after a redrive parks it again."""

from __future__ import annotations

import json

from local_gateway.context import LocalContext
from sms_gateway.gateway import Gateway
from sms_gateway.handler import lambda_handler
from tests.harness import message, sns_envelope, sns_event, sqs_event, sqs_record
from tests.unit.conftest import Aws

INVALID = message(TemplateId="")


def test_a_message_from_sqs_names_its_sqs_message_id(
    gateway: Gateway, aws: Aws, context: LocalContext
) -> None:
    record = sqs_record(INVALID)
    lambda_handler(sqs_event(record), context)
    (parked,) = aws.dead_letters()
    assert parked["Attributes"]["OriginalMessageId"] == record["messageId"]


def test_a_notification_through_sqs_names_the_sns_message_id(
    gateway: Gateway, aws: Aws, context: LocalContext
) -> None:
    envelope = sns_envelope(INVALID)
    lambda_handler(sqs_event(sqs_record(envelope)), context)
    (parked,) = aws.dead_letters()
    assert parked["Attributes"]["OriginalMessageId"] == json.loads(envelope)["MessageId"]


def test_a_direct_notification_names_the_sns_message_id(
    gateway: Gateway, aws: Aws, context: LocalContext
) -> None:
    event = sns_event(INVALID)
    lambda_handler(event, context)
    (parked,) = aws.dead_letters()
    assert parked["Attributes"]["OriginalMessageId"] == event["Records"][0]["Sns"]["MessageId"]


def test_a_redriven_message_parked_again_keeps_the_first_id(
    gateway: Gateway, aws: Aws, context: LocalContext
) -> None:
    redriven = sqs_record(INVALID, OriginalMessageId="the-producers-id")
    lambda_handler(sqs_event(redriven), context)
    (parked,) = aws.dead_letters()
    assert parked["Attributes"]["OriginalMessageId"] == "the-producers-id"
