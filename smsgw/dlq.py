"""`smsgw dlq list` and `smsgw dlq show ID`: what the gateway parked, and why.

`list` is a table of every parked message (read without consuming it) by the MessageId its
producer got, with its key, UserId, when it was parked, its ErrorCode and reason, and what
to do about each kind. `show` prints one message with its body: phone numbers masked and
template parameters hidden unless `--reveal`. Nothing else here prints a number in full:
bodies are summarised, digit runs in text are masked.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Any, Final

from sms_gateway.contract import ERROR_MESSAGE_ATTRIBUTE, RET_CODE_ATTRIBUTE
from sms_gateway.redact import redact_text
from smsgw import aws, dlq_kinds, table
from smsgw.dead_letters import (
    DeadLetter,
    approximate_count,
    peek,
    safe,
    summarise,
    when,
)
from smsgw.dlq_body import shown_body
from smsgw.errors import FAILED, CliError
from smsgw.outputs import DEAD_LETTER_QUEUE_URL, Outputs

HEADERS: Final = (
    "MessageId",
    "Parked (UTC)",
    "ErrorCode",
    "RetCode",
    "IdempotencyKey",
    "UserId",
    "Body",
    "ErrorMessage",
)
ERROR_MESSAGE_CHARS: Final = 70
KEY_CHARS: Final = 32


def read_all(outputs: Outputs, limit: int | None = None) -> tuple[list[DeadLetter], int]:
    """The parked messages (at most `limit`) and SQS's estimate of how many wait."""
    queue_url = outputs.get(DEAD_LETTER_QUEUE_URL)
    try:
        sqs = aws.client(outputs, "sqs")
        waiting = approximate_count(sqs, queue_url)
        return peek(sqs, queue_url, limit), waiting
    except Exception as error:
        raise aws.explain(error, outputs) from error


def as_row(message: DeadLetter) -> list[str]:
    """The table row of one message."""
    return [
        message.producer_message_id,
        when(message.sent_at_ms),
        safe(message.error_code, 40) or "-",
        message.attribute(RET_CODE_ATTRIBUTE) or "-",
        safe(message.idempotency_key, KEY_CHARS) or "-",
        safe(message.user_id, KEY_CHARS) or "-",
        summarise(message.body),
        safe(message.attribute(ERROR_MESSAGE_ATTRIBUTE), ERROR_MESSAGE_CHARS),
    ]


def as_json(message: DeadLetter) -> dict[str, Any]:
    """The `--json` form of one message: the reason in full (digits masked), the producer's
    attributes (masked), and the body's summary instead of the body."""
    return {
        "MessageId": message.producer_message_id,
        "DeadLetterMessageId": message.message_id,
        "ParkedAt": when(message.sent_at_ms, iso=True) or None,
        "ErrorCode": message.error_code or None,
        "RetCode": message.attribute(RET_CODE_ATTRIBUTE) or None,
        "ErrorMessage": redact_text(message.attribute(ERROR_MESSAGE_ATTRIBUTE)) or None,
        "IdempotencyKey": redact_text(message.idempotency_key) or None,
        "UserId": redact_text(message.user_id) or None,
        "Attributes": {
            name: redact_text(str(value.get("StringValue", "(binary)")))
            for name, value in message.producer_attributes().items()
        },
        "Body": summarise(message.body),
        "BodyBytes": len(message.body.encode()),
    }


def list_command(outputs: Outputs, limit: int | None = None, json_output: bool = False) -> int:
    """`smsgw dlq list`: print what waits in the dead-letter queue. Returns the exit code."""
    messages, waiting = read_all(outputs, limit)
    if json_output:
        print(json.dumps([as_json(m) for m in messages], indent=2, ensure_ascii=False))
        return 0
    if not messages:
        print("the dead-letter queue is empty")
        return 0
    print(table.render(HEADERS, [as_row(m) for m in messages]))
    shown = f"{len(messages)} shown" + (f" of about {waiting}" if waiting > len(messages) else "")
    print(f"{shown}; by kind:", file=sys.stderr)
    print(advice_lines(Counter(m.error_code for m in messages), outputs.cli()), file=sys.stderr)
    return 0


def advice_lines(kinds: Counter[str], cli: str) -> str:
    """A line per kind: how many, and what to do (what `dlq redrive` does with them)."""
    return "\n".join(
        f"  {code or '(no ErrorCode)'} ({count}): {dlq_kinds.advice(code, cli)}"
        for code, count in sorted(kinds.items())
    )


def show_command(outputs: Outputs, message_id: str, reveal: bool = False) -> int:
    """`smsgw dlq show ID`: one parked message in full, by the producer's MessageId (or
    the dead-letter queue's own)."""
    messages, _ = read_all(outputs)
    found = [m for m in messages if message_id in (m.producer_message_id, m.message_id)]
    if not found:
        raise CliError(
            f"no parked message has the MessageId {message_id}: `{outputs.cli()} dlq list` "
            "shows those that are",
            FAILED,
        )
    print("\n\n".join(describe(m, outputs.cli(), reveal) for m in found))
    return 0


def describe(message: DeadLetter, cli: str, reveal: bool) -> str:
    """One message as `name: value` lines, then its body."""
    text = (lambda value: value) if reveal else redact_text
    fields = {"MessageId": message.producer_message_id}
    if message.message_id != message.producer_message_id:
        fields["Dead-letter MessageId"] = message.message_id
    fields |= {
        "Parked (UTC)": when(message.sent_at_ms) or "-",
        "ErrorCode": message.error_code or "-",
        "RetCode": message.attribute(RET_CODE_ATTRIBUTE) or "-",
        "ErrorMessage": text(message.attribute(ERROR_MESSAGE_ATTRIBUTE)) or "-",
        "IdempotencyKey": text(message.idempotency_key) or "-",
        "UserId": text(message.user_id) or "-",
        "What to do": dlq_kinds.advice(message.error_code, cli),
    }
    for name, value in message.producer_attributes().items():
        fields[f"Attribute {name}"] = text(str(value.get("StringValue", "(binary)")))
    width = max(len(name) for name in fields) + 1
    lines = [f"{name + ':':<{width}} {value}" for name, value in fields.items()]
    return "\n".join([*lines, "Body:", shown_body(message.body, reveal)])
