"""Which door an event came through, by its shape."""

from __future__ import annotations

from enum import Enum
from typing import Any


class EventKind(Enum):
    """The four shapes the function takes."""

    SQS = "sqs"
    SNS = "sns"
    API = "api"
    DIRECT = "direct"


def kind_of(event: Any) -> EventKind:
    """SQS and SNS by their records' source; API Gateway by its proxy fields; anything
    else is a direct invocation of a bare message (which the model then judges)."""
    if isinstance(event, dict):
        records = event.get("Records")
        if isinstance(records, list) and records and isinstance(records[0], dict):
            first = records[0]
            if first.get("eventSource") == "aws:sqs":
                return EventKind.SQS
            if first.get("EventSource") == "aws:sns":
                return EventKind.SNS
        if "httpMethod" in event and "requestContext" in event:
            return EventKind.API
    return EventKind.DIRECT
