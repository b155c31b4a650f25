"""The dead-letter queue for messages that will never be sent: the body unchanged, the
reason beside it as message attributes a person (or `smsgw dlq list`) can read."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from sms_gateway.contract import (
    DEAD_LETTER_ATTRIBUTES,
    ERROR_CODE_ATTRIBUTE,
    ERROR_MESSAGE_ATTRIBUTE,
    IDEMPOTENCY_KEY_ATTRIBUTE,
    ORIGINAL_MESSAGE_ID_ATTRIBUTE,
    RET_CODE_ATTRIBUTE,
)
from sms_gateway.errors import GatewayError, UspeedoError

ERROR_CODE: Final = ERROR_CODE_ATTRIBUTE
ERROR_MESSAGE: Final = ERROR_MESSAGE_ATTRIBUTE
RET_CODE: Final = RET_CODE_ATTRIBUTE
ORIGINAL_MESSAGE_ID: Final = ORIGINAL_MESSAGE_ID_ATTRIBUTE
_OURS: Final = DEAD_LETTER_ATTRIBUTES
# SQS allows 10 attributes a message; ours take three, the producer's keep the rest.
_MAX_ATTRIBUTES: Final = 10
_MAX_REASON_CHARS: Final = 1_000
# SQS's limit for one message, counted in UTF-8 bytes over the body and every attribute's
# name, data type and value. A body that fitted on the way in can exceed it once the reason
# is attached; then SendMessage fails and the queue's redrive parks it without any reason.
MAX_MESSAGE_BYTES: Final = 1_048_576
_KEPT_LAST: Final = IDEMPOTENCY_KEY_ATTRIBUTE  # the producer's attribute a redrive needs most
_CUT: Final = "…"


class DeadLetterQueue:
    """Writes permanent rejects to one SQS queue.

    `sqs` returns the client, called when a message is parked: most containers never park
    one, and a boto3 client costs a cold start tens of ms. Records are parked from worker
    threads, so it must make the client once however many ask at once (`lazy.once`).
    """

    def __init__(self, queue_url: str, sqs: Callable[[], Any]) -> None:
        self.queue_url = queue_url
        self._client = sqs

    def park(
        self,
        body: str,
        error: GatewayError,
        original_attributes: Mapping[str, Mapping[str, Any]] | None = None,
        original_message_id: str | None = None,
    ) -> None:
        """Send `body` with the reason. The producer's attributes are kept (an
        `IdempotencyKey` must survive a redrive), ours replace any of the same name, except
        an `OriginalMessageId` a redrive brought back: the first one names what was sent."""
        attributes: dict[str, dict[str, str]] = {
            ERROR_CODE: {"DataType": "String", "StringValue": error.code},
            ERROR_MESSAGE: {"DataType": "String", "StringValue": reason_text(error)},
        }
        if original_message_id and ORIGINAL_MESSAGE_ID not in (original_attributes or {}):
            attributes[ORIGINAL_MESSAGE_ID] = {
                "DataType": "String",
                "StringValue": original_message_id,
            }
        if isinstance(error, UspeedoError) and error.ret_code is not None:
            attributes[RET_CODE] = {"DataType": "Number", "StringValue": str(error.ret_code)}
        for name, value in (original_attributes or {}).items():
            if name not in _OURS and len(attributes) < _MAX_ATTRIBUTES:
                converted = _as_send_attribute(value)
                if converted is not None:
                    attributes[name] = converted
        self._client().send_message(
            QueueUrl=self.queue_url, MessageBody=body, MessageAttributes=fit(body, attributes)
        )


def fit(body: str, attributes: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """`attributes`, cut so that the message stays within SQS's size limit. What goes first:
    the producer's attributes (`IdempotencyKey` last), then `OriginalMessageId`, then the
    reason's text. `ErrorCode`
    and `RetCode` always stay: a parked message must say why it was parked."""
    room = MAX_MESSAGE_BYTES - _utf8_len(body)
    if _size(attributes) <= room:
        return attributes
    fitted = dict(attributes)
    producers = sorted(
        (n for n in fitted if n not in _OURS and n != ORIGINAL_MESSAGE_ID),
        key=lambda n: n == _KEPT_LAST,
    )
    # The producer's own first, then the id it got: the reason outlasts both.
    for name in [*producers, ORIGINAL_MESSAGE_ID]:
        if fitted.pop(name, None) is not None and _size(fitted) <= room:
            return fitted
    message = fitted.pop(ERROR_MESSAGE, None)
    if message is not None:
        empty = _attribute_size(ERROR_MESSAGE, {**message, "StringValue": ""})
        spare = room - _size(fitted) - empty - _utf8_len(_CUT)
        text = message["StringValue"].encode()[: max(0, spare)].decode(errors="ignore")
        if text:
            fitted[ERROR_MESSAGE] = {**message, "StringValue": text + _CUT}
    # If even ErrorCode does not fit (a body within a few bytes of the limit), SendMessage
    # fails and the record is retried until the queue's redrive parks it as it came.
    return fitted


def _size(attributes: Mapping[str, Mapping[str, str]]) -> int:
    return sum(_attribute_size(name, value) for name, value in attributes.items())


def _attribute_size(name: str, value: Mapping[str, str]) -> int:
    return _utf8_len(name) + _utf8_len(value["DataType"]) + _utf8_len(value["StringValue"])


def _utf8_len(text: str) -> int:
    return len(text.encode())


def reason_text(error: GatewayError) -> str:
    """The error as one line, cut to a size that suits an attribute and a log line."""
    text = str(error)
    if len(text) <= _MAX_REASON_CHARS:
        return text
    return text[: _MAX_REASON_CHARS - 1] + _CUT


def _as_send_attribute(value: Mapping[str, Any]) -> dict[str, str] | None:
    """An attribute as SQS delivered it (`stringValue`/`dataType`, or SNS's
    `Type`/`Value`) in the shape `SendMessage` takes. Binary ones are left out."""
    data_type = value.get("dataType") or value.get("DataType") or value.get("Type")
    string_value = value.get("stringValue") or value.get("StringValue") or value.get("Value")
    if not isinstance(data_type, str) or not isinstance(string_value, str):
        return None
    if data_type.startswith("Binary"):
        return None
    return {"DataType": data_type, "StringValue": string_value}
