"""Lambda's SQS event source, on one machine: long-poll the queue, invoke the handler with
real SQS event shapes in batches, delete what succeeded, leave failures for redelivery.

Redelivery and the move to the dead-letter queue after `maxReceiveCount` receives are the
queue's own (moto's), as in AWS. One difference, on purpose: the pump receives with a
short visibility timeout, so a failed record comes back in seconds instead of after the
deployed queue's 6 × function timeout.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Final

from infra.queue_settings import BATCH_SIZE

logger = logging.getLogger(__name__)

LOCAL_VISIBILITY_TIMEOUT_S: Final = 2
WAIT_TIME_S: Final = 1
REGION: Final = "us-east-1"


def to_lambda_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """A ReceiveMessage entry in the shape Lambda hands the function (camelCase keys)."""
    attributes = {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        for name, value in message.get("MessageAttributes", {}).items()
    }
    for value in attributes.values():
        for key in ("stringValue", "binaryValue"):
            if value[key] is None:
                del value[key]
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


class EventPump:
    """Polls one queue on a thread until stopped."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        invoke: Callable[[dict[str, Any]], Any],
        on_batch: Callable[[int, int], None] | None = None,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._invoke = invoke
        self._on_batch = on_batch
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="event-pump", daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop after the current poll (at most WAIT_TIME_S) and batch."""
        self._stop.set()
        self._thread.join(timeout=30)

    def poll_once(self) -> int:
        """Receive one batch and hand it to the handler; the number of records received."""
        answer = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=BATCH_SIZE,
            WaitTimeSeconds=WAIT_TIME_S,
            VisibilityTimeout=LOCAL_VISIBILITY_TIMEOUT_S,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = answer.get("Messages", [])
        if not messages:
            return 0
        records = [to_lambda_record(m, self._queue_arn) for m in messages]
        try:
            response = self._invoke({"Records": records})
            failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
        except Exception:
            # The whole invocation failed: Lambda leaves every record for redelivery.
            logger.exception("the handler failed the whole batch")
            failed = {r["messageId"] for r in records}
        done = [r for r in records if r["messageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": r["receiptHandle"]} for i, r in enumerate(done)
                ],
            )
        if self._on_batch is not None:
            self._on_batch(len(done), len(failed))
        return len(records)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                if self._stop.is_set():
                    return
                logger.exception("event pump: polling failed; trying again")
                self._stop.wait(1)
