"""The limits' counters in transactions: what a chunk costs, counters that are full,
containers taking the last slots at once, and contention retried, then taken one by one.

DynamoDB is moto, behind a thin client that counts the calls, can make a call fail first
(the faults DynamoDB gives under contention), and runs one call at a time: DynamoDB applies
each request atomically, moto does not (two threads' requests interleave inside it), and
what is tested here is how the gateway's requests interleave, not moto's. moto's own
transactions are made affordable first (`local_gateway.moto_dynamodb`, in the `aws` fixture).
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from local_gateway.resources import create_protection_table
from sms_gateway.counter_transactions import MAX_ITEMS, TRIES
from sms_gateway.gateway_key import DEVELOPMENT_KEY, GatewayKey
from sms_gateway.limit_counters import Candidate, LimitCounters, _groups
from sms_gateway.policy import Limit, parse_policy
from tests.unit.conftest import Aws

TABLE = "sms-gateway-protection"
KEY = GatewayKey(DEVELOPMENT_KEY)
# The deployed default's shape: two Number limits, one Prefix, one Country, one Global.
DEFAULT_SHAPE = [
    {"Scope": "Number", "Count": 5, "Seconds": 600},
    {"Scope": "Number", "Count": 20, "Seconds": 86400},
    {"Scope": "Prefix", "Digits": 2, "Count": 20, "Seconds": 3600},
    {"Scope": "Country", "Count": 20000, "Seconds": 3600},
    {"Scope": "Global", "Count": 200000, "Seconds": 86400},
]
CONFLICT = "TransactionConflict"
Fault = Callable[[dict[str, Any]], Exception]


class Recorded:
    """A DynamoDB client that counts its calls, raises queued faults first, and makes
    each call atomic, as DynamoDB's are."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.exceptions = client.exceptions
        self.calls: Counter[str] = Counter()
        self.faults: dict[str, list[Fault]] = defaultdict(list)
        self._lock = threading.Lock()

    def __getattr__(self, operation: str) -> Callable[..., Any]:
        method = getattr(self._client, operation)

        def call(**kwargs: Any) -> Any:
            with self._lock:
                self.calls[operation] += 1
                if self.faults[operation]:
                    raise self.faults[operation].pop(0)(kwargs)
                return method(**kwargs)

        return call

    def cancelled_by(self, code: str) -> Fault:
        """A transaction cancelled because of its first item (`code`), the others fine."""

        def fault(request: dict[str, Any]) -> Exception:
            reasons = [{"Code": code, "Message": "Transaction is ongoing for the item."}]
            reasons += [{"Code": "None"}] * (len(request["TransactItems"]) - 1)
            answer = {
                "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                "CancellationReasons": reasons,
            }
            cancelled: Exception = self.exceptions.TransactionCanceledException(
                answer, "TransactWriteItems"
            )
            return cancelled

        return fault

    def held_by_a_transaction(self, request: dict[str, Any]) -> Exception:
        """An UpdateItem refused: a transaction holds the item at that moment."""
        answer = {"Error": {"Code": "TransactionConflictException", "Message": "ongoing"}}
        refused: Exception = self.exceptions.TransactionConflictException(answer, "UpdateItem")
        return refused


@pytest.fixture
def dynamodb(aws: Aws) -> Recorded:
    create_protection_table(aws.dynamodb, TABLE)
    return Recorded(aws.dynamodb)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(16, thread_name_prefix="protection") as executor:
        yield executor


def _limits(*documents: dict[str, Any]) -> list[Limit]:
    return parse_policy({"Limits": list(documents)}).limits


def _scattered(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"(86)1{rng.randrange(3 * 10**9, 10**10):010d}" for _ in range(count)]


def _candidates(phones: list[str]) -> list[Candidate]:
    return [Candidate(position, phone, "CN") for position, phone in enumerate(phones)]


def _counts(dynamodb: Recorded, limits: list[Limit], phone: str, now: float) -> list[int]:
    """What each limit's counter holds for `phone`: the ids are HMACs, made as `take`
    makes them."""
    counts = []
    for group in _groups(limits, [Candidate(0, phone, "CN")], KEY, now):
        item = dynamodb.get_item(TableName=TABLE, Key={"id": {"S": group.counter_id}})
        counts.append(int(item.get("Item", {}).get("n", {}).get("N", 0)))
    return counts


# --- what a chunk costs ---------------------------------------------------------------------


def test_a_chunk_of_scattered_numbers_costs_one_call_per_hundred_counters(
    dynamodb: Recorded, pool: ThreadPoolExecutor
) -> None:
    limits = _limits(*DEFAULT_SHAPE)
    candidates = _candidates(_scattered(1000, seed=1))
    now = time.time()
    groups = _groups(limits, candidates, KEY, now)
    own = [g for g in groups if g.limit.scope in ("Number", "Prefix")]
    shared = [g for g in groups if g not in own]  # Country CN and Global

    refused = LimitCounters(TABLE, dynamodb, pool).take(limits, candidates, KEY, now)

    assert refused == {}
    assert len(own) > 2900
    assert dynamodb.calls["transact_write_items"] == math.ceil(len(own) / MAX_ITEMS)
    assert dynamodb.calls["transact_write_items"] <= math.ceil(len(groups) / MAX_ITEMS)
    # The shared counters, one UpdateItem each in the same round; no second round.
    assert dynamodb.calls["update_item"] == len(shared) == 2
    assert set(dynamodb.calls) == {"transact_write_items", "update_item"}
    items = dynamodb.scan(TableName=TABLE)["Items"]
    held = Counter(int(item["n"]["N"]) for item in items)
    assert held == {1: len(own), 1000: 2}  # every number counted once in every limit


# --- counters that are full ----------------------------------------------------------------


def test_full_counters_refuse_their_numbers_and_the_rest_is_counted_once(
    dynamodb: Recorded, pool: ThreadPoolExecutor
) -> None:
    limits = _limits(
        {"Scope": "Number", "Count": 2, "Seconds": 600},
        {"Scope": "Number", "Count": 5, "Seconds": 86400},
        {"Scope": "Global", "Count": 1000, "Seconds": 86400},
    )
    counters = LimitCounters(TABLE, dynamodb, pool)
    now = time.time()
    full_a, full_b, one_left, *others = _scattered(11, seed=2)
    for phone in (full_a, full_a, full_b, full_b, one_left):
        assert counters.take(limits, _candidates([phone]), KEY, now) == {}
    dynamodb.calls.clear()
    # `one_left` twice: its counter has room for one of the two.
    chunk = [full_a, full_b, one_left, one_left, *others]

    refused = counters.take(limits, _candidates(chunk), KEY, now)

    assert sorted(refused) == [0, 1, 3]
    assert {r.reason for r in refused.values()} == {"rate_limited"}
    # One transaction cancelled by the full counters, one with the others.
    assert dynamodb.calls["transact_write_items"] == 2
    assert _counts(dynamodb, limits, full_a, now)[:2] == [2, 2]
    assert _counts(dynamodb, limits, full_b, now)[:2] == [2, 2]
    assert _counts(dynamodb, limits, one_left, now)[:2] == [2, 2]
    for phone in others:
        assert _counts(dynamodb, limits, phone, now)[:2] == [1, 1]
    assert _counts(dynamodb, limits, others[0], now)[2] == 5 + len(chunk) - len(refused)


# --- containers taking the last slots at once ----------------------------------------------


def test_two_containers_taking_the_last_slots_at_once_never_exceed_the_limit(
    dynamodb: Recorded,
) -> None:
    limits = _limits(
        {"Scope": "Number", "Count": 3, "Seconds": 600},
        {"Scope": "Global", "Count": 1000, "Seconds": 86400},
    )
    wanted = _scattered(1, seed=3)[0]
    now = time.time()
    start = threading.Barrier(2)

    def container(seed: int) -> list[bool]:
        """Ten chunks, each with the wanted number and four of its own: whether the
        wanted number was counted in each."""
        counted = []
        with ThreadPoolExecutor(16) as own_pool:
            counters = LimitCounters(TABLE, dynamodb, own_pool)
            start.wait()
            for attempt in range(10):
                chunk = [wanted, *_scattered(4, seed=seed * 100 + attempt)]
                refused = counters.take(limits, _candidates(chunk), KEY, now)
                assert set(refused) <= {0}
                counted.append(0 not in refused)
        return counted

    with ThreadPoolExecutor(2) as containers:
        accepted = [n for counted in containers.map(container, (4, 5)) for n in counted]

    assert len(accepted) == 20
    assert sum(accepted) == 3
    assert _counts(dynamodb, limits, wanted, now) == [3, 3 + 2 * 10 * 4]
    assert dynamodb.calls["transact_write_items"] >= 20  # each chunk in a transaction


# --- contention: retried, then one by one ----------------------------------------------------


def test_a_transaction_conflict_is_tried_again(
    dynamodb: Recorded, pool: ThreadPoolExecutor
) -> None:
    limits = _limits({"Scope": "Number", "Count": 5, "Seconds": 600})
    phones = _scattered(10, seed=6)
    dynamodb.faults["transact_write_items"].append(dynamodb.cancelled_by(CONFLICT))
    now = time.time()

    refused = LimitCounters(TABLE, dynamodb, pool).take(limits, _candidates(phones), KEY, now)

    assert refused == {}
    assert dynamodb.calls["transact_write_items"] == 2
    assert dynamodb.calls["update_item"] == 0
    assert [_counts(dynamodb, limits, phone, now) for phone in phones] == [[1]] * 10


def test_repeated_conflicts_fall_back_to_one_update_per_counter(
    dynamodb: Recorded, pool: ThreadPoolExecutor
) -> None:
    limits = _limits({"Scope": "Number", "Count": 5, "Seconds": 600})
    phones = _scattered(10, seed=7)
    dynamodb.faults["transact_write_items"] += [dynamodb.cancelled_by(CONFLICT)] * TRIES
    now = time.time()

    refused = LimitCounters(TABLE, dynamodb, pool).take(limits, _candidates(phones), KEY, now)

    assert refused == {}
    assert dynamodb.calls["transact_write_items"] == TRIES
    assert dynamodb.calls["update_item"] == 10
    assert [_counts(dynamodb, limits, phone, now) for phone in phones] == [[1]] * 10


def test_an_update_refused_while_a_transaction_holds_its_counter_is_tried_again(
    dynamodb: Recorded, pool: ThreadPoolExecutor
) -> None:
    limits = _limits({"Scope": "Number", "Count": 5, "Seconds": 600})
    phone = _scattered(1, seed=8)[0]
    dynamodb.faults["update_item"].append(dynamodb.held_by_a_transaction)
    now = time.time()

    refused = LimitCounters(TABLE, dynamodb, pool).take(limits, _candidates([phone]), KEY, now)

    assert refused == {}
    assert dynamodb.calls["update_item"] == 2
    assert _counts(dynamodb, limits, phone, now) == [1]
