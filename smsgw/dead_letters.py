"""The dead-letter queue as the CLI reads it: each parked message with its reason, read
without consuming it, and described without a phone number or a template parameter.

The gateway parks a message with its body unchanged and the reason in the attributes
`ErrorCode`, `ErrorMessage`, `RetCode` and `OriginalMessageId` (the MessageId its producer
got from SNS or SQS), beside the producer's own (`IdempotencyKey`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, Final

from sms_gateway.contract import (
    DEAD_LETTER_ATTRIBUTES,
    ERROR_CODE_ATTRIBUTE,
    IDEMPOTENCY_KEY_ATTRIBUTE,
    MESSAGE_FIELDS,
)
from sms_gateway.redact import redact_text
from smsgw.table import shorten

# Set by the gateway when it parks a message (contract: failure semantics). Absent on a
# message the queue's own redrive moved after its retries ran out: its id is then the
# dead-letter queue's.
ORIGINAL_MESSAGE_ID_ATTRIBUTE: Final = "OriginalMessageId"
# Listing hides each message it reads for this long, so one pass sees every message once;
# then it makes them visible again. (With 0 s SQS keeps answering the same few messages.)
PEEK_VISIBILITY_S: Final = 30
# Redrive and purge hide a message while they move or delete it.
MOVE_VISIBILITY_S: Final = 60
# Long polling asks every SQS server, so an empty answer means empty (short polling samples).
WAIT_S: Final = 1
SQS_BATCH: Final = 10


@dataclass
class DeadLetter:
    """One message read from the dead-letter queue."""

    message_id: str
    receipt_handle: str
    body: str
    attributes: dict[str, dict[str, Any]]
    sent_at_ms: int | None = None

    @classmethod
    def from_sqs(cls, item: dict[str, Any]) -> DeadLetter:
        """From one `Messages` entry of ReceiveMessage."""
        sent = item.get("Attributes", {}).get("SentTimestamp")
        return cls(
            message_id=item["MessageId"],
            receipt_handle=item["ReceiptHandle"],
            body=item.get("Body", ""),
            attributes=dict(item.get("MessageAttributes", {})),
            sent_at_ms=int(sent) if sent and str(sent).isdigit() else None,
        )

    @property
    def error_code(self) -> str:
        """Why the gateway parked it ('' when the queue's redrive moved it)."""
        return self.attribute(ERROR_CODE_ATTRIBUTE)

    @property
    def producer_message_id(self) -> str:
        """The MessageId the producer got, as `dlq list` shows it and `dlq show` takes it."""
        return self.attribute(ORIGINAL_MESSAGE_ID_ATTRIBUTE) or self.message_id

    @property
    def idempotency_key(self) -> str:
        """The key the gateway used: the body's field, else the attribute ('' if none)."""
        document = self.document
        key = document.get("IdempotencyKey") if document is not None else None
        return key if isinstance(key, str) else self.attribute(IDEMPOTENCY_KEY_ATTRIBUTE)

    @property
    def user_id(self) -> str:
        """The message's own UserId ('' if none)."""
        value = self.document.get("UserId") if self.document is not None else None
        return value if isinstance(value, str) else ""

    @cached_property
    def document(self) -> dict[str, Any] | None:
        """The message as a JSON object (out of its SNS envelope), or None when the body is
        not one."""
        return message_document(self.body)

    def attribute(self, name: str) -> str:
        """A string or number attribute's value ('' when absent or binary)."""
        return str(self.attributes.get(name, {}).get("StringValue", ""))

    def producer_attributes(self) -> dict[str, dict[str, Any]]:
        """The attributes to send back with the body: the producer's, without the reason, in
        the shape SendMessage takes (ReceiveMessage may add empty list fields).
        `OriginalMessageId` stays: a message parked again still names what was first sent."""
        kept: dict[str, dict[str, Any]] = {}
        for name, value in self.attributes.items():
            if name in DEAD_LETTER_ATTRIBUTES:
                continue
            shaped = {"DataType": value["DataType"]}
            for key in ("StringValue", "BinaryValue"):
                if key in value:
                    shaped[key] = value[key]
            kept[name] = shaped
        return kept

    def size(self) -> int:
        """Bytes this message adds to a SendMessageBatch request (SQS's own way to count)."""
        total = len(self.body.encode())
        for name, value in self.producer_attributes().items():
            payload = value.get("StringValue") or value.get("BinaryValue") or ""
            total += len(name.encode()) + len(value["DataType"].encode()) + len(payload)
        return total


def receive(sqs: Any, queue_url: str, count: int, visibility_s: int) -> list[DeadLetter]:
    """Up to `count` (≤ 10) messages, with every attribute."""
    answer = sqs.receive_message(
        QueueUrl=queue_url,
        MaxNumberOfMessages=count,
        VisibilityTimeout=visibility_s,
        WaitTimeSeconds=WAIT_S,
        MessageAttributeNames=["All"],
        AttributeNames=["SentTimestamp"],
    )
    return [DeadLetter.from_sqs(item) for item in answer.get("Messages", [])]


def approximate_count(sqs: Any, queue_url: str) -> int:
    """SQS's estimate of the messages waiting (also proves the queue exists)."""
    answer = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    return int(answer.get("Attributes", {}).get("ApproximateNumberOfMessages", 0))


def peek(sqs: Any, queue_url: str, limit: int | None = None) -> list[DeadLetter]:
    """The messages in the queue without consuming them: each is read once, deduplicated by
    MessageId, and made visible again at the end (even when reading fails)."""
    found: dict[str, DeadLetter] = {}
    try:
        while limit is None or len(found) < limit:
            wanted = SQS_BATCH if limit is None else min(SQS_BATCH, limit - len(found))
            batch = receive(sqs, queue_url, wanted, PEEK_VISIBILITY_S)
            new = [m for m in batch if m.message_id not in found]
            for message in batch:
                # A message seen again has a new receipt handle; only the newest one works.
                found[message.message_id] = message
            if not new:
                # Empty, or only messages seen before (the pass outlasted the visibility
                # timeout): everything visible has been read.
                break
    finally:
        release(sqs, queue_url, [m.receipt_handle for m in found.values()])
    return list(found.values())


def release(sqs: Any, queue_url: str, handles: Sequence[str]) -> None:
    """Make messages visible again now rather than when their timeout ends."""
    for start in range(0, len(handles), SQS_BATCH):
        entries = [
            {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
            for i, handle in enumerate(handles[start : start + SQS_BATCH])
        ]
        # A handle that stopped working only means SQS already made the message visible.
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)


def summarise(body: str) -> str:
    """What a body holds, without its numbers or parameters: `3 numbers, template UTA1`."""
    size = len(body.encode())
    try:
        document = json.loads(body)
    except ValueError:
        return f"not JSON, {size} bytes"
    except RecursionError:
        # A nesting bomb parks as InvalidMessage; listing it must not crash the listing.
        return f"JSON nested too deep to read, {size} bytes"
    if (
        isinstance(document, dict)
        and document.get("Type") == "Notification"
        and isinstance(document.get("Message"), str)
    ):
        return "SNS envelope: " + summarise(document["Message"])
    if not isinstance(document, dict):
        return f"JSON {type(document).__name__}, not an object, {size} bytes"
    parts: list[str] = []
    numbers, recipients = document.get("PhoneNumbers"), document.get("Recipients")
    if isinstance(numbers, list):
        parts.append(count_of(len(numbers), "number"))
    if isinstance(recipients, list):
        parts.append(count_of(len(recipients), "recipient"))
    if not isinstance(numbers, list) and not isinstance(recipients, list):
        parts.append("no numbers")
    template = document.get("TemplateId")
    parts.append(f"template {safe(str(template), 24)}" if template else "no template")
    params = document.get("TemplateParams")
    if isinstance(params, list):
        parts.append(count_of(len(params), "param"))
    unknown = sorted(str(k) for k in document if k not in MESSAGE_FIELDS)
    if unknown:
        parts.append("other fields: " + safe(", ".join(unknown), 40))
    return ", ".join(parts)


def count_of(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def safe(text: str, limit: int) -> str:
    return shorten(redact_text(text), limit)


def when(sent_at_ms: int | None, iso: bool = False) -> str:
    if sent_at_ms is None:
        return ""
    moment = datetime.fromtimestamp(sent_at_ms / 1000, tz=UTC)
    return moment.isoformat() if iso else moment.strftime("%Y-%m-%d %H:%M:%S")


def message_document(body: str) -> dict[str, Any] | None:
    """The body as a JSON object, out of its SNS envelope; None when it is not one."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if (
        isinstance(document, dict)
        and document.get("Type") == "Notification"
        and isinstance(document.get("Message"), str)
    ):
        return message_document(document["Message"])
    return document if isinstance(document, dict) else None
