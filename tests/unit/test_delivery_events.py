"""Delivery status events: receipt checks after each send, one event per number, once.

Moto stands in for SQS (the receipts queue, honouring its delays), EventBridge (the bus,
and a rule that copies its events to a queue the test reads) and DynamoDB (the markers);
the sandbox answers the receipts, told by its `receipt` fault which numbers fail or wait.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from local_gateway.context import LocalContext
from sms_gateway import handler
from sms_gateway.delivery_events import DETAIL_TYPE, SOURCE
from sms_gateway.gateway import AwsClients, Gateway
from sms_gateway.gateway_key import DEVELOPMENT_KEY, GatewayKey
from sms_gateway.handler import lambda_handler
from sms_gateway.receipt_checks import FINAL_AFTER_S, ReceiptCheck, SessionCheck
from sms_gateway.settings import Settings
from tests.harness import api_event, message, sns_envelope, sns_event, sqs_event, sqs_record
from tests.unit.conftest import TABLE, Aws, assert_nothing_personal_in, fast_client
from uspeedo_sandbox import Fault, Sandbox

BUS = "sms-gateway-events"
FOUR = ("+8613800138001", "+8613800138002", "+8613800138003", "+8613800138004")


@dataclass
class Delivery:
    """The gateway with delivery events on, and the queues the test reads."""

    gateway: Gateway
    sqs: Any
    events: Any
    receipts_url: str
    events_url: str

    def checks(self, wait_s: float = 6.0) -> list[dict[str, Any]]:
        """The receipt checks due now (waiting for their delay), as SQS records."""
        deadline = time.monotonic() + wait_s
        while True:
            answer = self.sqs.receive_message(
                QueueUrl=self.receipts_url, MaxNumberOfMessages=10, VisibilityTimeout=30
            )
            messages = answer.get("Messages", [])
            if messages or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        records = []
        for received in messages:
            record = sqs_record(received["Body"])
            record["messageId"] = received["MessageId"]
            record["receiptHandle"] = received["ReceiptHandle"]
            records.append(record)
        return records

    def answer(self, records: list[dict[str, Any]]) -> list[str]:
        """Hand `records` to the handler as the pump does: delete what succeeded; the
        MessageIds it asked to retry."""
        answer = lambda_handler(sqs_event(*records), LocalContext())
        failed = [item["itemIdentifier"] for item in answer["batchItemFailures"]]
        for record in records:
            if record["messageId"] not in failed:
                self.sqs.delete_message(
                    QueueUrl=self.receipts_url, ReceiptHandle=record["receiptHandle"]
                )
        return failed

    def answer_due(self, wait_s: float = 6.0) -> list[str]:
        """Answer the checks due now (after waiting for them)."""
        records = self.checks(wait_s)
        assert records, "no receipt check was due"
        return self.answer(records)

    def published(self) -> list[dict[str, Any]]:
        """Every event the bus's rule copied to the test's queue so far (drained)."""
        found: list[dict[str, Any]] = []
        while True:
            answer = self.sqs.receive_message(QueueUrl=self.events_url, MaxNumberOfMessages=10)
            messages = answer.get("Messages", [])
            if not messages:
                return found
            for received in messages:
                found.append(json.loads(received["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.events_url, ReceiptHandle=received["ReceiptHandle"]
                )


def build(aws: Aws, sandbox: Sandbox, events: Any, **settings: Any) -> Gateway:
    receipts_url = aws.sqs.get_queue_url(QueueName="receipts")["QueueUrl"]
    config = Settings(
        secret_id=aws.secret_arn,
        endpoint=sandbox.url,
        idempotency_table=TABLE,
        dead_letter_queue_url=aws.dlq_url,
        receipts_queue_url=receipts_url,
        receipt_delay_s=1,
        event_bus_name=BUS,
        **settings,
    )
    gateway = Gateway.from_settings(
        config,
        AwsClients.of(aws.dynamodb, aws.secretsmanager, aws.sqs, events=events),
        client_factory=fast_client,
    )
    handler.use_gateway(gateway)
    return gateway


@pytest.fixture
def delivery(aws: Aws, sandbox: Sandbox, logs: io.StringIO) -> Iterator[Delivery]:
    events = boto3.client("events")
    events.create_event_bus(Name=BUS)
    receipts_url = aws.sqs.create_queue(QueueName="receipts")["QueueUrl"]
    events_url = aws.sqs.create_queue(QueueName="events")["QueueUrl"]
    events_arn = aws.sqs.get_queue_attributes(QueueUrl=events_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    events.put_rule(
        Name="all-statuses",
        EventBusName=BUS,
        EventPattern=json.dumps({"source": [SOURCE], "detail-type": [DETAIL_TYPE]}),
    )
    events.put_targets(
        Rule="all-statuses", EventBusName=BUS, Targets=[{"Id": "test", "Arn": events_arn}]
    )
    gateway = build(aws, sandbox, events)
    yield Delivery(gateway, aws.sqs, events, receipts_url, events_url)
    handler.use_gateway(None)
    gateway.close()
    assert_nothing_personal_in(logs.getvalue(), sandbox)


def statuses(found: list[dict[str, Any]]) -> dict[str, str]:
    """Each event's number's last four digits → its status."""
    return {event["detail"]["PhoneNumber"][-4:]: event["detail"]["Status"] for event in found}


def test_four_numbers_make_four_events_one_after_a_recheck(
    delivery: Delivery, sandbox: Sandbox, context: LocalContext
) -> None:
    sandbox.add_fault(Fault(kind="receipt", phones=("(86)13800138003",), result="Fail"))
    sandbox.add_fault(Fault(kind="receipt", phones=("(86)13800138004",), result="Unknow", count=1))
    answer = lambda_handler(sqs_event(sqs_record(message(*FOUR))), context)
    assert answer == {"batchItemFailures": []}

    assert delivery.answer_due() == []
    first = delivery.published()
    assert statuses(first) == {"8001": "DELIVERED", "8002": "DELIVERED", "8003": "FAILED"}

    assert delivery.answer_due() == []  # the re-check of the pending number, 2 s later
    second = delivery.published()
    assert statuses(second) == {"8004": "DELIVERED"}
    assert delivery.checks(wait_s=3) == []  # nothing left to check


def test_an_event_carries_the_contracts_fields_and_a_masked_number(
    delivery: Delivery, sandbox: Sandbox, context: LocalContext
) -> None:
    lambda_handler(sqs_event(sqs_record(message(FOUR[0], UserId="order-17"))), context)
    delivery.answer_due()
    (event,) = delivery.published()
    assert event["source"] == "sms-gateway"
    assert event["detail-type"] == "SMS Delivery Status"
    detail = event["detail"]
    assert set(detail) == {
        "EventId",
        "SessionNo",
        "PhoneNumber",
        "Country",
        "Status",
        "ReceiptCode",
        "ReceiptDesc",
        "ReceiptTime",
        "CostCount",
        "UserId",
    }
    assert detail["PhoneNumber"] == "(**)*******8001"
    assert detail["Country"] == "CN"
    assert detail["Status"] == "DELIVERED"
    assert detail["UserId"] == "order-17"
    assert detail["SessionNo"] == sandbox.accepted[-1].session_no


def test_full_numbers_only_when_configured(
    delivery: Delivery, aws: Aws, sandbox: Sandbox, context: LocalContext
) -> None:
    delivery.gateway.close()
    delivery.gateway = build(aws, sandbox, delivery.events, events_with_phone_numbers=True)
    lambda_handler(sqs_event(sqs_record(message(FOUR[0]))), context)
    delivery.answer_due()
    (event,) = delivery.published()
    assert event["detail"]["PhoneNumber"] == "(86)13800138001"


def test_a_redelivered_check_publishes_nothing_twice(
    delivery: Delivery, context: LocalContext
) -> None:
    lambda_handler(sqs_event(sqs_record(message(*FOUR[:2]))), context)
    records = delivery.checks()
    assert delivery.answer(records) == []
    assert len(delivery.published()) == 2
    # SQS delivers the same check again (at least once): nothing new is published.
    assert lambda_handler(sqs_event(*records), context) == {"batchItemFailures": []}
    assert delivery.published() == []


def test_a_replayed_message_schedules_no_second_check(
    delivery: Delivery, context: LocalContext
) -> None:
    body = message(FOUR[0], IdempotencyKey="once")
    lambda_handler(sqs_event(sqs_record(body)), context)
    lambda_handler(sqs_event(sqs_record(body)), context)  # an idempotent replay
    assert len(delivery.checks()) == 1


def test_one_check_for_a_message_of_many_chunks(
    delivery: Delivery, sandbox: Sandbox, context: LocalContext
) -> None:
    numbers = [f"+86139{index:08d}" for index in range(2_500)]
    assert lambda_handler(sqs_event(sqs_record(message(*numbers))), context) == {
        "batchItemFailures": []
    }
    (check,) = delivery.checks()
    parsed = ReceiptCheck.from_body(check["body"], GatewayKey(DEVELOPMENT_KEY))
    assert len(parsed.sessions) == 3
    assert parsed.phone_count == 2_500


def test_a_number_without_receipt_for_12_hours_is_unknown(
    delivery: Delivery, sandbox: Sandbox, context: LocalContext
) -> None:
    sandbox.add_fault(Fault(kind="receipt", phones=("(86)13800138002",), result="absent"))
    lambda_handler(sqs_event(sqs_record(message(*FOUR[:2]))), context)
    (check,) = delivery.checks()
    sent = ReceiptCheck.from_body(check["body"], GatewayKey(DEVELOPMENT_KEY))
    # The same check, as the queue would hand it 12 hours after the send.
    late = ReceiptCheck(time.time() - FINAL_AFTER_S - 1, 900, sent.sessions)
    record = sqs_record(late.to_body(GatewayKey(DEVELOPMENT_KEY)))
    assert lambda_handler(sqs_event(record), context) == {"batchItemFailures": []}
    assert statuses(delivery.published()) == {"8001": "DELIVERED", "8002": "UNKNOWN"}
    assert delivery.checks(wait_s=2) == []  # nothing is checked after the UNKNOWN


def test_a_pending_number_is_checked_again_until_12_hours(
    delivery: Delivery, sandbox: Sandbox, context: LocalContext
) -> None:
    sandbox.add_fault(Fault(kind="receipt", phones=("(86)13800138002",), result="absent"))
    lambda_handler(sqs_event(sqs_record(message(*FOUR[:2]))), context)
    delivery.answer_due()
    assert statuses(delivery.published()) == {"8001": "DELIVERED"}
    (recheck,) = delivery.checks()
    parsed = ReceiptCheck.from_body(recheck["body"], GatewayKey(DEVELOPMENT_KEY))
    assert parsed.delay_s == 2  # the first delay × 2
    assert [session.phones for session in parsed.sessions] == [("(86)13800138002",)]


def test_a_provider_error_leaves_the_check_to_the_queue(
    delivery: Delivery, sandbox: Sandbox, context: LocalContext
) -> None:
    lambda_handler(sqs_event(sqs_record(message(FOUR[0]))), context)
    records = delivery.checks()
    sandbox.set_fault(Fault(kind="status", status=503))
    assert delivery.answer(records) == [records[0]["messageId"]]
    assert delivery.published() == []
    sandbox.clear_faults()
    assert delivery.answer(records) == []
    assert len(delivery.published()) == 1


def test_a_forged_check_on_the_message_queue_is_parked_as_invalid(
    delivery: Delivery, aws: Aws, context: LocalContext
) -> None:
    forged = ReceiptCheck(time.time(), 1, (SessionCheck("1234", ("(86)13800138001",), (None,)),))
    record = sqs_record(forged.to_body(GatewayKey("another gateway's key, 32 characters")))
    assert lambda_handler(sqs_event(record), context) == {"batchItemFailures": []}
    (parked,) = aws.dead_letters()
    assert parked["Attributes"]["ErrorCode"] == "InvalidMessage"
    assert delivery.published() == []


@pytest.mark.parametrize("door", ["sqs", "sns-in-sqs", "sns", "api", "direct"])
def test_each_door_schedules_a_check(delivery: Delivery, context: LocalContext, door: str) -> None:
    body = message(FOUR[0])
    if door == "sqs":
        lambda_handler(sqs_event(sqs_record(body)), context)
    elif door == "sns-in-sqs":
        lambda_handler(sqs_event(sqs_record(sns_envelope(body))), context)
    elif door == "sns":
        lambda_handler(sns_event(body), context)
    elif door == "api":
        assert lambda_handler(api_event(body=body), context)["statusCode"] == 200
    else:
        lambda_handler(body, context)
    delivery.answer_due()
    assert statuses(delivery.published()) == {"8001": "DELIVERED"}


def test_recipients_sent_as_a_batch_carry_their_own_user_ids(
    delivery: Delivery, context: LocalContext
) -> None:
    body = {
        "TemplateId": "UTA2211ABCDEF",
        "Recipients": [
            {"PhoneNumber": FOUR[0], "TemplateParams": ["1"], "UserId": "alice"},
            {"PhoneNumber": FOUR[1], "TemplateParams": ["2"], "UserId": "bob"},
        ],
    }
    lambda_handler(sqs_event(sqs_record(body)), context)
    delivery.answer_due()
    users = {e["detail"]["PhoneNumber"][-4:]: e["detail"]["UserId"] for e in delivery.published()}
    assert users == {"8001": "alice", "8002": "bob"}


def test_numbers_refused_at_sending_get_no_event(
    delivery: Delivery, sandbox: Sandbox, context: LocalContext
) -> None:
    sandbox.set_fault(Fault(kind="refuse", phones=("(86)13800138002",)))
    body = {
        "TemplateId": "UTA2211ABCDEF",
        "Recipients": [{"PhoneNumber": number} for number in FOUR[:2]],
    }
    lambda_handler(sqs_event(sqs_record(body)), context)
    sandbox.clear_faults()
    delivery.answer_due()
    assert statuses(delivery.published()) == {"8001": "DELIVERED"}


def test_delivery_metrics_count_by_country(
    delivery: Delivery,
    sandbox: Sandbox,
    context: LocalContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sandbox.add_fault(Fault(kind="receipt", phones=("(86)13800138003",), result="SubmitFail"))
    lambda_handler(sqs_event(sqs_record(message(*FOUR[:3]))), context)
    capsys.readouterr()
    delivery.answer_due()
    metrics: dict[tuple[str, str | None], float] = {}
    for line in capsys.readouterr().out.splitlines():
        if not line.startswith('{"_aws"'):
            continue
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                if metric["Name"] in ("Delivered", "DeliveryFailed"):
                    value = blob[metric["Name"]]
                    total = sum(value) if isinstance(value, list) else value
                    metrics[(metric["Name"], blob.get("Country"))] = total
    # By country for the dashboard; without, for the delivery-rate alarm's sum.
    assert metrics == {
        ("Delivered", "CN"): 2.0,
        ("DeliveryFailed", "CN"): 1.0,
        ("Delivered", None): 2.0,
        ("DeliveryFailed", None): 1.0,
    }


class CountingEvents:
    """The EventBridge client, counting `PutEvents` calls; the first `refuse` entries of
    the first call are refused as the bus does when it throttles."""

    def __init__(self, client: Any, refuse: int = 0) -> None:
        self._client = client
        self.calls: list[int] = []
        self._refuse = refuse

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.calls.append(len(Entries))
        if self._refuse:
            refused, self._refuse = self._refuse, 0
            answer = self._client.put_events(Entries=Entries[refused:])
            throttled = [{"ErrorCode": "ThrottlingException"}] * refused
            return {"FailedEntryCount": refused, "Entries": throttled + answer["Entries"]}
        result: dict[str, Any] = self._client.put_events(Entries=Entries)
        return result


def test_the_cost_is_one_receipt_call_per_100_sessions_and_one_put_per_10_events(
    delivery: Delivery, aws: Aws, sandbox: Sandbox, context: LocalContext
) -> None:
    counting = CountingEvents(delivery.events)
    delivery.gateway.close()
    delivery.gateway = build(aws, sandbox, counting)
    for batch in range(15):  # 150 messages, one number each: 150 SessionNos
        records = [sqs_record(message(f"+86139{batch:04d}{index:04d}")) for index in range(10)]
        assert lambda_handler(sqs_event(*records), context) == {"batchItemFailures": []}
    key = GatewayKey(DEVELOPMENT_KEY)
    sessions: list[SessionCheck] = []
    while len(sessions) < 150:
        for record in delivery.checks():
            sessions.extend(ReceiptCheck.from_body(record["body"], key).sessions)
            delivery.sqs.delete_message(
                QueueUrl=delivery.receipts_url, ReceiptHandle=record["receiptHandle"]
            )
    asked_before = len(sandbox.requests)
    # One batch of checks holding all 150 sessions (as a full receipts batch can).
    one = sqs_record(ReceiptCheck(time.time(), 1, tuple(sessions)).to_body(key))
    assert lambda_handler(sqs_event(one), context) == {"batchItemFailures": []}
    receipt_calls = [r for r in sandbox.requests[asked_before:] if r.action == "GetUSMSSendReceipt"]
    assert len(receipt_calls) == 2
    assert sorted(counting.calls) == [10] * 15
    assert len(delivery.published()) == 150


def test_events_the_bus_refused_are_put_again_and_never_twice(
    delivery: Delivery, aws: Aws, sandbox: Sandbox, context: LocalContext
) -> None:
    counting = CountingEvents(delivery.events, refuse=2)
    delivery.gateway.close()
    delivery.gateway = build(aws, sandbox, counting)
    lambda_handler(sqs_event(sqs_record(message(*FOUR))), context)
    assert delivery.answer_due() == []
    assert sorted(e["detail"]["PhoneNumber"][-4:] for e in delivery.published()) == [
        "8001",
        "8002",
        "8003",
        "8004",
    ]
    assert counting.calls == [4, 2]  # the two refused entries, put again


def test_a_check_the_bus_kept_refusing_is_retried_and_publishes_the_rest_once(
    delivery: Delivery, aws: Aws, sandbox: Sandbox, context: LocalContext
) -> None:
    class Down(CountingEvents):
        def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
            self.calls.append(len(Entries))
            answer = self._client.put_events(Entries=Entries[1:])
            return {"Entries": [{"ErrorCode": "InternalFailure"}] + answer["Entries"]}

    down = Down(delivery.events)
    delivery.gateway.close()
    delivery.gateway = build(aws, sandbox, down)
    lambda_handler(sqs_event(sqs_record(message(*FOUR[:2]))), context)
    records = delivery.checks()
    assert delivery.answer(records) == [records[0]["messageId"]]  # one event never taken
    assert len(delivery.published()) == 1
    delivery.gateway.close()
    delivery.gateway = build(aws, sandbox, delivery.events)  # the bus is back
    assert delivery.answer(records) == []
    assert len(delivery.published()) == 1  # only the one refused before: none twice


def test_a_session_the_provider_does_not_know_ends_as_unknown_after_12_hours(
    delivery: Delivery, context: LocalContext
) -> None:
    key = GatewayKey(DEVELOPMENT_KEY)
    session = SessionCheck("no-such-session", ("(86)13800138001",), ("order-9",))
    early = sqs_record(ReceiptCheck(time.time() - 60, 1, (session,)).to_body(key))
    assert lambda_handler(sqs_event(early), context) == {"batchItemFailures": []}
    assert delivery.published() == []  # not final yet: checked again later
    (recheck,) = delivery.checks()
    assert ReceiptCheck.from_body(recheck["body"], key).sessions == (session,)

    late = sqs_record(ReceiptCheck(time.time() - FINAL_AFTER_S, 900, (session,)).to_body(key))
    assert lambda_handler(sqs_event(late), context) == {"batchItemFailures": []}
    (event,) = delivery.published()
    assert event["detail"]["Status"] == "UNKNOWN"
    assert event["detail"]["UserId"] == "order-9"
    assert event["detail"]["ReceiptTime"] is None
