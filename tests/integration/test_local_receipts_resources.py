"""`make local`'s delivery events resources: the receipts queue (redriven to its own
dead-letter queue) served by a pump of its own that honours SQS delays, the bus, and the
rule that copies delivery events to the local events queue."""

from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from infra.queue_settings import MAX_RECEIVE_COUNT
from local_gateway.gateway import LocalGateway
from local_gateway.pump import LOCAL_VISIBILITY_TIMEOUT_S
from tests.harness import drain_queue
from tests.integration.conftest import outputs_file, wait_until

# Bounds for the waits below, not performance figures: a broken pump fails, not hangs.
DELIVERY_WAIT_S = 10.0
DELAY_S = 1


def _attributes(gateway: LocalGateway, url: str, *names: str) -> dict[str, str]:
    sqs = gateway.clients["sqs"]
    return dict(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(names))["Attributes"])


def test_the_outputs_name_the_bus_the_receipts_queue_and_the_events_queue(
    events_gateway: LocalGateway,
) -> None:
    written = json.loads(outputs_file(events_gateway).read_text())["SmsGateway"]

    assert {"EventBusName", "ReceiptsQueueUrl", "EventsQueueUrl"} <= set(written)
    assert written["EventBusName"] == "sms-gateway-local-events"
    urls = {written[key] for key in ("QueueUrl", "ReceiptsQueueUrl", "EventsQueueUrl")}
    assert len(urls) == 3
    assert events_gateway.outputs == written


def test_the_function_gets_the_delivery_events_environment(events_gateway: LocalGateway) -> None:
    outputs = events_gateway.outputs

    assert {
        name: events_gateway.environment[name]
        for name in (
            "RECEIPTS_QUEUE_URL",
            "RECEIPT_DELAY_SECONDS",
            "EVENT_BUS_NAME",
            "EVENTS_WITH_PHONE_NUMBERS",
        )
    } == {
        "RECEIPTS_QUEUE_URL": outputs["ReceiptsQueueUrl"],
        "RECEIPT_DELAY_SECONDS": "1",
        "EVENT_BUS_NAME": outputs["EventBusName"],
        "EVENTS_WITH_PHONE_NUMBERS": "false",
    }


def test_the_receipts_queue_is_redriven_to_its_own_dead_letter_queue(
    events_gateway: LocalGateway,
) -> None:
    outputs = events_gateway.outputs
    receipts = _attributes(events_gateway, outputs["ReceiptsQueueUrl"], "RedrivePolicy")
    main = _attributes(events_gateway, outputs["QueueUrl"], "RedrivePolicy")

    redrive = json.loads(receipts["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == MAX_RECEIVE_COUNT
    assert (
        redrive["deadLetterTargetArn"] != json.loads(main["RedrivePolicy"])["deadLetterTargetArn"]
    )
    assert redrive["deadLetterTargetArn"].endswith(":sms-gateway-receipts-dlq")


def test_a_rule_on_the_bus_copies_delivery_events_to_the_events_queue(
    events_gateway: LocalGateway,
) -> None:
    events, outputs = events_gateway.clients["events"], events_gateway.outputs
    bus = outputs["EventBusName"]
    [rule] = events.list_rules(EventBusName=bus)["Rules"]
    [target] = events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
    events_queue = _attributes(events_gateway, outputs["EventsQueueUrl"], "QueueArn")
    assert target["Arn"] == events_queue["QueueArn"]

    detail = {"SessionNo": "s-1", "Status": "DELIVERED"}
    answer = events.put_events(
        Entries=[
            {
                "EventBusName": bus,
                "Source": "sms-gateway",
                "DetailType": "SMS Delivery Status",
                "Detail": json.dumps(detail),
            },
            # Neither another detail-type nor another source is copied.
            {
                "EventBusName": bus,
                "Source": "sms-gateway",
                "DetailType": "Something Else",
                "Detail": "{}",
            },
            {
                "EventBusName": bus,
                "Source": "other",
                "DetailType": "SMS Delivery Status",
                "Detail": "{}",
            },
        ]
    )
    assert answer["FailedEntryCount"] == 0

    [copied] = drain_queue(events_gateway.clients["sqs"], outputs["EventsQueueUrl"])
    event = json.loads(copied["Body"])
    assert (event["source"], event["detail-type"], event["detail"]) == (
        "sms-gateway",
        "SMS Delivery Status",
        detail,
    )


class Recorder:
    """A stand-in handler: records each record of its own message (a body of its own) with
    when it came, and fails it (a partial batch failure) the first `fail` times."""

    def __init__(self, fail: int = 0, hold_s: float = 0.0) -> None:
        self.body = json.dumps({"Probe": uuid.uuid4().hex})
        self.fail = fail
        self.hold_s = hold_s
        self.seen: list[tuple[float, dict[str, Any]]] = []
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any]) -> dict[str, Any]:
        failures = []
        with self._lock:
            for record in event["Records"]:
                if record["body"] != self.body:
                    continue  # another test's leftover: taken, not recorded
                self.seen.append((time.monotonic(), record))
                if len(self.seen) <= self.fail:
                    failures.append({"itemIdentifier": record["messageId"]})
        time.sleep(self.hold_s)
        return {"batchItemFailures": failures}


def test_a_delayed_receipt_check_reaches_the_handler_after_its_delay_and_again_on_failure(
    events_gateway: LocalGateway,
) -> None:
    sqs, outputs = events_gateway.clients["sqs"], events_gateway.outputs
    receipts_url = outputs["ReceiptsQueueUrl"]
    recorder = Recorder(fail=1)

    with events_gateway.pumps["receipts"].handled_by(recorder):
        sent_at = time.monotonic()
        sqs.send_message(QueueUrl=receipts_url, MessageBody=recorder.body, DelaySeconds=DELAY_S)
        wait_until(lambda: len(recorder.seen) == 2, DELIVERY_WAIT_S)
        wait_until(lambda: events_gateway.depth(receipts_url) == 0, DELIVERY_WAIT_S)

    [(first_at, first), (second_at, second)] = recorder.seen
    # The check is received once its delay is over, not before.
    assert first_at - sent_at >= DELAY_S - 0.05
    assert first["eventSource"] == "aws:sqs"
    receipts_arn = _attributes(events_gateway, receipts_url, "QueueArn")["QueueArn"]
    assert first["eventSourceARN"] == receipts_arn
    # Failed in its batch: received again after the pump's visibility timeout, then deleted.
    assert second_at - first_at >= LOCAL_VISIBILITY_TIMEOUT_S - 0.05
    assert [r["attributes"]["ApproximateReceiveCount"] for r in (first, second)] == ["1", "2"]


def test_a_slow_message_batch_does_not_hold_back_receipt_checks(
    events_gateway: LocalGateway,
) -> None:
    sqs, outputs = events_gateway.clients["sqs"], events_gateway.outputs
    slow = Recorder(hold_s=3.0)
    checks = Recorder()

    pumps = events_gateway.pumps
    with pumps["messages"].handled_by(slow), pumps["receipts"].handled_by(checks):
        sqs.send_message(QueueUrl=outputs["QueueUrl"], MessageBody=slow.body)
        wait_until(lambda: bool(slow.seen), DELIVERY_WAIT_S)
        sqs.send_message(QueueUrl=outputs["ReceiptsQueueUrl"], MessageBody=checks.body)
        wait_until(lambda: bool(checks.seen), DELIVERY_WAIT_S)
        # The message batch is still being handled when the check comes through.
        assert checks.seen[0][0] < slow.seen[0][0] + slow.hold_s
        wait_until(lambda: events_gateway.depth(outputs["QueueUrl"]) == 0, DELIVERY_WAIT_S)
