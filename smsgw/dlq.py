"""`smsgw dlq list` and `smsgw dlq redrive`: what the gateway refused, and sending it back.

The gateway parks a message with its body unchanged and the reason in the attributes
`ErrorCode`, `ErrorMessage` and `RetCode`, beside the producer's own (`IdempotencyKey`).
Nothing here prints a phone number: bodies are summarised, digit runs in text are masked.
"""

from __future__ import annotations

import hashlib
import json
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sms_gateway.contract import (
    DEAD_LETTER_ATTRIBUTES,
    ERROR_CODE_ATTRIBUTE,
    ERROR_MESSAGE_ATTRIBUTE,
    IDEMPOTENCY_KEY_ATTRIBUTE,
    MESSAGE_FIELDS,
    PROVIDER_OUTCOME_UNKNOWN,
    RET_CODE_ATTRIBUTE,
)
from sms_gateway.redact import redact_text
from smsgw import aws, table
from smsgw.errors import FAILED, CliError
from smsgw.outputs import DEAD_LETTER_QUEUE_URL, QUEUE_URL, Outputs
from smsgw.progress import Progress
from smsgw.table import shorten

# Listing hides each message it reads for this long, so one pass sees every message once;
# then it makes them visible again. (With 0 s SQS keeps answering the same few messages.)
PEEK_VISIBILITY_S: Final = 30
# Redrive hides a message while it is sent to the queue and deleted here.
MOVE_VISIBILITY_S: Final = 60
# Long polling asks every SQS server, so an empty answer means empty (short polling samples).
WAIT_S: Final = 1
SQS_BATCH: Final = 10
# SendMessageBatch limits the whole batch's size; stay under the classic 256 KiB.
BATCH_BYTES: Final = 256 * 1024
HEADERS: Final = ("MessageId", "Parked (UTC)", "ErrorCode", "RetCode", "Body", "ErrorMessage")
ERROR_MESSAGE_CHARS: Final = 70


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

    def attribute(self, name: str) -> str:
        """A string or number attribute's value ('' when absent or binary)."""
        return str(self.attributes.get(name, {}).get("StringValue", ""))

    def producer_attributes(self) -> dict[str, dict[str, Any]]:
        """The attributes to send back with the body: the producer's, without ours, in the
        shape SendMessage takes (ReceiveMessage may add empty list fields)."""
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


# Reading.


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
        _release(sqs, queue_url, [m.receipt_handle for m in found.values()])
    return list(found.values())


def _release(sqs: Any, queue_url: str, handles: Sequence[str]) -> None:
    """Make messages visible again now rather than when their timeout ends."""
    for start in range(0, len(handles), SQS_BATCH):
        entries = [
            {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
            for i, handle in enumerate(handles[start : start + SQS_BATCH])
        ]
        # A handle that stopped working only means SQS already made the message visible.
        sqs.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)


# Describing (never a number, never a parameter value).


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
        parts.append(_count(len(numbers), "number"))
    if isinstance(recipients, list):
        parts.append(_count(len(recipients), "recipient"))
    if not isinstance(numbers, list) and not isinstance(recipients, list):
        parts.append("no numbers")
    template = document.get("TemplateId")
    parts.append(f"template {_safe(str(template), 24)}" if template else "no template")
    params = document.get("TemplateParams")
    if isinstance(params, list):
        parts.append(_count(len(params), "param"))
    unknown = sorted(str(k) for k in document if k not in MESSAGE_FIELDS)
    if unknown:
        parts.append("other fields: " + _safe(", ".join(unknown), 40))
    return ", ".join(parts)


def _count(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _safe(text: str, limit: int) -> str:
    return shorten(redact_text(text), limit)


def as_row(message: DeadLetter) -> list[str]:
    """The table row of one message."""
    return [
        message.message_id,
        _when(message.sent_at_ms),
        _safe(message.attribute(ERROR_CODE_ATTRIBUTE), 40) or "-",
        message.attribute(RET_CODE_ATTRIBUTE) or "-",
        summarise(message.body),
        _safe(message.attribute(ERROR_MESSAGE_ATTRIBUTE), ERROR_MESSAGE_CHARS),
    ]


def as_json(message: DeadLetter) -> dict[str, Any]:
    """The `--json` form of one message: the reason in full (digits masked), the producer's
    attributes (masked), and the body's summary instead of the body."""
    return {
        "MessageId": message.message_id,
        "ParkedAt": _when(message.sent_at_ms, iso=True) or None,
        "ErrorCode": message.attribute(ERROR_CODE_ATTRIBUTE) or None,
        "RetCode": message.attribute(RET_CODE_ATTRIBUTE) or None,
        "ErrorMessage": redact_text(message.attribute(ERROR_MESSAGE_ATTRIBUTE)) or None,
        "Attributes": {
            name: redact_text(str(value.get("StringValue", "(binary)")))
            for name, value in message.producer_attributes().items()
        },
        "Body": summarise(message.body),
        "BodyBytes": len(message.body.encode()),
    }


def _when(sent_at_ms: int | None, iso: bool = False) -> str:
    if sent_at_ms is None:
        return ""
    moment = datetime.fromtimestamp(sent_at_ms / 1000, tz=UTC)
    return moment.isoformat() if iso else moment.strftime("%Y-%m-%d %H:%M:%S")


def list_command(outputs: Outputs, limit: int | None = None, json_output: bool = False) -> int:
    """`smsgw dlq list`: print what waits in the dead-letter queue. Returns the exit code."""
    queue_url = outputs.get(DEAD_LETTER_QUEUE_URL)
    try:
        sqs = aws.client(outputs, "sqs")
        waiting = approximate_count(sqs, queue_url)
        messages = peek(sqs, queue_url, limit)
    except Exception as error:
        raise aws.explain(error, outputs) from error
    if json_output:
        print(json.dumps([as_json(m) for m in messages], indent=2, ensure_ascii=False))
        return 0
    if not messages:
        print("the dead-letter queue is empty")
        return 0
    print(table.render(HEADERS, [as_row(m) for m in messages]))
    shown = f"{len(messages)} shown" + (f" of about {waiting}" if waiting > len(messages) else "")
    print(
        f"{shown}; fix the cause, then `{outputs.cli()} dlq redrive` sends them again",
        file=sys.stderr,
    )
    return 0


# Redriving.


@dataclass
class Redrive:
    """Moves messages from the dead-letter queue back to the queue: send first, delete
    second, so a crash in between duplicates a message (the gateway is idempotent) but never
    loses one.

    Messages whose outcome is unknown (the provider may have sent them) stay in the
    dead-letter queue unless `resend_unknown`: redriven as they are, the gateway would
    replay them within its idempotency window (back here again) and, after it, send them a
    second time. With `resend_unknown` (a person checked that they were not sent), each goes
    back under a new `IdempotencyKey` attribute, so the gateway sends it now.

    A message moved in this run can be back in the dead-letter queue before the run ends
    (the gateway refused it again within a second). It is not moved a second time: the two
    would chase each other for ever. It stays, counted in `returned`."""

    sqs: Any
    dead_letter_queue_url: str
    queue_url: str
    progress: Progress
    resend_unknown: bool = False
    moved: int = field(default=0, init=False)
    _moved_ids: set[str] = field(default_factory=set, init=False)
    _moved_bodies: set[str] = field(default_factory=set, init=False)
    # Left in the dead-letter queue, by message id → latest receipt handle.
    _unknown: dict[str, str] = field(default_factory=dict, init=False)
    _returned: dict[str, str] = field(default_factory=dict, init=False)

    @property
    def kept(self) -> int:
        """Messages left in the dead-letter queue because their outcome is unknown."""
        return len(self._unknown)

    @property
    def returned(self) -> int:
        """Messages left because this run had moved the same body already."""
        return len(self._returned)

    def run(self, limit: int | None = None) -> None:
        """Move messages until the dead-letter queue is empty or `limit` were moved."""
        try:
            while limit is None or self.moved < limit:
                wanted = SQS_BATCH if limit is None else min(SQS_BATCH, limit - self.moved)
                batch = receive(self.sqs, self.dead_letter_queue_url, wanted, MOVE_VISIBILITY_S)
                if not batch:
                    return
                # SQS may deliver a message twice; one already moved only needs deleting.
                again = [m for m in batch if m.message_id in self._moved_ids]
                self._delete(again)
                movable = []
                # What stays is hidden for the rest of the run (each receive hides it again)
                # and released at the end.
                for message in batch:
                    if message.message_id in self._moved_ids:
                        continue
                    if _digest(message.body) in self._moved_bodies:
                        self._returned[message.message_id] = message.receipt_handle
                    elif not self.resend_unknown and _outcome_unknown(message):
                        self._unknown[message.message_id] = message.receipt_handle
                    else:
                        movable.append(message)
                for group in _by_size(movable):
                    self._move(group)
        finally:
            left = [*self._unknown.values(), *self._returned.values()]
            _release(self.sqs, self.dead_letter_queue_url, left)

    def _move(self, group: Sequence[DeadLetter]) -> None:
        answer = self.sqs.send_message_batch(
            QueueUrl=self.queue_url,
            Entries=[
                {
                    "Id": str(index),
                    "MessageBody": message.body,
                    "MessageAttributes": _attributes_to_send(message),
                }
                for index, message in enumerate(group)
            ],
        )
        sent_ids = {entry["Id"] for entry in answer.get("Successful", [])}
        sent = [m for i, m in enumerate(group) if str(i) in sent_ids]
        self._delete(sent)
        self._moved_ids.update(m.message_id for m in sent)
        self._moved_bodies.update(_digest(m.body) for m in sent)
        self.moved += len(sent)
        self.progress.advance(len(sent))
        failed = answer.get("Failed", [])
        if failed:
            # Leave them in the dead-letter queue, visible again for the next try.
            unsent = [m.receipt_handle for i, m in enumerate(group) if str(i) not in sent_ids]
            _release(self.sqs, self.dead_letter_queue_url, unsent)
            reasons = sorted({f"{f.get('Code')}: {f.get('Message')}" for f in failed})
            raise CliError(
                f"the queue refused {len(failed)} message(s) ({'; '.join(reasons)}); "
                f"they stay in the dead-letter queue"
            )

    def _delete(self, messages: Sequence[DeadLetter]) -> None:
        if not messages:
            return
        answer = self.sqs.delete_message_batch(
            QueueUrl=self.dead_letter_queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(messages)
            ],
        )
        if answer.get("Failed"):
            # Sent but not deleted: it comes back after the visibility timeout; this run
            # deletes it without sending it again, a later run would send a duplicate.
            print(
                f"warning: {len(answer['Failed'])} moved message(s) could not be deleted from "
                "the dead-letter queue; the gateway will treat a re-send as a replay",
                file=sys.stderr,
            )


def _digest(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()


def _outcome_unknown(message: DeadLetter) -> bool:
    return message.attribute(ERROR_CODE_ATTRIBUTE) == PROVIDER_OUTCOME_UNKNOWN


def _attributes_to_send(message: DeadLetter) -> dict[str, dict[str, Any]]:
    """The producer's attributes; for a message whose outcome was unknown (redriven on
    purpose), with a new `IdempotencyKey`, so the gateway sends it instead of replaying
    the unknown outcome. (A key in the message's own body still wins over the attribute.)"""
    attributes = message.producer_attributes()
    if _outcome_unknown(message):
        attributes[IDEMPOTENCY_KEY_ATTRIBUTE] = {
            "DataType": "String",
            "StringValue": f"redrive-{uuid.uuid4()}",
        }
    return attributes


def _by_size(messages: Sequence[DeadLetter]) -> Iterator[list[DeadLetter]]:
    """Consecutive groups that each fit one SendMessageBatch request (order kept)."""
    group: list[DeadLetter] = []
    size = 0
    for message in messages:
        if group and size + message.size() > BATCH_BYTES:
            yield group
            group, size = [], 0
        group.append(message)
        size += message.size()
    if group:
        yield group


def redrive_command(
    outputs: Outputs, limit: int | None = None, *, resend_unknown: bool = False
) -> int:
    """`smsgw dlq redrive`: move every message (or `limit`) back to the queue; those whose
    outcome is unknown only with `resend_unknown`."""
    dead_letter_queue_url = outputs.get(DEAD_LETTER_QUEUE_URL)
    queue_url = outputs.get(QUEUE_URL)
    try:
        sqs = aws.client(outputs, "sqs")
        waiting = approximate_count(sqs, dead_letter_queue_url)
        approximate_count(sqs, queue_url)  # fail before moving anything if it is gone
    except Exception as error:
        raise aws.explain(error, outputs) from error
    total = waiting if limit is None else min(waiting, limit)
    progress = Progress("redriving", total)
    mover = Redrive(sqs, dead_letter_queue_url, queue_url, progress, resend_unknown)
    try:
        mover.run(limit)
    except CliError as error:
        progress.close()
        raise CliError(f"moved {mover.moved}, then stopped: {error.message}", FAILED) from error
    except Exception as error:
        progress.close()
        explained = aws.explain(error, outputs)
        raise CliError(
            f"moved {mover.moved}, then stopped: {explained.message}", explained.exit_code
        ) from error
    progress.close()
    print(f"moved {mover.moved} message(s) from the dead-letter queue back to the queue")
    if mover.returned:
        print(
            f"left {mover.returned} that came back during this run (the gateway refused them "
            f"again, or they repeat a message just moved): see `{outputs.cli()} dlq list`",
            file=sys.stderr,
        )
    if mover.kept:
        print(
            f"kept {mover.kept} whose outcome is unknown ({PROVIDER_OUTCOME_UNKNOWN}): the "
            "provider may have sent them. Check (its console, or receipts by UserId), then "
            f"`{outputs.cli()} dlq redrive --resend-unknown` sends them again.",
            file=sys.stderr,
        )
    return 0
