"""Lambda's SQS event source, on one machine: long-poll the queue, invoke the handler with
real SQS event shapes in batches, delete what succeeded, leave failures for redelivery.

Redelivery and the move to the dead-letter queue after `maxReceiveCount` receives are the
queue's own (moto's), as in AWS. One difference, on purpose: the pump receives with a
short visibility timeout, so a failed record comes back in seconds instead of after the
deployed queue's 6 × function timeout.

The local gateway runs one pump per queue the function consumes (messages, receipt checks),
each on its own thread, like one event source mapping per queue: a backlog of messages
does not hold receipt checks back, which wait only for the one invocation running.
Delayed messages (DelaySeconds) are the queue's own too: they are received once due.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
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


Invoke = Callable[[dict[str, Any]], Any]


class EventPump:
    """Polls one queue on a thread until stopped."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        invoke: Invoke,
        on_batch: Callable[[int, int], None] | None = None,
        name: str = "event-pump",
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._queue_arn = queue_arn
        self._invoke = invoke
        self._on_batch = on_batch
        self._stop = threading.Event()
        # Held while a received batch is handled: `wait_idle` waits for it.
        self._busy = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the pump to stop after its current poll and batch, without waiting."""
        self._stop.set()

    def stop(self) -> None:
        """Stop after the current poll (at most WAIT_TIME_S) and batch."""
        self.request_stop()
        self._thread.join(timeout=30)

    @contextlib.contextmanager
    def handled_by(self, invoke: Invoke) -> Iterator[None]:
        """Hand the batches received inside the block to `invoke` instead of the handler
        (for tests: what the queue delivers, and when), with the same event shapes and the
        same deletes and partial failures."""
        previous, self._invoke = self._invoke, invoke
        try:
            yield
        finally:
            self._invoke = previous

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
        with self._busy:
            self._handle([to_lambda_record(m, self._queue_arn) for m in messages])
        return len(messages)

    def wait_idle(self) -> None:
        """Return once no batch is being handled (one received later may be, at once)."""
        with self._busy:
            pass

    def _handle(self, records: list[dict[str, Any]]) -> None:
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

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                if self._stop.is_set():
                    return
                logger.exception("event pump: polling failed; trying again")
                self._stop.wait(1)
