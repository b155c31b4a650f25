"""`smsgw events tail`: the gateway's delivery status events, printed as they arrive.

With `--local`, `make local` has already made a rule that copies every event to a queue
(`EventsQueueUrl`): the tail long-polls it and deletes what it printed. Against a deployed
stack there is no such queue, so the tail reads through a `smsgw.temporary_route` of its
own, removed again however the tail ends — at its `--count` or `--timeout`, on Ctrl-C, on
SIGTERM or on an error. A tail killed outright leaves it behind; `--cleanup-stale` removes
those.

Phone numbers are masked (as in the logs) even when the stack publishes them in full,
unless `--reveal`.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from sms_gateway.contract import DELIVERY_STATUSES, mask_phone
from sms_gateway.contract import EVENT_DETAIL_TYPE as DETAIL_TYPE
from sms_gateway.contract import EVENT_SOURCE as SOURCE
from smsgw import aws, temporary_route
from smsgw.errors import FAILED as EXIT_FAILED
from smsgw.errors import CliError
from smsgw.outputs import STACK_NAME, Outputs
from smsgw.subcommands import Subcommands, positive_float, positive_int

# Output keys: the stack's bus, and the queue only `make local` makes.
EVENT_BUS_NAME: Final = "EventBusName"
EVENTS_QUEUE_URL: Final = "EventsQueueUrl"
STATUSES: Final = DELIVERY_STATUSES
# SQS's longest long poll.
WAIT_S = 20
SQS_BATCH: Final = 10
# 128 + SIGTERM, as a shell reports a command ended by `kill`.
TERMINATED: Final = 128 + signal.SIGTERM
HEADERS: Final = ("Time (UTC)", "Status", "Phone", "Country", "SessionNo", "ReceiptCode", "UserId")
# Lines are printed one at a time, so columns have fixed widths (the last one has none).
_WIDTHS: Final = (19, 9, 16, 7, 32, 11)


class Terminated(BaseException):
    """SIGTERM, raised where the tail is, so that its cleanup runs (like KeyboardInterrupt,
    not an Exception: no `except Exception` may swallow it)."""


@dataclass(frozen=True)
class TailOptions:
    """What to print and when to stop."""

    count: int | None = None
    timeout: float | None = None
    statuses: frozenset[str] = frozenset(STATUSES)
    as_json: bool = False
    reveal: bool = False


def add_commands(commands: Subcommands) -> None:
    """`events tail`."""
    actions = commands.add_group(
        "events",
        "delivery status events: watch them arrive",
        "The delivery status events the gateway puts on its EventBridge bus (output EventBusName).",
    )
    tail = actions.add(
        "tail",
        "print delivery events as they arrive (numbers masked)",
        "Print each delivery event as it arrives, one line each (numbers masked), until "
        "Ctrl-C, --count or --timeout. With --local it reads the local gateway's events "
        "queue; against a deployed stack it makes a temporary rule and queue "
        f"({temporary_route.PREFIX}…) on the bus, removed when it ends, and sees the events "
        "published from then on. Exit 1 when the outputs name no EventBusName or AWS "
        "refuses a call.",
    )
    tail.add_argument("--count", type=positive_int, metavar="N", help="stop after N events")
    tail.add_argument(
        "--timeout",
        type=positive_float,
        metavar="S",
        help="stop after S seconds without a new event",
    )
    tail.add_argument(
        "--status",
        action="append",
        type=str.upper,
        choices=STATUSES,
        metavar="STATUS",
        help=f"only events of this Status: {', '.join(STATUSES)} (repeatable)",
    )
    tail.add_argument(
        "--json", action="store_true", help="print each event's detail as a JSON line"
    )
    tail.add_argument("--reveal", action="store_true", help="phone numbers in full, if sent so")
    tail.add_argument(
        "--cleanup-stale",
        action="store_true",
        help=f"remove the rules and queues ({temporary_route.PREFIX}…) of tails that were "
        "killed (idle for over an hour) and exit",
    )


def run(outputs: Outputs, args: argparse.Namespace) -> int:
    """`events tail` with the parsed arguments."""
    if args.cleanup_stale:
        return temporary_route.cleanup_stale(outputs, bus_name(outputs))
    options = TailOptions(
        count=args.count,
        timeout=args.timeout,
        statuses=frozenset(args.status or STATUSES),
        as_json=args.json,
        reveal=args.reveal,
    )
    return tail(outputs, options)


def bus_name(outputs: Outputs) -> str:
    """The stack's bus, or a `CliError` (exit 1) for a stack without delivery events."""
    name = outputs.optional(EVENT_BUS_NAME)
    if name is None:
        fix = "restart `make local`" if outputs.local else "redeploy with `make deploy`"
        raise CliError(
            f"{outputs.path} has no {STACK_NAME}.{EVENT_BUS_NAME}: the stack predates "
            f"delivery events; {fix}",
            EXIT_FAILED,
        )
    return name


def tail(outputs: Outputs, options: TailOptions) -> int:
    """Print events until `options` say stop; returns the exit code."""
    bus = bus_name(outputs)
    try:
        with _sigterm_raises():
            sqs = aws.client(outputs, "sqs")
            local_queue = outputs.optional(EVENTS_QUEUE_URL)
            if local_queue is not None:
                print(f"waiting for delivery events on {bus} (Ctrl-C to stop)", file=sys.stderr)
                return follow(Feed(sqs, local_queue, owned=False), options)
            return _tail_through_temporary(outputs, bus, sqs, options)
    except Terminated:
        print("smsgw: terminated", file=sys.stderr)
        return TERMINATED
    except (BotoCoreError, ClientError) as error:
        raise aws.explain(error, outputs) from None


def _tail_through_temporary(outputs: Outputs, bus: str, sqs: Any, options: TailOptions) -> int:
    with temporary_route.opened(bus, sqs, aws.client(outputs, "events")) as route:
        print(
            f"waiting for delivery events on {bus} through the temporary rule and queue "
            f"{route.name} (Ctrl-C to stop)",
            file=sys.stderr,
        )
        return follow(Feed(sqs, route.queue_url, True, route.heartbeat), options)


@dataclass
class Feed:
    """The queue a tail reads. `owned`: made for this tail, so what it does not print is
    deleted too; the local gateway's queue is shared, so there only printed events are."""

    sqs: Any
    queue_url: str
    owned: bool
    on_poll: Callable[[], None] = lambda: None


def follow(feed: Feed, options: TailOptions) -> int:
    """Long-poll `feed`, print each wanted event, delete what was printed."""
    shown = 0
    deadline = _deadline(options.timeout)
    if not options.as_json:
        print(header(), flush=True)
    while options.count is None or shown < options.count:
        wait_s = _wait_s(deadline)
        if wait_s is None:
            break
        feed.on_poll()
        # Never more than the count still to show: nothing is taken that is not printed.
        most = SQS_BATCH if options.count is None else min(SQS_BATCH, options.count - shown)
        done = []
        for message in _receive(feed.sqs, feed.queue_url, wait_s, most):
            event = parse(message)
            if event is not None and event.detail.get("Status") in options.statuses:
                print(render(event, options), flush=True)
                shown += 1
                deadline = _deadline(options.timeout)
                done.append(message)
            elif feed.owned:
                done.append(message)
        _delete(feed, done)
    print(f"{shown} event{'' if shown == 1 else 's'} shown", file=sys.stderr)
    return 0


def _deadline(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout


def _wait_s(deadline: float | None) -> int | None:
    """How long the next poll may wait (whole seconds, as SQS takes it); None: time is up."""
    if deadline is None:
        return WAIT_S
    left = deadline - time.monotonic()
    return None if left <= 0 else min(WAIT_S, math.ceil(left))


def _receive(sqs: Any, queue_url: str, wait_s: int, most: int) -> list[dict[str, Any]]:
    """One long poll: the seam the tests interrupt."""
    answer = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=most, WaitTimeSeconds=wait_s
    )
    return list(answer.get("Messages") or [])


def _delete(feed: Feed, messages: list[dict[str, Any]]) -> None:
    # A message that fails to delete comes back and is printed again: EventBridge itself
    # delivers at least once, so a subscriber already expects the odd duplicate.
    for start in range(0, len(messages), SQS_BATCH):
        feed.sqs.delete_message_batch(
            QueueUrl=feed.queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(messages[start : start + SQS_BATCH])
            ],
        )


@dataclass(frozen=True)
class Event:
    """A delivery event: when EventBridge took it (ISO 8601, UTC), and its detail."""

    time: str
    detail: dict[str, Any]


def parse(message: dict[str, Any]) -> Event | None:
    """The delivery event an SQS message holds (EventBridge sends the whole event as the
    body); None for anything else."""
    try:
        body = json.loads(message.get("Body") or "")
    except json.JSONDecodeError:
        return None
    if not isinstance(body, dict):
        return None
    detail = body.get("detail")
    kind = (body.get("source"), body.get("detail-type"))
    if kind != (SOURCE, DETAIL_TYPE) or not isinstance(detail, dict):
        return None
    return Event(str(body.get("time") or ""), detail)


def render(event: Event, options: TailOptions) -> str:
    """One event as printed: an aligned line, or with `as_json` its detail as JSON."""
    shown = dict(event.detail)
    if isinstance(shown.get("PhoneNumber"), str) and not options.reveal:
        shown["PhoneNumber"] = mask_phone(shown["PhoneNumber"])
    if options.as_json:
        return json.dumps(shown, ensure_ascii=False)
    return _line(
        (
            event.time.replace("T", " ").removesuffix("Z") or "-",
            str(shown.get("Status") or "-"),
            str(shown.get("PhoneNumber") or "-"),
            str(shown.get("Country") or "-"),
            str(shown.get("SessionNo") or "-"),
            str(shown.get("ReceiptCode") or "-"),
            str(shown.get("UserId") or "-"),
        )
    )


def header() -> str:
    """The column names, printed once above the lines."""
    return _line(HEADERS)


def _line(cells: tuple[str, ...]) -> str:
    # A producer's UserId reaches the terminal: no newline may split the line and no
    # escape sequence may reach the terminal.
    shown = ["".join(ch if ch.isprintable() else "?" for ch in cell) for cell in cells]
    padded = [cell.ljust(width) for cell, width in zip(shown, _WIDTHS, strict=False)]
    return "  ".join([*padded, *shown[len(_WIDTHS) :]]).rstrip()


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    """SIGTERM raises `Terminated` while the tail runs (signals reach the main thread
    only, so elsewhere nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminate(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
