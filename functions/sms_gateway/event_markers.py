"""Each number's final status is published once: a marker per event in the idempotency
table, taken before the event is put and confirmed after.

A receipt check can run twice: SQS delivers at least once, and a check whose invocation
failed part-way is retried whole. So before an event is put on the bus its `EventId` is
claimed with a conditional write (`event#<EventId>`, a keyed hash: no number in the
table); a check that finds the marker taken publishes nothing for that number. After
`PutEvents` the marker is confirmed (`published`), or released when the bus refused the
entry, so the retry puts it again. A claim whose invocation died between the two (a
timeout mid-call) goes stale after `CLAIM_STALE_S` and may be taken again by the retry,
which comes after the queue's visibility timeout, later still: the event is delayed, never
lost, and at worst put twice in that one case (subscribers dedupe on `EventId`).

Cost: one conditional write per published number, in one concurrent round, and one batch
write per 25 numbers to confirm them.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any, Final

from sms_gateway.time_budget import FUNCTION_TIMEOUT_S

MARKER_PREFIX: Final = "event#"
CLAIMED: Final = "claimed"
PUBLISHED: Final = "published"
# Longer than one invocation can hold a claim.
CLAIM_STALE_S: Final = 2 * FUNCTION_TIMEOUT_S
# Longer than a number can wait for its final status (12 hours) and its retries.
MARKER_TTL_S: Final = 48 * 3600
_BATCH_WRITE_ITEMS: Final = 25
_UNPROCESSED_TRIES: Final = 5


class EventMarkers:
    """Claims, confirms and releases event markers in one DynamoDB table."""

    def __init__(
        self,
        table_name: str,
        dynamodb: Any,
        pool: Executor,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.table_name = table_name
        self._dynamodb = dynamodb
        self._pool = pool
        self._clock = clock

    def claim(self, event_ids: Sequence[str]) -> list[bool]:
        """Which of `event_ids` this check may publish (taken now); the others were
        published, or are being published, by another run of the same check."""
        now = self._clock()
        return list(self._pool.map(lambda event_id: self._claim(event_id, now), event_ids))

    def confirm(self, event_ids: Sequence[str]) -> None:
        """Mark `event_ids` as published for good."""
        expiration = str(int(self._clock()) + MARKER_TTL_S)
        for start in range(0, len(event_ids), _BATCH_WRITE_ITEMS):
            requests: dict[str, Any] = {
                self.table_name: [
                    {
                        "PutRequest": {
                            "Item": {
                                "id": {"S": MARKER_PREFIX + event_id},
                                "status": {"S": PUBLISHED},
                                "expiration": {"N": expiration},
                            }
                        }
                    }
                    for event_id in event_ids[start : start + _BATCH_WRITE_ITEMS]
                ]
            }
            for _ in range(_UNPROCESSED_TRIES):
                answer = self._dynamodb.batch_write_item(RequestItems=requests)
                requests = answer.get("UnprocessedItems") or {}
                if not requests:
                    break
                time.sleep(0.05)

    def release(self, event_ids: Sequence[str]) -> None:
        """Give back claims whose events the bus did not take (the retry puts them)."""
        list(self._pool.map(self._release, event_ids))

    def _claim(self, event_id: str, now: float) -> bool:
        try:
            self._dynamodb.update_item(
                TableName=self.table_name,
                Key={"id": {"S": MARKER_PREFIX + event_id}},
                UpdateExpression="SET #s = :claimed, #at = :now, #e = :expiration",
                ConditionExpression="attribute_not_exists(id) OR (#s = :claimed AND #at < :stale)",
                ExpressionAttributeNames={"#s": "status", "#at": "claimed_at", "#e": "expiration"},
                ExpressionAttributeValues={
                    ":claimed": {"S": CLAIMED},
                    ":now": {"N": str(int(now))},
                    ":stale": {"N": str(int(now - CLAIM_STALE_S))},
                    ":expiration": {"N": str(int(now) + MARKER_TTL_S)},
                },
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _release(self, event_id: str) -> None:
        # Confirmed meanwhile (the condition fails): nothing to give back.
        with contextlib.suppress(self._dynamodb.exceptions.ConditionalCheckFailedException):
            self._dynamodb.delete_item(
                TableName=self.table_name,
                Key={"id": {"S": MARKER_PREFIX + event_id}},
                ConditionExpression="#s = :claimed",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={":claimed": {"S": CLAIMED}},
            )


class NoMarkers:
    """Without an idempotency table (local use only): every event is published."""

    def claim(self, event_ids: Sequence[str]) -> list[bool]:
        """Every one."""
        return [True] * len(event_ids)

    def confirm(self, event_ids: Sequence[str]) -> None:
        """Nothing to keep."""

    def release(self, event_ids: Sequence[str]) -> None:
        """Nothing to give back."""
