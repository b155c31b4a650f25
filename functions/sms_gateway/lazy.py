"""One object made on first use and shared after: a boto3 client, the receipts door.

A boto3 client costs a cold start tens of milliseconds and the receipts door its modules;
made when first needed, a container that never needs one pays nothing. The first use can
come from several worker threads at once (records and chunks run in pools), hence the
lock: one object, made once. Two different objects can still be made at once; a boto3
session's factories take a lock of their own (`gateway.made_one_at_a_time`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def once(make: Callable[[], T]) -> Callable[[], T]:
    """A function that returns `make()`, called the first time and never again."""
    made: list[T] = []
    lock = threading.Lock()

    def get() -> T:
        with lock:
            if not made:
                made.append(make())
            return made[0]

    return get
