"""`smsgw send`: one message through a door of the gateway (SNS, SQS or the API)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, Final

from sms_gateway.contract import IDEMPOTENCY_KEY_ATTRIBUTE
from smsgw import aws, gateway_api
from smsgw.errors import FAILED
from smsgw.outputs import QUEUE_URL, TOPIC_ARN, Outputs

VIA_SNS: Final = "sns"
VIA_SQS: Final = "sqs"
VIA_API: Final = "api"
DOORS: Final = (VIA_SNS, VIA_SQS, VIA_API)


def build_message(
    to: Sequence[str],
    template_id: str,
    params: Sequence[str] = (),
    sender_id: str | None = None,
    user_id: str | None = None,
) -> dict[str, Any]:
    """The message (contract: SendUSMSMessage's field names). Numbers and parameters go as
    typed — `0123` must stay a string — and `--to a,b` counts as two numbers. The gateway
    does the validating, so every door gives the same answer."""
    numbers = [part.strip() for item in to for part in item.split(",") if part.strip()]
    message: dict[str, Any] = {"PhoneNumbers": numbers, "TemplateId": template_id}
    if params:
        message["TemplateParams"] = list(params)
    if sender_id:
        message["SenderId"] = sender_id
    if user_id:
        message["UserId"] = user_id
    return message


def send(outputs: Outputs, message: dict[str, Any], via: str, key: str | None) -> int:
    """Send `message` through `via`; print what happened. Returns the exit code."""
    if via == VIA_API:
        return _send_via_api(outputs, message, key)
    body = json.dumps(message, ensure_ascii=False)
    attributes = (
        {IDEMPOTENCY_KEY_ATTRIBUTE: {"DataType": "String", "StringValue": key}} if key else {}
    )
    try:
        if via == VIA_SNS:
            answer = aws.client(outputs, "sns").publish(
                TopicArn=outputs.get(TOPIC_ARN), Message=body, MessageAttributes=attributes
            )
            door = "published to the topic"
        else:
            answer = aws.client(outputs, "sqs").send_message(
                QueueUrl=outputs.get(QUEUE_URL), MessageBody=body, MessageAttributes=attributes
            )
            door = "sent to the queue"
    except Exception as error:
        raise aws.explain(error, outputs) from error
    print(f"{door}: MessageId {answer['MessageId']} ({describe(message)})")
    print(
        f"the gateway sends it in a moment; if it does not arrive: {outputs.cli()} dlq list",
        file=sys.stderr,
    )
    return 0


def _send_via_api(outputs: Outputs, message: dict[str, Any], key: str | None) -> int:
    answer = gateway_api.for_outputs(outputs).send(message, key)
    if not answer.ok:
        print(f"the API answered HTTP {answer.status}:", file=sys.stderr)
        print(_as_json(answer.body), file=sys.stderr)
        return FAILED
    print(_as_json(answer.body))
    session_nos = answer.body.get("SessionNos") if isinstance(answer.body, dict) else None
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
