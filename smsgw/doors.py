"""The gateway's three doors (the SNS topic, the SQS queue, the API) as one call each: hand
over a message, get back what the door said. `smsgw send` uses them for one message and for
every message of a CSV file, with one client per door for the whole run."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from sms_gateway.contract import IDEMPOTENCY_KEY_ATTRIBUTE
from smsgw import aws, gateway_api
from smsgw.outputs import QUEUE_URL, TOPIC_ARN, Outputs

VIA_SNS: Final = "sns"
VIA_SQS: Final = "sqs"
VIA_API: Final = "api"
DOORS: Final = (VIA_SNS, VIA_SQS, VIA_API)


@dataclass(frozen=True)
class Outcome:
    """What a door answered: the topic's or queue's MessageId, or the API's status and
    body. The topic and the queue accept everything; the gateway decides later."""

    accepted: bool
    message_id: str | None = None
    status: int | None = None
    body: Any = None

    @property
    def replayed(self) -> bool:
        """The API answered a result stored before: the message had been sent already."""
        return isinstance(self.body, dict) and self.body.get("IdempotentReplay") is True


# Hands one message (and its idempotency key, if any) to a door. `smsgw send --csv` takes
# one as its seam: the benchmark gives a sink that sends nothing.
Sink = Callable[[dict[str, Any], str | None], Outcome]


def open_door(outputs: Outputs, via: str) -> Sink:
    """A sink for the door `via` of the stack in `outputs` (clients made once)."""
    if via == VIA_API:
        api = gateway_api.for_outputs(outputs)

        def post(message: dict[str, Any], key: str | None) -> Outcome:
            answer = api.send(message, key)
            return Outcome(answer.ok, status=answer.status, body=answer.body)

        return post
    try:
        client = aws.client(outputs, "sns" if via == VIA_SNS else "sqs")
    except Exception as error:
        raise aws.explain(error, outputs) from error
    target = outputs.get(TOPIC_ARN if via == VIA_SNS else QUEUE_URL)

    def publish(message: dict[str, Any], key: str | None) -> Outcome:
        body = json.dumps(message, ensure_ascii=False)
        attributes = (
            {IDEMPOTENCY_KEY_ATTRIBUTE: {"DataType": "String", "StringValue": key}} if key else {}
        )
        try:
            if via == VIA_SNS:
                answer = client.publish(TopicArn=target, Message=body, MessageAttributes=attributes)
            else:
                answer = client.send_message(
                    QueueUrl=target, MessageBody=body, MessageAttributes=attributes
                )
        except Exception as error:
            raise aws.explain(error, outputs) from error
        return Outcome(True, message_id=str(answer["MessageId"]))

    return publish
