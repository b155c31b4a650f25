"""Counter updates against the protection table, in concurrent rounds: one `UpdateItem`
each, or up to 100 at once in a `TransactWriteItems` call.

A transaction is all or nothing. When DynamoDB cancels one (`TransactionCanceledException`)
its `CancellationReasons` hold one code per item, in the request's order, the literal
"None" for an item with no error (botocore puts the list in `exc.response`; moto 5.2
answers the same way). An item whose code is `ConditionalCheckFailed` lacked room and
took nothing: the caller decides what it gets. Every other item took nothing either and
goes into a new transaction. `TransactionConflict` (another transaction on the same item
at that moment), `ThrottlingError` and `ProvisionedThroughputExceeded` are tried again
after a short random pause, a few times; after that, or on a code not known here
(`ValidationError`, …), the items are taken one `UpdateItem` each: that path ends in the
error DynamoDB gives for the item itself, reported as before.

A transaction that committed is never applied twice: botocore gives each call its own
`ClientRequestToken` (the operation's idempotency token) and keeps it when it retries
the call after a lost answer. Each item of a transaction costs 2 write units, an
`UpdateItem` 1. An `UpdateItem` on an item that a transaction holds at that moment is
refused (`TransactionConflictException`) without being applied: tried again likewise.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Final, Generic, TypeVar

from sms_gateway.errors import ConfigurationError

# DynamoDB's most items in one TransactWriteItems call.
MAX_ITEMS: Final = 100
# At most this many updates to batch in a round: one UpdateItem each instead (a
# transaction would save no round and only double the write units).
FEW: Final = 3
CONDITION_FAILED: Final = "ConditionalCheckFailed"
NO_ERROR: Final = "None"
# Codes that say "not now": nothing in the request was wrong.
_CONTENDED: Final = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
)
# Tries against contention before giving up (a transaction's items then go one UpdateItem
# each). A conflicting transaction holds its items for tens of milliseconds: the pauses
# (random, up to 20 ms, then up to 40 ms) let it finish without holding a chunk up long.
TRIES: Final = 3
_PAUSE_S: Final = 0.02
_UNKNOWN: Final = "Unknown"

T = TypeVar("T")
R = TypeVar("R")
Entry = tuple[T, dict[str, Any]]  # a tag the caller knows the update by, and its request


@dataclass
class Settled(Generic[T]):
    """What became of a set of updates, by tag: `committed` took their count, `refused`
    failed their condition (took nothing), `unresolved` took nothing, to be tried alone."""

    committed: list[T] = field(default_factory=list)
    refused: list[T] = field(default_factory=list)
    unresolved: list[T] = field(default_factory=list)

    def add(self, other: Settled[T]) -> None:
        """Fold `other` into this one."""
        self.committed += other.committed
        self.refused += other.refused
        self.unresolved += other.unresolved


def pause(attempt: int) -> None:
    """Wait before try `attempt + 1` (full jitter: concurrent callers spread out)."""
    time.sleep(random.uniform(0, _PAUSE_S * 2 ** (attempt - 1)))


def batches(entries: Sequence[Entry[T]]) -> list[list[Entry[T]]]:
    """`entries` in as few transactions as fit, of even size: at most `MAX_ITEMS` each,
    and never two updates of one item in one (DynamoDB refuses that; two limits that
    differ only in `Count` share their counters)."""
    if not entries:
        return []
    size = math.ceil(len(entries) / math.ceil(len(entries) / MAX_ITEMS))
    groups: list[list[Entry[T]]] = []
    keys: list[set[str]] = []
    for entry in entries:
        key = repr(sorted(entry[1]["Key"].items()))
        home = next(
            (i for i, held in enumerate(keys) if len(groups[i]) < size and key not in held), None
        )
        if home is None:
            groups.append([])
            keys.append(set())
            home = len(groups) - 1
        groups[home].append(entry)
        keys[home].add(key)
    return groups


class CounterWrites:
    """The protection table's counter writes, in concurrent rounds on `pool`; every error
    a `ConfigurationError` but the ones the callers act on."""

    def __init__(self, dynamodb: Any, pool: Executor) -> None:
        self._dynamodb = dynamodb
        self._pool = pool

    def all(self, call: Callable[[Any], R], items: Sequence[Any]) -> list[R]:
        """`call` on every item at once (one concurrent round)."""
        if len(items) <= 1:
            return [call(item) for item in items]
        return list(self._pool.map(call, items))

    def round(self, entries: Sequence[Entry[T]], batched: Callable[[T], bool]) -> Settled[T]:
        """Apply `entries` in one concurrent round: those `batched` selects in transactions
        when there are more than `FEW`, the others one UpdateItem each; then, one
        UpdateItem each, what a transaction left unresolved (contention it did not get
        past). Nothing is left unresolved in the answer. Tags are distinct objects."""
        own = [entry for entry in entries if batched(entry[0])]
        if len(own) <= FEW:
            own = []
        jobs: list[Callable[[], Settled[T]]] = [partial(self.commit, b) for b in batches(own)]
        jobs += [partial(self.alone, e) for e in entries if not own or not batched(e[0])]
        settled: Settled[T] = Settled()
        for outcome in self.all(_run, jobs):
            settled.add(outcome)
        left = {id(tag) for tag in settled.unresolved}
        settled.unresolved = []
        for outcome in self.all(self.alone, [e for e in own if id(e[0]) in left]):
            settled.add(outcome)
        return settled

    def alone(self, entry: Entry[T]) -> Settled[T]:
        """One UpdateItem: the tag committed, or refused when its condition failed."""
        tag, request = entry
        try:
            self.update(request)
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            return Settled(refused=[tag])
        return Settled(committed=[tag])

    def update(self, request: dict[str, Any]) -> None:
        """One UpdateItem; `ConditionalCheckFailedException` when its condition fails."""
        for attempt in range(1, TRIES + 1):
            try:
                self.call("update_item", **request)
            except self._dynamodb.exceptions.TransactionConflictException:
                if attempt == TRIES:
                    raise ConfigurationError(
                        "the protection table cannot be used: TransactionConflictException"
                    ) from None
                pause(attempt)
                continue
            return

    def commit(self, entries: Sequence[Entry[T]]) -> Settled[T]:
        """Apply `entries` (distinct items, at most `MAX_ITEMS`) in one transaction, tried
        again as the module says; each tag ends up in one list of the answer."""
        pending = list(entries)
        settled: Settled[T] = Settled()
        contended = 0
        while pending:
            codes = self._transact([request for _, request in pending])
            if codes is None:
                settled.committed += [tag for tag, _ in pending]
                break
            failed = [code == CONDITION_FAILED for code in codes]
            settled.refused += [tag for (tag, _), no in zip(pending, failed, strict=True) if no]
            rest = [entry for entry, no in zip(pending, failed, strict=True) if not no]
            contention = any(code in _CONTENDED for code in codes)
            contended += contention
            unknown = set(codes) - {NO_ERROR, CONDITION_FAILED, *_CONTENDED}
            # Each round refuses an item or counts a try against contention: it ends.
            # (DynamoDB names every item whose condition failed; were it to name fewer,
            # the next round would name the others.)
            if unknown or contended == TRIES or (len(rest) == len(pending) and not contention):
                settled.unresolved += [tag for tag, _ in rest]
                break
            if contention:
                pause(contended)
            pending = rest
        return settled

    def _transact(self, requests: list[dict[str, Any]]) -> list[str] | None:
        """None when the transaction committed, else each item's cancellation code."""
        try:
            self.call("transact_write_items", TransactItems=[{"Update": r} for r in requests])
        except self._dynamodb.exceptions.TransactionCanceledException as exc:
            reasons = exc.response.get("CancellationReasons") or []
            codes = [str(reason.get("Code", _UNKNOWN)) for reason in reasons]
            return codes if len(codes) == len(requests) else [_UNKNOWN] * len(requests)
        return None

    def call(self, operation: str, **kwargs: Any) -> Any:
        """`operation` on the client; the errors the callers act on pass through."""
        from botocore.exceptions import BotoCoreError, ClientError

        exceptions = self._dynamodb.exceptions
        try:
            return getattr(self._dynamodb, operation)(**kwargs)
        except (
            exceptions.ConditionalCheckFailedException,
            exceptions.TransactionCanceledException,
            exceptions.TransactionConflictException,
        ):
            raise
        except (BotoCoreError, ClientError) as exc:
            raise ConfigurationError(
                f"the protection table cannot be used: {type(exc).__name__}"
            ) from None


def _run(job: Callable[[], R]) -> R:
    return job()
