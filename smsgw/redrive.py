"""`smsgw dlq redrive`: parked messages back to the queue, so the gateway tries them again —
all but the kinds that would only be parked again (`dlq_kinds`)."""

from __future__ import annotations

import hashlib
import sys
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sms_gateway.contract import IDEMPOTENCY_KEY_ATTRIBUTE, PROVIDER_OUTCOME_UNKNOWN
from smsgw import aws, dlq_kinds
from smsgw.dead_letters import (
    MOVE_VISIBILITY_S,
    SQS_BATCH,
    DeadLetter,
    approximate_count,
    receive,
    release,
)
from smsgw.errors import FAILED, CliError
from smsgw.outputs import DEAD_LETTER_QUEUE_URL, QUEUE_URL, Outputs
from smsgw.progress import Progress

# SendMessageBatch limits the whole batch's size; stay under the classic 256 KiB.
BATCH_BYTES: Final = 256 * 1024


@dataclass
class Redrive:
    """Moves messages from the dead-letter queue back to the queue: send first, delete
    second, so a crash in between duplicates a message (the gateway is idempotent) but never
    loses one.

    Kinds that fail the same way every time (`dlq_kinds.NEVER_SUCCEED`) stay in the
    dead-letter queue unless named in `include`. Messages whose outcome is unknown (the
    provider may have sent them) stay unless `resend_unknown`: redriven as they are, the
    gateway would replay them within its idempotency window (back here again) and, after
    it, send them a second time. With `resend_unknown` (a person checked that they were not
    sent), each goes back under a new `IdempotencyKey` attribute, so the gateway sends it now.

    A message moved in this run can be back in the dead-letter queue before the run ends
    (the gateway refused it again within a second). It is not moved a second time: the two
    would chase each other for ever. It stays, counted in `returned`."""

    sqs: Any
    dead_letter_queue_url: str
    queue_url: str
    progress: Progress
    resend_unknown: bool = False
    include: frozenset[str] = frozenset()
    moved: int = field(default=0, init=False)
    _moved_ids: set[str] = field(default_factory=set, init=False)
    _moved_bodies: set[str] = field(default_factory=set, init=False)
    # Left in the dead-letter queue by their kind: message id → (ErrorCode, latest handle).
    _kept: dict[str, tuple[str, str]] = field(default_factory=dict, init=False)
    # Left because this run moved the same body already: message id → latest handle.
    _returned: dict[str, str] = field(default_factory=dict, init=False)

    @property
    def kept(self) -> Counter[str]:
        """Messages left in the dead-letter queue by their kind, counted by ErrorCode."""
        return Counter(code for code, _ in self._kept.values())

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
                for group in _by_size(self._movable(batch)):
                    self._move(group)
        finally:
            left = [handle for _, handle in self._kept.values()]
            release(self.sqs, self.dead_letter_queue_url, [*left, *self._returned.values()])

    def _movable(self, batch: Sequence[DeadLetter]) -> list[DeadLetter]:
        """What of `batch` to move. What stays is hidden for the rest of the run (each
        receive hides it again) and released at the end."""
        movable = []
        for message in batch:
            if message.message_id in self._moved_ids:
                continue
            if _digest(message.body) in self._moved_bodies:
                self._returned[message.message_id] = message.receipt_handle
            elif dlq_kinds.redrive_leaves(message.error_code, self.include, self.resend_unknown):
                self._kept[message.message_id] = (message.error_code, message.receipt_handle)
            else:
                movable.append(message)
        return movable

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
            release(self.sqs, self.dead_letter_queue_url, unsent)
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
    return message.error_code == PROVIDER_OUTCOME_UNKNOWN


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
    outputs: Outputs,
    limit: int | None = None,
    *,
    resend_unknown: bool = False,
    include: frozenset[str] = frozenset(),
) -> int:
    """`smsgw dlq redrive`: move every message (or `limit`) back to the queue but those of
    the kinds it leaves (`dlq_kinds.redrive_leaves`), and say how many it left and why."""
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
    mover = Redrive(sqs, dead_letter_queue_url, queue_url, progress, resend_unknown, include)
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
    _say_what_stayed(mover, outputs.cli())
    return 0


def _say_what_stayed(mover: Redrive, cli: str) -> None:
    if mover.returned:
        print(
            f"left {mover.returned} that came back during this run (the gateway refused them "
            f"again, or they repeat a message just moved): see `{cli} dlq list`",
            file=sys.stderr,
        )
    for code, count in sorted(mover.kept.items()):
        if code == PROVIDER_OUTCOME_UNKNOWN:
            print(
                f"kept {count} whose outcome is unknown ({code}): the provider may have sent "
                "them. Check (its console, or receipts by UserId), then "
                f"`{cli} dlq redrive --resend-unknown` sends them again.",
                file=sys.stderr,
            )
        else:
            print(f"left {count} {code}: {dlq_kinds.advice(code, cli)}", file=sys.stderr)
