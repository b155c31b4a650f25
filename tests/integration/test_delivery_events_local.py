"""Delivery status events end to end through `make local`: a message sent through each
door — SNS, SQS, the API — and a direct invoke, and one event per number on the local
events queue (the bus's rule copies them there) within seconds, the receipts queue's first
delay being 1 s locally (`RECEIPT_DELAY_SECONDS=1`)."""

from __future__ import annotations

import json
from typing import Any

from local_gateway.gateway import LocalGateway
from tests.integration.conftest import post, wait_until
from uspeedo_sandbox import Fault

# A bound for the wait, not a performance figure: checks are due 1 s after each send.
EVENTS_WAIT_S = 20.0


def _drained(local: LocalGateway, into: list[dict[str, Any]]) -> int:
    """Move what the events queue holds into `into`; how many events it has now."""
    sqs, queue = local.clients["sqs"], local.outputs["EventsQueueUrl"]
    for item in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        into.append(json.loads(item["Body"])["detail"])
        sqs.delete_message(QueueUrl=queue, ReceiptHandle=item["ReceiptHandle"])
    return len(into)


def _message(door: str, *numbers: str) -> dict[str, Any]:
    return {
        "PhoneNumbers": list(numbers),
        "TemplateId": "UTA-EVENTS",
        "TemplateParams": [door],
        "UserId": f"events-{door}",
    }


def test_each_door_gives_one_event_per_number(events_gateway: LocalGateway) -> None:
    local = events_gateway
    assert local.sandbox is not None
    local.sandbox.add_fault(Fault(kind="receipt", phones=("(86)13700137012",), result="Fail"))
    sent = {
        "sns": ("+8613700137001", "+8613700137002"),
        "sqs": ("+8613700137011", "+8613700137012"),
        "api": ("+8613700137021", "+8613700137022"),
        "direct": ("+8613700137031", "+8613700137032"),
    }
    local.clients["sns"].publish(
        TopicArn=local.outputs["TopicArn"], Message=json.dumps(_message("sns", *sent["sns"]))
    )
    local.clients["sqs"].send_message(
        QueueUrl=local.outputs["QueueUrl"], MessageBody=json.dumps(_message("sqs", *sent["sqs"]))
    )
    assert post(local, _message("api", *sent["api"])).status == 200
    local.invoke(_message("direct", *sent["direct"]))

    events: list[dict[str, Any]] = []
    wait_until(lambda: _drained(local, events) >= 8, EVENTS_WAIT_S)
    by_user: dict[str, list[tuple[str, str]]] = {}
    for detail in events:
        by_user.setdefault(detail["UserId"], []).append(
            (detail["PhoneNumber"][-4:], detail["Status"])
        )
    assert {user: sorted(found) for user, found in by_user.items()} == {
        "events-sns": [("7001", "DELIVERED"), ("7002", "DELIVERED")],
        "events-sqs": [("7011", "DELIVERED"), ("7012", "FAILED")],
        "events-api": [("7021", "DELIVERED"), ("7022", "DELIVERED")],
        "events-direct": [("7031", "DELIVERED"), ("7032", "DELIVERED")],
    }
    assert all(detail["PhoneNumber"].startswith("(**)") for detail in events)  # masked
