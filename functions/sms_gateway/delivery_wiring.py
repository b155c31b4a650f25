"""Wiring delivery status events: the scheduler on the send path, the receipts door.

Both exist only when configured: `RECEIPTS_QUEUE_URL` makes the send path schedule checks;
with `EVENT_BUS_NAME` too, the function answers them. Unset (unit tests): no events.

The door, its bus, its markers and its events are imported and built by the first batch of
receipt checks a container gets, not by its cold start: the send path needs none of them,
and a container that only sends never loads them.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Final

from sms_gateway.gateway_key import GatewayKeySource
from sms_gateway.lazy import once
from sms_gateway.receipt_scheduler import ReceiptScheduler
from sms_gateway.settings import Settings
from sms_gateway.telemetry import Counters

if TYPE_CHECKING:
    from sms_gateway.receipt_door import ReceiptDoor, ReceiptSource

# DynamoDB and EventBridge calls in flight at once for one batch of checks.
EVENT_CALLS: Final = 16


def receipt_scheduler(
    settings: Settings,
    sqs: Callable[[], Any],
    gateway_key: GatewayKeySource,
    counters: Counters,
) -> ReceiptScheduler | None:
    """The send path's scheduler, when there is a receipts queue."""
    if settings.receipts_queue_url is None:
        return None
    return ReceiptScheduler(
        settings.receipts_queue_url, settings.receipt_delay_s, sqs, gateway_key, counters
    )


def receipt_door(
    settings: Settings,
    scheduler: ReceiptScheduler | None,
    source: ReceiptSource,
    clients: tuple[Any, Callable[[], Any] | None],
    gateway_key: GatewayKeySource,
    counters: Counters,
) -> Callable[[], ReceiptDoor] | None:
    """What makes the receipts door on first use, when there is a queue and a bus.
    `clients`: DynamoDB's (the markers live in the idempotency table) and EventBridge's
    factory."""
    dynamodb, events = clients
    if scheduler is None or settings.event_bus_name is None or events is None:
        return None
    bus_name = settings.event_bus_name  # a str here; the closure would see str | None

    def build() -> ReceiptDoor:
        from sms_gateway.event_bus import EventBus
        from sms_gateway.event_markers import EventMarkers, NoMarkers
        from sms_gateway.receipt_door import ReceiptDoor

        pool = ThreadPoolExecutor(EVENT_CALLS, thread_name_prefix="events")
        markers = (
            EventMarkers(settings.idempotency_table, dynamodb, pool)
            if settings.idempotency_table
            else NoMarkers()
        )
        bus = EventBus(bus_name, events, pool, settings.events_with_phone_numbers)
        return ReceiptDoor(source, scheduler, bus, markers, gateway_key, counters)

    return once(build)
