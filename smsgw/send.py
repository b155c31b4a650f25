"""`smsgw send --to …`: one message through a door of the gateway (SNS, SQS or the API),
checked with the gateway's own model first."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from smsgw.doors import VIA_API, VIA_SNS, open_door
from smsgw.errors import FAILED, CliError
from smsgw.model_check import ModelCheck, explain
from smsgw.outputs import Outputs


def build_message(
    to: Sequence[str],
    template_id: str,
    params: Sequence[str] = (),
    sender_id: str | None = None,
    user_id: str | None = None,
) -> dict[str, Any]:
    """The message (contract: SendUSMSMessage's field names). Numbers and parameters go as
    typed — `0123` must stay a string — and `--to a,b` counts as two numbers."""
    numbers = [part.strip() for item in to for part in item.split(",") if part.strip()]
    message: dict[str, Any] = {"PhoneNumbers": numbers, "TemplateId": template_id}
    if params:
        message["TemplateParams"] = list(params)
    if sender_id:
        message["SenderId"] = sender_id
    if user_id:
        message["UserId"] = user_id
    return message


def check(message: dict[str, Any], key: str | None) -> None:
    """Refuse (exit 1, nothing sent) a message the gateway would refuse through any door:
    through SNS or SQS it would only be parked in the dead-letter queue, out of sight. The
    key obeys the message's `IdempotencyKey` rules wherever it travels."""
    checked = {**message, "IdempotencyKey": key} if key is not None else message
    errors = ModelCheck().problems(checked)
    if errors:
        raise CliError(
            "not sent: the gateway would refuse this message:\n" + explain(errors), FAILED
        )


def send(outputs: Outputs, message: dict[str, Any], via: str, key: str | None) -> int:
    """Check `message`, send it through `via`, print what happened. Returns the exit code."""
    check(message, key)
    outcome = open_door(outputs, via)(message, key)
    if via == VIA_API:
        return _report_api(outputs, outcome.accepted, outcome.status, outcome.body)
    door = "published to the topic" if via == VIA_SNS else "sent to the queue"
    print(f"{door}: MessageId {outcome.message_id} ({describe(message)})")
    print(
        f"the gateway sends it in a moment; if it does not arrive: {outputs.cli()} dlq list",
        file=sys.stderr,
    )
    return 0


def _report_api(outputs: Outputs, ok: bool, status: int | None, body: Any) -> int:
    if not ok:
        print(f"the API answered HTTP {status}:", file=sys.stderr)
        print(_as_json(body), file=sys.stderr)
        return FAILED
    print(_as_json(body))
    session_nos = body.get("SessionNos") if isinstance(body, dict) else None
    if session_nos:
        print(
            f"delivery receipts (after a few minutes): "
            f"{outputs.cli()} receipts {' '.join(session_nos)}",
            file=sys.stderr,
        )
    return 0


def describe(message: dict[str, Any]) -> str:
    """A short description without the numbers: `2 numbers, template UTA1`."""
    count = len(message.get("PhoneNumbers", []))
    noun = "number" if count == 1 else "numbers"
    return f"{count} {noun}, template {message.get('TemplateId')}"


def _as_json(body: Any) -> str:
    return body if isinstance(body, str) else json.dumps(body, indent=2, ensure_ascii=False)
