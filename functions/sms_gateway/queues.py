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
    """Powertools' batch processing, records concurrently; the answer lists only records
    worth retrying (`ReportBatchItemFailures`). Parked records are successes here."""
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
