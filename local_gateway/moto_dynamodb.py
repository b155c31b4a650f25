"""moto's DynamoDB made fit for the protection counters' transactions (moto 5.2).

To roll back a cancelled TransactWriteItems, moto deep-copies the whole table once per
item of the transaction: one transaction of 100 counters on a table of 3,000 takes ≈6 s,
and a chunk of 1,000 numbers fills a table with 3,000. The copy also races with other
threads' writes ("dictionary changed size during iteration"), and a rollback puts back a
table that misses what they wrote meanwhile. And moto's single-item writes are not atomic
across threads (a condition is checked, then the write applied, with a gap), where
DynamoDB isolates each request.

`fast_transactions()` fixes both for as long as it is entered: the in-process moto of the
unit tests (tests/unit/conftest.py) and the moto server of `make local`, the integration
tests and `make bench` (`local_gateway.moto_server`). The answers stay moto's own; it fails
loudly if a moto upgrade moves what it replaces.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any
from unittest import mock


@contextlib.contextmanager
def fast_transactions() -> Iterator[None]:
    """moto with the fixes above, until the context ends."""
    from moto.dynamodb import models
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    backend = models.DynamoDBBackend
    lock = threading.RLock()  # a transaction's own item writes take it again

    def no_table_copy(value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def atomic(method: Callable[..., Any]) -> Callable[..., Any]:
        def alone(*args: Any, **kwargs: Any) -> Any:
            with lock:
                return method(*args, **kwargs)

        return alone

    def transact(self: Any, transact_items: list[dict[str, Any]]) -> Any:
        saved = []
        for item in transact_items:
            operation = next(iter(item.values()))
            table = self.get_table(operation["TableName"])
            assert table.range_key_attr is None  # the protection table's shape
            key = operation.get("Key") or operation["Item"]
            value = DynamoType(key[table.hash_key_attr])
            saved.append((table, value, copy.deepcopy(table.items.get(value))))
        try:
            return original(self, transact_items)
        except Exception:
            for table, value, before in reversed(saved):
                if before is None:
                    table.items.pop(value, None)
                else:
                    table.items[value] = before
            raise

    original = backend.transact_write_items
    with contextlib.ExitStack() as patches:
        patches.enter_context(
            mock.patch.object(models, "copy", SimpleNamespace(deepcopy=no_table_copy))
        )
        patches.enter_context(mock.patch.object(backend, "transact_write_items", atomic(transact)))
        for name in ("get_item", "put_item", "update_item", "delete_item"):
            patches.enter_context(mock.patch.object(backend, name, atomic(getattr(backend, name))))
        yield


_applied: contextlib.ExitStack | None = None


def apply_for_good() -> None:
    """The fixes for the rest of the process (the moto server's; idempotent)."""
    global _applied  # one per process is the point
    if _applied is None:
        _applied = contextlib.ExitStack()
        _applied.enter_context(fast_transactions())
