"""What SQS and SNS hand the function, reduced to one shape: a `Delivery`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sms_gateway.contract import IDEMPOTENCY_KEY_ATTRIBUTE
from sms_gateway.json_input import UnreadableJsonError, load_json


@dataclass(frozen=True)
class Delivery:
    """One message as a queue or topic delivered it.

    `body` is exactly what arrived (parked unchanged if the message is refused);
    `message` is the message itself: a parsed JSON value, or the text when it is not JSON
    (the model then reports it); `attributes` are the producer's message attributes.
    """

    body: str
    message: Any
    idempotency_key: str | None
    attributes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    message_id: str | None = None
    # When the message entered AWS (epoch seconds): SNS's Timestamp when it came through a
    # topic, else SQS's SentTimestamp. Its age is counted from here.
    entered_at: float | None = None


def from_sqs_record(record: Mapping[str, Any]) -> Delivery:
    """An SQS record; its body is the message, or an SNS notification envelope when the
    subscription does not use raw delivery."""
    body = record.get("body") or ""
    attributes: Mapping[str, Mapping[str, Any]] = record.get("messageAttributes") or {}
    parsed = _json_or_text(body)
    if _is_sns_envelope(parsed):
        inner = parsed["Message"]
        envelope_attributes = parsed.get("MessageAttributes") or {}
        return Delivery(
            body=body,
            message=_json_or_text(inner),
            idempotency_key=_key(envelope_attributes) or _key(attributes),
            attributes={**attributes, **envelope_attributes},
            # The producer published to SNS: the notification's MessageId is the one it got.
            message_id=parsed.get("MessageId") or record.get("messageId"),
            entered_at=_iso_time(parsed.get("Timestamp")) or _sent_timestamp(record),
        )
    return Delivery(
        body=body,
        message=parsed,
        idempotency_key=_key(attributes),
        attributes=attributes,
        message_id=record.get("messageId"),
        entered_at=_sent_timestamp(record),
    )


def from_sns_record(record: Mapping[str, Any]) -> Delivery:
    """An SNS record of a direct subscription (an existing topic)."""
    sns = record.get("Sns") or {}
    body = sns.get("Message") or ""
    attributes: Mapping[str, Mapping[str, Any]] = sns.get("MessageAttributes") or {}
    return Delivery(
        body=body,
        message=_json_or_text(body),
        idempotency_key=_key(attributes),
        attributes=attributes,
        message_id=sns.get("MessageId"),
        entered_at=_iso_time(sns.get("Timestamp")),
    )


def _json_or_text(text: str) -> Any:
    """The parsed body, or the text itself when it is not JSON the gateway reads (garbled,
    or a nesting bomb): the model then says which, naming the rule."""
    try:
        return load_json(text)
    except UnreadableJsonError:
        return text


def _sent_timestamp(record: Mapping[str, Any]) -> float | None:
    """SQS's `SentTimestamp` attribute (epoch milliseconds), in seconds."""
    attributes = record.get("attributes")
    value = attributes.get("SentTimestamp") if isinstance(attributes, Mapping) else None
    try:
        return int(value) / 1000 if value is not None else None
    except (TypeError, ValueError):
        return None


def _iso_time(value: Any) -> float | None:
    """An ISO 8601 time (SNS's `Timestamp`, `2026-11-30T08:00:00.000Z`) in epoch seconds."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def _is_sns_envelope(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and value.get("Type") == "Notification"
        and isinstance(value.get("Message"), str)
        and "TopicArn" in value
    )


def _key(attributes: Mapping[str, Any]) -> str | None:
    """The `IdempotencyKey` attribute in SQS (`stringValue`) or SNS (`Value`) form."""
    attribute = attributes.get(IDEMPOTENCY_KEY_ATTRIBUTE)
    if not isinstance(attribute, Mapping):
        return None
    value = attribute.get("stringValue", attribute.get("Value"))
    return value if isinstance(value, str) and value else None
