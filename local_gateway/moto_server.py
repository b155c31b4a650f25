"""`python -m local_gateway.moto_server …`: moto's server (same arguments), with its SQS
emulation made fast enough for a load run, and an exit of its own when its parent dies.

moto 5.2 receives a message in time proportional to the queue's depth *per message
returned*: for each one it checks the retention period through `get_queue_attributes`,
which builds every attribute of the queue — including three approximate counts, each a
scan of every message — and it builds them three times. Each scan reads the clock twice per
message through datetime arithmetic (~6 µs a read). Measured here with 1,000 messages
queued: 570-850 ms per ReceiveMessage before, 1 ms after. AWS has no such cost; a backlog
of thousands made the local gateway crawl (10,000 messages: 429 s before, 136 s after).

Besides, werkzeug logs every request at INFO through a lock all request threads share;
nobody reads that log here (the server's output goes to /dev/null), and under load it was
14% of the server's time. Only warnings and errors are logged now.

The fixes keep moto's semantics (tests/integration/test_moto_server.py compares them with
the originals) and fail loudly if a moto upgrade moves what they replace.
"""

from __future__ import annotations

import datetime
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from local_gateway.moto_dynamodb import apply_for_good

# Set by the local gateway: the pid whose death means nobody will stop this server.
PARENT_PID_ENV: Final = "LOCAL_GATEWAY_PARENT_PID"
_PARENT_CHECK_S: Final = 1.0


def _fast_clock(original: Callable[..., float], scale: float) -> Callable[..., float]:
    """`unix_time`/`unix_time_millis`: the wall clock read directly when no datetime is
    given (what moto computes through `datetime.now(UTC) - epoch`), the original otherwise."""

    def clock(dt: datetime.datetime | None = None) -> float:
        return time.time() * scale if dt is None else original(dt)

    clock.__wrapped__ = original  # type: ignore[attr-defined]
    return clock


def _retention_check(backend: Any, queue_name: str, message: Any) -> bool:
    """moto's `is_message_valid_based_on_retention_period`, reading the one attribute it
    needs instead of building all of them."""
    queue = backend.get_queue(queue_name)
    retain_until = queue.message_retention_period + message.sent_timestamp / 1000
    return bool(retain_until > time.time())


def speed_up() -> None:
    """Apply the fixes to this process's moto (idempotent)."""
    from moto.core import utils as core_utils
    from moto.sqs import models as sqs_models

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    for name, scale in (("unix_time", 1.0), ("unix_time_millis", 1000.0)):
        current = getattr(sqs_models, name)
        if hasattr(current, "__wrapped__"):
            continue
        if current is not getattr(core_utils, name):
            raise RuntimeError(f"moto.sqs.models.{name} is not moto.core.utils.{name} any more")
        setattr(sqs_models, name, _fast_clock(current, scale))
    backend = sqs_models.SQSBackend
    if not hasattr(backend, "is_message_valid_based_on_retention_period"):
        raise RuntimeError("moto's SQSBackend has no retention check to replace any more")
    backend.is_message_valid_based_on_retention_period = _retention_check  # type: ignore[assignment,method-assign]


def exit_with_parent(parent_pid: int) -> None:
    """Exit this process once `parent_pid` is no longer its parent (it died, and this one
    was handed to init): a killed local gateway must not leave its moto behind."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_PARENT_CHECK_S)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def main(argv: list[str] | None = None) -> None:
    """Run moto's own server entry point after the fixes."""
    from moto.server import main as moto_main

    parent = os.environ.get(PARENT_PID_ENV)
    if parent:
        exit_with_parent(int(parent))
    speed_up()
    apply_for_good()  # DynamoDB transactions: see local_gateway.moto_dynamodb
    moto_main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
