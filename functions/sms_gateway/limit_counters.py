"""The traffic policy's limits, counted in the protection table: fixed windows, atomic.

Each limit counts numbers per fixed window of its `Seconds`, aligned to the clock (a
window starts at a multiple of `Seconds` since the epoch), in one item per (limit, key,
window) whose id is an HMAC under the gateway key — the table holds no number. A chunk
takes its slots in one concurrent round of conditional updates (`ADD` only if the count
stays within the limit): DynamoDB applies each atomically, so two containers never both
take a counter's last slot. Only a counter that lacks room costs a second round (read the
count, take what is left), and numbers refused by one limit give back the slots they took
in the others, so a number counts only once it passes them all.

The updates of a chunk's own counters — `Number` and `Prefix`, about three per scattered
number under the default policy — go up to 100 in one `TransactWriteItems` call
(`counter_transactions`): a chunk of 1,000 such numbers costs 30 transactions (and an
`UpdateItem` per shared counter) instead of 3,002 `UpdateItem`s, ≈100× fewer calls, for
twice the write units (DynamoDB bills each item of a transaction 2 WCU, an `UpdateItem`
1). A counter refused by its condition takes nothing and goes to the second round; the
transaction's other counters are tried again without it. The shared counters (`Country`,
`Global`) stay one `UpdateItem` each in the same round: every chunk of every container
touches them, and transactions on one item at once cancel each other
(`TransactionConflict`) where plain updates simply queue — besides, a transaction would
bill the hottest items twice. A chunk with at most three counters of its own (one number
under the default policy) takes them one `UpdateItem` each too: with so few, a transaction
saves no round and only doubles the write units. Give-backs follow the same rule.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Final

from sms_gateway.counter_transactions import CounterWrites
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
# Room for a group's whole count: the counter is new, or adding it stays within the limit.
_ROOM: Final = "attribute_not_exists(#n) OR #n <= :most"
# Scopes whose counters are a chunk's own (a destination, a block of them): many per
# chunk, seldom touched by another chunk at the same moment — they go in transactions.
_OWN_SCOPES: Final = frozenset({"Number", "Prefix"})
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

    @property
    def own(self) -> bool:
        """Whether this counter is the chunk's own (a transaction's), not a shared one."""
        return self.limit.scope in _OWN_SCOPES


class LimitCounters:
    """Takes slots in the limits' counters for the numbers of one chunk."""

    def __init__(self, table_name: str, dynamodb: Any, pool: Executor) -> None:
        self.table_name = table_name
        self._dynamodb = dynamodb
        self.pool = pool  # the protection checks' own threads (they run in chunk threads)
        self._writes = CounterWrites(dynamodb, pool)

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
        taken = self._take_whole(groups)
        short = [group for group, count in taken.items() if count < len(group.positions)]
        taken.update(zip(short, self._writes.all(self._take_rest, short), strict=True))
        refused: dict[int, LimitRefusal] = {}
        for group, count in taken.items():
            for position in group.positions[count:]:
                refusal = LimitRefusal(group.limit.refusal_reason, group.window_end)
                refused.setdefault(position, refusal)
        giving_back = [
            (group, sum(1 for p in group.positions[:count] if p in refused))
            for group, count in taken.items()
        ]
        self._give_back([(group, count) for group, count in giving_back if count])
        return refused

    def remembered(self, chunk_key: str) -> dict[int, LimitRefusal] | None:
        """The limit decisions `remember` kept for this chunk, or None if it was never
        counted."""
        answer = self._writes.call(
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
        self._writes.call(
            "put_item",
            TableName=self.table_name,
            Item={
                PARTITION_KEY: {"S": MARKER_PREFIX + chunk_key},
                "refused": {"S": json.dumps(stored)},
                TTL_ATTRIBUTE: {"N": str(int(now) + MARKER_TTL_S)},
            },
        )

    def _take_whole(self, groups: Sequence[_Group]) -> dict[_Group, int]:
        """The first round: each group that fits its limit takes its whole count, or
        nothing (0) if its counter lacks the room."""
        fitting = [group for group in groups if len(group.positions) <= group.limit.count]
        outcome = self._writes.round(
            [(group, self._room_for(group)) for group in fitting], lambda group: group.own
        )
        taken = dict.fromkeys(groups, 0)
        taken.update((group, len(group.positions)) for group in outcome.committed)
        return taken

    def _give_back(self, items: Sequence[tuple[_Group, int]]) -> None:
        """Return `count` slots to each group's counter (the numbers another limit refused):
        unconditional updates, so in transactions too when there are many (a pumping
        chunk's refused numbers give back hundreds of `Number` slots)."""
        self._writes.round(
            [((group, count), self._request(group, -count)) for group, count in items],
            lambda item: item[0].own,
        )

    def _take_rest(self, group: _Group) -> int:
        """Take what room the counter has left (others may be taking it too)."""
        for _ in range(_PARTIAL_TRIES):
            current = self._count(group)
            room = min(group.limit.count - current, len(group.positions))
            if room <= 0:
                return 0
            condition = "attribute_not_exists(#n)" if current == 0 else "#n = :seen"
            values = {":seen": {"N": str(current)}} if current else {}
            try:
                self._writes.update(self._request(group, room, condition, values))
            except self._dynamodb.exceptions.ConditionalCheckFailedException:
                continue
            return room
        return 0

    def _count(self, group: _Group) -> int:
        answer = self._writes.call(
            "get_item",
            TableName=self.table_name,
            Key={PARTITION_KEY: {"S": group.counter_id}},
            ConsistentRead=True,
        )
        value = answer.get("Item", {}).get(_COUNT, {}).get("N")
        return int(value) if value is not None else 0

    def _room_for(self, group: _Group) -> dict[str, Any]:
        """The update that takes the group's whole count if its counter has the room."""
        wanted = len(group.positions)
        return self._request(
            group, wanted, _ROOM, {":most": {"N": str(group.limit.count - wanted)}}
        )

    def _request(
        self,
        group: _Group,
        count: int,
        condition: str | None = None,
        values: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """`ADD count` to the group's counter and set its TTL (UpdateItem's arguments, and
        a transaction's `Update`)."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": {PARTITION_KEY: {"S": group.counter_id}},
            "UpdateExpression": "ADD #n :count SET #ttl = :ttl",
            "ExpressionAttributeNames": {"#n": _COUNT, "#ttl": TTL_ATTRIBUTE},
            "ExpressionAttributeValues": {
                ":count": {"N": str(count)},
                ":ttl": {"N": str(int(group.window_end) + _TTL_GRACE_S)},
                **(values or {}),
            },
        }
        if condition is not None:
            request["ConditionExpression"] = condition
        return request


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
