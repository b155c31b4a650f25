"""Putting delivery events on the EventBridge bus: ten a call, failed entries tried again.

`PutEvents` takes at most ten entries and can take some and refuse others (throttling,
an internal error): the refused ones are put again, a few times, with a short pause; what
is still refused is reported to the caller, who gives its markers back so the check's
retry puts them.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any, Final

from sms_gateway.delivery_events import DETAIL_TYPE, SOURCE, DeliveryEvent
from sms_gateway.gateway_key import GatewayKey

logger = logging.getLogger(__name__)

MAX_ENTRIES_PER_CALL: Final = 10
_TRIES: Final = 3
_PAUSE_S: Final = 0.1


class EventBus:
    """One bus (`EVENT_BUS_NAME`), through a client made on first use."""

    def __init__(
        self,
        bus_name: str,
        events: Callable[[], Any],
        pool: Executor,
        with_phone_numbers: bool = False,
    ) -> None:
        self.bus_name = bus_name
        self._events = events
        self._pool = pool
        self.with_phone_numbers = with_phone_numbers

    def put(self, events: Sequence[DeliveryEvent], key: GatewayKey) -> list[bool]:
        """Put every event; for each, whether the bus took it."""
        entries = [self._entry(event, key) for event in events]
        groups = [
            entries[start : start + MAX_ENTRIES_PER_CALL]
            for start in range(0, len(entries), MAX_ENTRIES_PER_CALL)
        ]
        taken = self._pool.map(self._put_group, groups)
        return [ok for group in taken for ok in group]

    def _entry(self, event: DeliveryEvent, key: GatewayKey) -> dict[str, Any]:
        detail = event.detail(key, self.with_phone_numbers)
        return {
            "Source": SOURCE,
            "DetailType": DETAIL_TYPE,
            "Detail": json.dumps(detail, separators=(",", ":")),
            "EventBusName": self.bus_name,
        }

    def _put_group(self, entries: list[dict[str, Any]]) -> list[bool]:
        """At most ten entries; which the bus took after up to `_TRIES` tries."""
        from botocore.exceptions import BotoCoreError, ClientError

        taken = [False] * len(entries)
        waiting = list(range(len(entries)))
        for attempt in range(_TRIES):
            if attempt:
                time.sleep(_PAUSE_S * attempt)
            try:
                answer = self._events().put_events(Entries=[entries[i] for i in waiting])
            except (BotoCoreError, ClientError) as exc:
                logger.warning("PutEvents failed", extra={"error": type(exc).__name__})
                continue
            results = answer.get("Entries", [])
            still = []
            for position, result in zip(waiting, results, strict=False):
                if result.get("EventId") and not result.get("ErrorCode"):
                    taken[position] = True
                else:
                    still.append(position)
            waiting = still + waiting[len(results) :]
            if not waiting:
                break
        if waiting:
            logger.warning("the bus did not take some events", extra={"events": len(waiting)})
        return taken
