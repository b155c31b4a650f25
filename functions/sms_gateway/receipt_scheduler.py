"""The send path's one extra call: a receipt check on the receipts queue for what was sent.

One `SendMessage` per message (a message of many chunks puts all its SessionNos in one
check, or a few in one `SendMessageBatch` when the numbers do not fit one SQS message),
only for chunks sent now: a replay was scheduled when it was sent.

A check that cannot be queued does not unsend the message: the SMS went out, and failing
the message would only make its retry an idempotent replay. It is logged (SessionNos, no
numbers) and counted as `ReceiptChecksNotScheduled` (alarmed) instead; its receipts stay
readable with `GET /messages/{SessionNo}` and `smsgw receipts`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any, Final

from sms_gateway import upstream
from sms_gateway.chunks import ChunkOutcome, ChunkRequest
from sms_gateway.gateway_key import GatewayKeySource
from sms_gateway.receipt_checks import SessionCheck, split_for_queue
from sms_gateway.telemetry import Counters

logger = logging.getLogger(__name__)

NOT_SCHEDULED_METRIC: Final = "ReceiptChecksNotScheduled"
# SendMessageBatch takes at most ten entries.
_BATCH_ENTRIES: Final = 10


class ReceiptScheduler:
    """Queues receipt checks (`RECEIPTS_QUEUE_URL`), first after `delay_s` seconds."""

    def __init__(
        self,
        queue_url: str,
        delay_s: int,
        sqs: Callable[[], Any],
        gateway_key: GatewayKeySource,
        counters: Counters,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.queue_url = queue_url
        self.delay_s = delay_s
        self._sqs = sqs
        self._gateway_key = gateway_key
        self._counters = counters
        self._clock = clock

    def schedule(self, sent: Sequence[tuple[ChunkRequest, ChunkOutcome]]) -> None:
        """A check of every chunk in `sent` that was sent now (not a replay)."""
        sessions = [
            session_of(chunk, outcome)
            for chunk, outcome in sent
            if outcome.sent and not outcome.replayed and outcome.session_no
        ]
        if not sessions:
            return
        bodies = list(
            split_for_queue(sessions, self._clock(), self.delay_s, self._gateway_key.get())
        )
        try:
            self._send(bodies)
        except Exception as exc:  # any failure: the message is sent all the same
            self._counters.count(NOT_SCHEDULED_METRIC, len(sessions))
            logger.error(
                "receipt check not scheduled: no delivery events for these sessions",
                extra={
                    "session_nos": [s.session_no for s in sessions],
                    "error": type(exc).__name__,
                },
            )

    def send_checks(self, bodies: Sequence[str], delay_s: int) -> None:
        """Queue ready-made check bodies after `delay_s` (the receipts door's next hop)."""
        self._send(bodies, delay_s)

    def _send(self, bodies: Sequence[str], delay_s: int | None = None) -> None:
        client = self._sqs()
        delay = self.delay_s if delay_s is None else delay_s
        if len(bodies) == 1:
            client.send_message(QueueUrl=self.queue_url, MessageBody=bodies[0], DelaySeconds=delay)
            return
        for start in range(0, len(bodies), _BATCH_ENTRIES):
            entries = [
                {"Id": str(index), "MessageBody": body, "DelaySeconds": delay}
                for index, body in enumerate(bodies[start : start + _BATCH_ENTRIES])
            ]
            answer = client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            if answer.get("Failed"):
                raise RuntimeError(f"{len(answer['Failed'])} receipt checks not queued")


def session_of(chunk: ChunkRequest, outcome: ChunkOutcome) -> SessionCheck:
    """The numbers one sent chunk carried to the provider (less those it or the policy
    refused), each with its UserId."""
    refused = {position for position, _ in outcome.refused or ()}
    phones = chunk.phones
    kept = [position for position in range(len(phones)) if position not in refused]
    if chunk.batch:
        user_ids = upstream.user_ids_of(chunk.body)
        return SessionCheck(
            outcome.session_no, tuple(phones[p] for p in kept), tuple(user_ids[p] for p in kept)
        )
    user_id = chunk.body.get("UserId")
    return SessionCheck(
        outcome.session_no, tuple(phones[p] for p in kept), tuple(user_id for _ in kept)
    )
