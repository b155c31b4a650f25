"""Builders for handler tests: AWS-shaped events and the AWS resources.

The Lambda context is `local_gateway.context.LocalContext`, the one the local run uses.
"""

from __future__ import annotations

import base64
import copy
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EVENTS = Path(__file__).parent / "events"
TEMPLATE_ID = "UTA2211ABCDEF"


def drain_queue(sqs: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every message of a queue, in order, consumed: its body and its attributes as strings."""
    found: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            return found
        for item in batch:
            attributes = {
                name: value["StringValue"]
                for name, value in item.get("MessageAttributes", {}).items()
            }
            found.append({"Body": item["Body"], "Attributes": attributes})
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )


def now_iso() -> str:
    """The time now as SNS writes its `Timestamp`: `2026-11-30T08:00:00.123Z`."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def load_event(name: str) -> dict[str, Any]:
    """A fresh copy of `tests/events/<name>.json`."""
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def message(*phones: str, params: list[Any] | None = None, **fields: Any) -> dict[str, Any]:
    """A valid message (the seed's field names)."""
    body: dict[str, Any] = {
        "PhoneNumbers": list(phones) or ["+8613800138000"],
        "TemplateId": TEMPLATE_ID,
        "TemplateParams": params if params is not None else ["739201"],
    }
    body.update(fields)
    return body


def sqs_record(body: str | dict[str, Any], **attributes: str) -> dict[str, Any]:
    """One record shaped like `sqsEvent.json`'s, with this body and string attributes."""
    record: dict[str, Any] = copy.deepcopy(load_event("sqsEvent")["Records"][0])
    record["messageId"] = str(uuid.uuid4())
    record["attributes"]["SentTimestamp"] = str(int(time.time() * 1000))  # sent just now
    record["body"] = body if isinstance(body, str) else json.dumps(body)
    record["messageAttributes"] = {
        name: {
            "stringValue": value,
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": "String",
        }
        for name, value in attributes.items()
    }
    return record


def sqs_event(*records: dict[str, Any]) -> dict[str, Any]:
    """An SQS event holding `records`."""
    return {"Records": list(records)}


def sns_envelope(message_body: dict[str, Any] | str, **attributes: str) -> str:
    """The body SQS holds when an SNS subscription does not use raw delivery."""
    envelope = json.loads(load_event("snsSqsEvent")["Records"][0]["body"])
    envelope["MessageId"] = str(uuid.uuid4())
    envelope["Timestamp"] = now_iso()
    envelope["Message"] = (
        message_body if isinstance(message_body, str) else json.dumps(message_body)
    )
    envelope["MessageAttributes"] = {
        n: {"Type": "String", "Value": v} for n, v in attributes.items()
    }
    return json.dumps(envelope)


def sns_event(message_body: dict[str, Any] | str, **attributes: str) -> dict[str, Any]:
    """An SNS event (direct subscription) shaped like `snsEvent.json`."""
    event = load_event("snsEvent")
    sns = event["Records"][0]["Sns"]
    sns["MessageId"] = str(uuid.uuid4())
    sns["Timestamp"] = now_iso()
    sns["Message"] = message_body if isinstance(message_body, str) else json.dumps(message_body)
    sns["MessageAttributes"] = {n: {"Type": "String", "Value": v} for n, v in attributes.items()}
    return event


def api_event(
    method: str = "POST",
    path: str = "/messages",
    body: dict[str, Any] | str | None = None,
    *,
    headers: dict[str, str] | None = None,
    base64_body: bool = False,
) -> dict[str, Any]:
    """An API Gateway REST proxy event shaped like `apiGatewayProxyEvent.json`."""
    event = load_event("apiGatewayProxyEvent")
    event["httpMethod"] = method
    event["path"] = event["resource"] = path
    event["requestContext"]["httpMethod"] = method
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    event["requestContext"]["requestTimeEpoch"] = int(time.time() * 1000)  # taken just now
    merged = {k: v for k, v in event["headers"].items() if k != "Idempotency-Key"}
    merged.update(headers or {})
    event["headers"] = merged
    event["multiValueHeaders"] = {k: [v] for k, v in merged.items()}
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    if base64_body and text is not None:
        text = base64.b64encode(text.encode()).decode()
    event["body"] = text
    event["isBase64Encoded"] = base64_body
    return event
