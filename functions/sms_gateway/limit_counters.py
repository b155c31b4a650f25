"""The traffic policy's limits, counted in the protection table: fixed windows, atomic.

Each limit counts numbers per fixed window of its `Seconds`, aligned to the clock (a
window starts at a multiple of `Seconds` since the epoch), in one item per (limit, key,
window) whose id is an HMAC under the gateway key — the table holds no number. A chunk
takes its slots with one conditional update per counter (`ADD` only if the count stays
within the limit), all counters at once: DynamoDB applies each atomically, so two
containers never both take a counter's last slot. Only a counter that lacks room costs a
second round (read the count, take what is left), and numbers refused by one limit give
back the slots they took in the others, so a number counts only once it passes them all.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Final

from sms_gateway.errors import ConfigurationError
from sms_gateway.gateway_key import GatewayKey
from sms_gateway.policy import Limit

COUNTER_PREFIX: Final = "count#"
# A screened chunk's limit decisions, kept for its retries (see `remember`).
MARKER_PREFIX: Final = "screened#"
# As long as a retry of the chunk can come: the idempotency window.
MARKER_TTL_S: Final = 24 * 3600
PARTITION_KEY: Final = "id"
TTL_ATTRIBUTE: Final = "expiration"
_COUNT: Final = "n"
# Tries to take the last slots of a counter that others are taking too.
_PARTIAL_TRIES: Final = 5
# A counter outlives its window a little, so a late read still finds it.
_TTL_GRACE_S: Final = 300


@dataclass(frozen=True)
class Candidate:
    """A number the limits are asked about: its position in the chunk and its region."""

    position: int
    phone: str
    region: str


@dataclass(frozen=True)
class LimitRefusal:
    """A number one limit refused, and when that limit's window ends (epoch seconds)."""

    reason: str
    window_end: float


@dataclass(frozen=True, eq=False)  # a dict key by identity: the Limit model holds lists
class _Group:
    limit: Limit
    counter_id: str
    window_end: float
    positions: tuple[int, ...]


class LimitCounters:
    """Takes slots in the limits' counters for the numbers of one chunk."""

    def __init__(self, table_name: str, dynamodb: Any, pool: Executor) -> None:
        self.table_name = table_name
        self._dynamodb = dynamodb
        self.pool = pool  # the protection checks' own threads (they run in chunk threads)

    def take(
        self,
        limits: Sequence[Limit],
        candidates: Sequence[Candidate],
        key: GatewayKey,
        now: float,
    ) -> dict[int, LimitRefusal]:
        """Count `candidates` against `limits`; the refused ones by position (they hold no
        slot afterwards), every other one counted once in every limit that applies."""
        groups = _groups(limits, candidates, key, now)
        taken = dict(zip(groups, self._all(self._take_whole, groups), strict=True))
        short = [group for group, count in taken.items() if count < len(group.positions)]
        taken.update(zip(short, self._all(self._take_rest, short), strict=True))
        refused: dict[int, LimitRefusal] = {}
        for group, count in taken.items():
            for position in group.positions[count:]:
                refusal = LimitRefusal(group.limit.refusal_reason, group.window_end)
                refused.setdefault(position, refusal)
        giving_back = [
            (group, sum(1 for p in group.positions[:count] if p in refused))
            for group, count in taken.items()
        ]
        self._all(self._give_back, [(g, n) for g, n in giving_back if n])
        return refused

    def remembered(self, chunk_key: str) -> dict[int, LimitRefusal] | None:
        """The limit decisions `remember` kept for this chunk, or None if it was never
        counted."""
        answer = self._call(
            "get_item",
            TableName=self.table_name,
            Key={PARTITION_KEY: {"S": MARKER_PREFIX + chunk_key}},
            ConsistentRead=True,
        )
        item = answer.get("Item")
        if item is None:
            return None
        stored: list[list[Any]] = json.loads(item["refused"]["S"])
        return {int(p): LimitRefusal(str(r), float(end)) for p, r, end in stored}

    def remember(self, chunk_key: str, refused: dict[int, LimitRefusal], now: float) -> None:
        """Keep a counted chunk's refusals: its retries reuse them instead of counting its
        numbers again. The key is the chunk's idempotency key (an HMAC: no number)."""
        stored = [[p, r.reason, r.window_end] for p, r in sorted(refused.items())]
        self._call(
            "put_item",
            TableName=self.table_name,
            Item={
                PARTITION_KEY: {"S": MARKER_PREFIX + chunk_key},
                "refused": {"S": json.dumps(stored)},
                TTL_ATTRIBUTE: {"N": str(int(now) + MARKER_TTL_S)},
            },
        )

    def _all(self, call: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        """`call` on every item at once (one concurrent round)."""
        if len(items) <= 1:
            return [call(item) for item in items]
        return list(self.pool.map(call, items))

    def _take_whole(self, group: _Group) -> int:
        wanted = len(group.positions)
        if wanted > group.limit.count:
            return 0  # can never fit: the second round takes what is left
        try:
            self._add(
                group,
                wanted,
                "attribute_not_exists(#n) OR #n <= :most",
                {":most": {"N": str(group.limit.count - wanted)}},
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return 0
        return wanted

    def _take_rest(self, group: _Group) -> int:
        """Take what room the counter has left (others may be taking it too)."""
        for _ in range(_PARTIAL_TRIES):
            current = self._count(group)
            room = min(group.limit.count - current, len(group.positions))
            if room <= 0:
                return 0
            condition = "attribute_not_exists(#n)" if current == 0 else "#n = :seen"
            try:
                self._add(group, room, condition, {":seen": {"N": str(current)}} if current else {})
            except self._dynamodb.exceptions.ConditionalCheckFailedException:
                continue
            return room
        return 0

    def _give_back(self, item: tuple[_Group, int]) -> None:
        group, count = item
        self._add(group, -count, None, {})

    def _count(self, group: _Group) -> int:
        answer = self._call(
            "get_item",
            TableName=self.table_name,
            Key={PARTITION_KEY: {"S": group.counter_id}},
            ConsistentRead=True,
        )
        value = answer.get("Item", {}).get(_COUNT, {}).get("N")
        return int(value) if value is not None else 0

    def _add(
        self, group: _Group, count: int, condition: str | None, values: dict[str, Any]
    ) -> None:
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {PARTITION_KEY: {"S": group.counter_id}},
            "UpdateExpression": "ADD #n :count SET #ttl = :ttl",
            "ExpressionAttributeNames": {"#n": _COUNT, "#ttl": TTL_ATTRIBUTE},
            "ExpressionAttributeValues": {
                ":count": {"N": str(count)},
                ":ttl": {"N": str(int(group.window_end) + _TTL_GRACE_S)},
                **values,
            },
        }
        if condition is not None:
            request["ConditionExpression"] = condition
        self._call("update_item", **request)

    def _call(self, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self._dynamodb, operation)(**kwargs)
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            raise
        except (BotoCoreError, ClientError) as exc:
            raise ConfigurationError(
                f"the protection table cannot be used: {type(exc).__name__}"
            ) from None


def _groups(
    limits: Sequence[Limit], candidates: Sequence[Candidate], key: GatewayKey, now: float
) -> list[_Group]:
    """The counters the candidates fall into, one group of positions per counter."""
    groups: dict[tuple[int, str], list[int]] = defaultdict(list)
    ends: dict[tuple[int, str], float] = {}
    for index, limit in enumerate(limits):
        start = math.floor(now / limit.seconds) * limit.seconds
        for candidate in candidates:
            if not limit.applies_to(candidate.region):
                continue
            subject = _subject(limit, candidate)
            identity = f"{limit.scope}|{limit.seconds}|{limit.digits}|{limit.countries}|{start}"
            counter = (index, COUNTER_PREFIX + key.digest(f"{identity}|{subject}"))
            groups[counter].append(candidate.position)
            ends[counter] = start + limit.seconds
    return [
        _Group(limits[index], counter_id, ends[(index, counter_id)], tuple(positions))
        for (index, counter_id), positions in groups.items()
    ]


def _subject(limit: Limit, candidate: Candidate) -> str:
    """What one counter of `limit` counts: a number, a block of numbers, a region, all."""
    digits = "".join(ch for ch in candidate.phone if ch.isdigit())
    if limit.scope == "Number":
        return digits
    if limit.scope == "Prefix":
        return digits[: -(limit.digits or 1)]
    if limit.scope == "Country":
        return candidate.region
    return "*"
