"""SQS batches and SNS notifications: every record sent, parked, or reported for retry.

Import this module before anything imports pydantic (the handler does): Powertools' batch
utilities, imported once pydantic is loaded, also build every parser model Powertools has
(≈100 ms of a cold start) for type aliases this module never uses — three times what the
utilities cost on their own. SQS is the main door, so they are imported with the module,
not by the first batch (benchmarks/RESULTS.md has both figures).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)

from sms_gateway.deliveries import from_sns_record, from_sqs_record
from sms_gateway.receipt_checks import looks_like_check
from sms_gateway.telemetry import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from sms_gateway.gateway import Gateway

# One thread per record of a full batch (the event source's batch size is 10): records wait
# on their chunks, the chunk pool bounds the calls upstream. Two pools, not one: a record
# waits on its chunks, so records and chunks sharing one pool could take every thread with
# waiting records and leave no thread for a chunk. The asyncio processor is Powertools' way
# of running records concurrently; the gateway's code is synchronous, hence the executor.
_RECORD_WORKERS: Final = 10
_records_pool = ThreadPoolExecutor(_RECORD_WORKERS, thread_name_prefix="record")


def process_sqs(event: dict[str, Any], context: LambdaContext, gateway: Gateway) -> dict[str, Any]:
    """Receipt checks (the receipts queue) to the receipts door; messages through
    Powertools' batch processing, records concurrently. The answer lists only records worth
    retrying (`ReportBatchItemFailures`). Parked records are successes here."""
    records = event.get("Records") or []
    checks = [record for record in records if looks_like_check(record.get("body"))]
    if not checks:
        return _process_messages(event, context, gateway)
    failed, foreign = _process_checks(checks, gateway)
    rest = foreign + [record for record in records if not looks_like_check(record.get("body"))]
    if rest:
        answer = _process_messages({**event, "Records": rest}, context, gateway)
        failed += [item["itemIdentifier"] for item in answer["batchItemFailures"]]
    return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}


def _process_checks(
    checks: list[dict[str, Any]], gateway: Gateway
) -> tuple[list[str], list[dict[str, Any]]]:
    """The receipts door's answer (the first batch of checks makes the door); without one
    (no bus configured) every check waits for the queue's retry, and then its dead-letter
    queue: never answered wrongly."""
    door = gateway.receipt_door()
    if door is None:
        logger.error(
            "receipt checks arrived, but EVENT_BUS_NAME or RECEIPTS_QUEUE_URL is not set",
            extra={"checks": len(checks)},
        )
        return [str(record.get("messageId", "")) for record in checks], []
    failed, foreign = door.process(checks)
    return failed, [dict(record) for record in foreign]


def _process_messages(
    event: dict[str, Any], context: LambdaContext, gateway: Gateway
) -> dict[str, Any]:
    # An entire batch of transient failures is a normal answer, not an exception: every
    # record is reported and the queue retries each.
    processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

    async def record_handler(record: SQSRecord) -> str:
        delivery = from_sqs_record(record)  # Powertools' record is a Mapping of the event
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            _records_pool, gateway.send_or_park, delivery, context.get_remaining_time_in_millis
        )

    response = async_process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)


def process_sns(event: dict[str, Any], context: LambdaContext, gateway: Gateway) -> dict[str, Any]:
    """A direct subscription to an existing topic. Raising makes Lambda retry the event and
    then send it to the on-failure destination, so only retryable failures raise."""
    outcomes = [
        gateway.send_or_park(from_sns_record(record), context.get_remaining_time_in_millis)
        for record in event.get("Records", [])
    ]
    return {"Outcomes": outcomes}
