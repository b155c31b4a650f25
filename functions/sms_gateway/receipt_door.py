"""The receipts door: a batch of receipt checks from the receipts queue, answered.

For a batch: one `GetUSMSSendReceipt` per 100 SessionNos of all its checks; each number
with a final receipt (`Success` → `DELIVERED`, `Fail`/`SubmitFail` → `FAILED`), or still
without one 12 hours after the send (`UNKNOWN`), becomes one event on the bus, published
once (`event_markers`); the numbers not final yet go back on the queue as the check's next
hop, twice as late (at most 15 minutes).

What fails is retried with the queue (the record is reported as a batch item failure): a
provider error fails every check of the batch; an event the bus refused, or a next hop that
could not be queued, fails its own check. A retried check publishes nothing twice (the
markers), and after `maxReceiveCount` tries it waits in the receipts dead-letter queue
(alarmed).
A record shaped like a check that is not one of this gateway's (no valid seal) is handed to
the message door, which parks it as an invalid message, with its reason.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from sms_gateway.delivery_events import (
    STATUS_METRICS,
    UNKNOWN,
    DeliveryEvent,
    final_status,
    receipt_phone,
)
from sms_gateway.errors import GatewayError
from sms_gateway.event_bus import EventBus
from sms_gateway.event_markers import EventMarkers, NoMarkers
from sms_gateway.gateway_key import GatewayKey, GatewayKeySource
from sms_gateway.provider_answers import Receipt, SessionReceipts
from sms_gateway.receipt_checks import (
    InvalidReceiptCheckError,
    ReceiptCheck,
    SessionCheck,
    split_for_queue,
)
from sms_gateway.receipt_scheduler import ReceiptScheduler
from sms_gateway.telemetry import Counters

logger = logging.getLogger(__name__)

CHECKS_METRIC: Final = "ReceiptChecks"
CHECK_ERRORS_METRIC: Final = "ReceiptCheckErrors"
PUBLISHED_METRIC: Final = "DeliveryEventsPublished"


class ReceiptSource(Protocol):
    """Where receipts come from (the sender's provider client)."""

    def receipts(self, session_nos: Sequence[str]) -> list[SessionReceipts]: ...


@dataclass
class _Settled:
    """One check's numbers: final now, or pending for the next hop."""

    final: list[DeliveryEvent] = field(default_factory=list)
    pending: list[SessionCheck] = field(default_factory=list)


class ReceiptDoor:
    """Answers receipt checks: asks the provider, publishes, schedules the next hop."""

    def __init__(
        self,
        source: ReceiptSource,
        scheduler: ReceiptScheduler,
        bus: EventBus,
        markers: EventMarkers | NoMarkers,
        gateway_key: GatewayKeySource,
        counters: Counters,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._source = source
        self._scheduler = scheduler
        self._bus = bus
        self._markers = markers
        self._gateway_key = gateway_key
        self._counters = counters
        self._clock = clock

    def process(
        self, records: Sequence[Mapping[str, Any]]
    ) -> tuple[list[str], list[Mapping[str, Any]]]:
        """Answer every check of `records` (SQS records): the MessageIds to retry, and the
        records that are not checks of this gateway (for the message door, which parks
        them with their reason)."""
        key = self._gateway_key.get()
        checks, foreign = self._read(records, key)
        return self._answer(checks, key), foreign

    def _answer(self, checks: Sequence[tuple[str, ReceiptCheck]], key: GatewayKey) -> list[str]:
        failed: list[str] = []
        if not checks:
            return failed
        self._counters.count(CHECKS_METRIC, len(checks))
        try:
            receipts = self._ask([check for _, check in checks])
        except GatewayError as exc:
            self._counters.count_by(CHECK_ERRORS_METRIC, "Reason", exc.code)
            logger.warning(
                "receipt checks failed: the queue retries them",
                extra={"error_code": exc.code, "checks": len(checks)},
            )
            return failed + [message_id for message_id, _ in checks]
        now = self._clock()
        settled = {message_id: settle(check, receipts, now) for message_id, check in checks}
        unpublished = self._publish(settled, key)
        for message_id, check in checks:
            if message_id in unpublished or not self._next_hop(check, settled[message_id], now):
                failed.append(message_id)
        return failed

    def _read(
        self, records: Sequence[Mapping[str, Any]], key: GatewayKey
    ) -> tuple[list[tuple[str, ReceiptCheck]], list[Mapping[str, Any]]]:
        checks: list[tuple[str, ReceiptCheck]] = []
        foreign: list[Mapping[str, Any]] = []
        for record in records:
            message_id = str(record.get("messageId", ""))
            try:
                checks.append((message_id, ReceiptCheck.from_body(record.get("body", ""), key)))
            except InvalidReceiptCheckError as exc:
                self._counters.count_by(CHECK_ERRORS_METRIC, "Reason", "InvalidReceiptCheck")
                logger.warning(
                    "shaped like a receipt check, but not one of this gateway's",
                    extra={"message_id": message_id, "reason": str(exc)},
                )
                foreign.append(record)
        return checks, foreign

    def _ask(self, checks: Sequence[ReceiptCheck]) -> dict[str, dict[str, Receipt]]:
        """Every check's receipts, by SessionNo and number (one call per 100 SessionNos)."""
        session_nos = list(dict.fromkeys(no for check in checks for no in check.session_nos))
        return {
            session.session_no: {receipt_phone(r): r for r in session.receipts}
            for session in self._source.receipts(session_nos)
        }

    def _publish(self, settled: Mapping[str, _Settled], key: GatewayKey) -> set[str]:
        """Put each final event not published before; the checks with an event the bus
        did not take (their retry puts it)."""
        owners = [(message_id, event) for message_id, s in settled.items() for event in s.final]
        if not owners:
            return set()
        claimed = self._markers.claim([event.event_id(key) for _, event in owners])
        mine = [owner for owner, ok in zip(owners, claimed, strict=True) if ok]
        taken = self._bus.put([event for _, event in mine], key) if mine else []
        put = [event for (_, event), ok in zip(mine, taken, strict=True) if ok]
        refused = [(owner, event) for (owner, event), ok in zip(mine, taken, strict=True) if not ok]
        self._markers.confirm([event.event_id(key) for event in put])
        self._markers.release([event.event_id(key) for _, event in refused])
        self._count(put)
        return {owner for owner, _ in refused}

    def _next_hop(self, check: ReceiptCheck, settled: _Settled, now: float) -> bool:
        """Queue the check of what is still pending; False if the queue refused it."""
        if not settled.pending:
            return True
        delay = check.next_delay(now)
        bodies = list(
            split_for_queue(settled.pending, check.sent_at, delay, self._gateway_key.get())
        )
        try:
            self._scheduler.send_checks(bodies, delay)
        except Exception as exc:  # any failure: the queue retries the check
            logger.warning("next receipt check not queued", extra={"error": type(exc).__name__})
            return False
        return True

    def _count(self, published: Sequence[DeliveryEvent]) -> None:
        if not published:
            return
        self._counters.count(PUBLISHED_METRIC, len(published))
        tally = Counter((STATUS_METRICS[event.status], event.country) for event in published)
        for (metric, country), count in tally.items():
            self._counters.count_with(metric, {"Country": country}, count)
        # The same counts without `Country`: the delivery-rate alarm adds them up, and an
        # alarm cannot sum over dimension values unknown when the stack is made.
        for metric, count in Counter(STATUS_METRICS[event.status] for event in published).items():
            self._counters.count(metric, count)
        logger.info(
            "delivery events published",
            extra={"events": {f"{m}/{c}": n for (m, c), n in tally.items()}},
        )


def settle(
    check: ReceiptCheck, receipts: Mapping[str, Mapping[str, Receipt]], now: float
) -> _Settled:
    """Which numbers of `check` are final (with their event), and which wait."""
    result = _Settled()
    expired = now >= check.final_at()
    for session in check.sessions:
        found = receipts.get(session.session_no, {})
        waiting: list[tuple[str, str | None]] = []
        for phone, user_id in zip(session.phones, session.user_ids, strict=True):
            receipt = found.get(phone)
            status = final_status(receipt) or (UNKNOWN if expired else None)
            if status is None:
                waiting.append((phone, user_id))
            else:
                result.final.append(
                    DeliveryEvent(session.session_no, phone, status, user_id, receipt)
                )
        if waiting:
            result.pending.append(
                SessionCheck(
                    session.session_no,
                    tuple(phone for phone, _ in waiting),
                    tuple(user_id for _, user_id in waiting),
                )
            )
    return result
