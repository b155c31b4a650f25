"""`smsgw events tail`: the gateway's delivery status events, printed as they arrive.

With `--local`, `make local` has already made a rule that copies every event to a queue
(`EventsQueueUrl`): the tail long-polls it and deletes what it printed. Against a deployed
stack there is no such queue, so the tail makes its own for as long as it runs: an
encrypted queue and a rule on the stack's bus (both named `smsgw-tail-<8 hex>`, so two
tails can run at once), removed again however the tail ends — at its `--count` or
`--timeout`, on Ctrl-C, on SIGTERM or on an error. A tail killed outright leaves them
behind; `--cleanup-stale` removes those.

Phone numbers are masked (as in the logs) even when the stack publishes them in full,
unless `--reveal`.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from sms_gateway.contract import DELIVERY_STATUSES, mask_phone
from sms_gateway.contract import EVENT_DETAIL_TYPE as DETAIL_TYPE
from sms_gateway.contract import EVENT_SOURCE as SOURCE
from smsgw import aws
from smsgw.errors import FAILED as EXIT_FAILED
from smsgw.errors import CliError
from smsgw.outputs import STACK_NAME, Outputs

# Output keys: the stack's bus, and the queue only `make local` makes.
EVENT_BUS_NAME: Final = "EventBusName"
EVENTS_QUEUE_URL: Final = "EventsQueueUrl"
STATUSES: Final = DELIVERY_STATUSES
PREFIX: Final = "smsgw-tail-"
_TEMPORARY_NAME: Final = re.compile(r"smsgw-tail-[0-9a-f]{8}")
TARGET_ID: Final = "smsgw-tail"
# SQS's longest long poll.
WAIT_S = 20
SQS_BATCH: Final = 10
# A running tail refreshes this tag on its queue every HEARTBEAT_S, so `--cleanup-stale`
# tells a tail that has run for hours from one that was killed (a queue's own timestamps
# do not change while it is read).
HEARTBEAT_TAG: Final = "smsgw-tail-heartbeat"
HEARTBEAT_S: Final = 600
STALE_AFTER_S: Final = 3600
# What a killed tail leaves in its queue is gone within the hour, and so are any full
# numbers in it.
RETENTION_S: Final = 3600
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


def add_commands(commands: Any, after: list[argparse.ArgumentParser]) -> None:
    """`events tail`."""
    parser = commands.add_parser(
        "events",
        help="delivery status events: watch them arrive",
        description="The delivery status events the gateway puts on its EventBridge bus "
        "(output EventBusName).",
    )
    actions = parser.add_subparsers(dest="events_command", required=True, metavar="ACTION")
    tail = actions.add_parser(
        "tail",
        parents=after,
        help="print delivery events as they arrive (numbers masked)",
        description="Print each delivery event as it arrives, one line each (numbers "
        "masked), until Ctrl-C, --count or --timeout. With --local it reads the local "
        "gateway's events queue; against a deployed stack it makes a temporary rule and "
        f"queue ({PREFIX}…) on the bus, removed when it ends, and sees the events "
        "published from then on. Exit 1 when the outputs name no EventBusName or AWS "
        "refuses a call.",
    )
    tail.add_argument("--count", type=_positive_int, metavar="N", help="stop after N events")
    tail.add_argument(
        "--timeout",
        type=_positive_float,
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
        help=f"remove the rules and queues ({PREFIX}…) of tails that were killed (idle for "
        "over an hour) and exit",
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def run(outputs: Outputs, args: argparse.Namespace) -> int:
    """`events tail` with the parsed arguments."""
    if args.cleanup_stale:
        return cleanup_stale(outputs)
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
    temporary = Temporary(PREFIX + secrets.token_hex(4), bus, sqs, aws.client(outputs, "events"))
    try:
        temporary.create()
        print(
            f"waiting for delivery events on {bus} through the temporary rule and queue "
            f"{temporary.name} (Ctrl-C to stop)",
            file=sys.stderr,
        )
        return follow(Feed(sqs, temporary.queue_url, True, temporary.heartbeat), options)
    finally:
        # A second Ctrl-C (or a SIGTERM) must not cut the cleanup short; it is bounded by
        # the clients' timeouts.
        with _signals_held():
            temporary.remove()


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


@dataclass
class Temporary:
    """A tail's own queue and rule on the bus, made by `create`, removed by `remove`
    (which removes whatever `create` got to, however far that was)."""

    name: str
    bus: str
    sqs: Any
    events: Any
    queue_url: str = ""
    rule_made: bool = False
    last_beat: float = field(default_factory=time.monotonic)

    def create(self) -> None:
        """The queue (SSE with SQS's key), the rule, the policy letting only that rule send
        to the queue, then the rule's target: no event is sent before it may arrive."""
        self.queue_url = self.sqs.create_queue(
            QueueName=self.name,
            Attributes={"SqsManagedSseEnabled": "true", "MessageRetentionPeriod": str(RETENTION_S)},
            tags={HEARTBEAT_TAG: _epoch()},
        )["QueueUrl"]
        queue_arn = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        rule_arn = self.events.put_rule(
            Name=self.name,
            EventBusName=self.bus,
            EventPattern=json.dumps({"source": [SOURCE], "detail-type": [DETAIL_TYPE]}),
            State="ENABLED",
            Description="smsgw events tail: removed when the tail ends",
        )["RuleArn"]
        self.rule_made = True
        self.sqs.set_queue_attributes(
            QueueUrl=self.queue_url, Attributes={"Policy": _queue_policy(queue_arn, rule_arn)}
        )
        answer = self.events.put_targets(
            Rule=self.name, EventBusName=self.bus, Targets=[{"Id": TARGET_ID, "Arn": queue_arn}]
        )
        if answer.get("FailedEntryCount"):
            failed = answer.get("FailedEntries") or [{}]
            raise CliError(
                f"AWS refused the rule's target: {failed[0].get('ErrorCode')}: "
                f"{failed[0].get('ErrorMessage')}"
            )

    def heartbeat(self) -> None:
        """Tell `--cleanup-stale` this tail is alive (every HEARTBEAT_S)."""
        if time.monotonic() - self.last_beat >= HEARTBEAT_S:
            self.sqs.tag_queue(QueueUrl=self.queue_url, Tags={HEARTBEAT_TAG: _epoch()})
            self.last_beat = time.monotonic()

    def remove(self) -> None:
        """Remove the target, the rule and the queue; say what went, and what is left."""
        if not self.rule_made and not self.queue_url:
            return
        made = "rule and queue" if self.rule_made else "queue"
        left = []
        if self.rule_made and not _try(lambda: remove_rule(self.events, self.bus, self.name)):
            left.append("rule")
        if self.queue_url and not _try(lambda: self.sqs.delete_queue(QueueUrl=self.queue_url)):
            left.append("queue")
        if left:
            print(
                f"smsgw: could not remove the temporary {' and '.join(left)} {self.name}: "
                "`smsgw events tail --cleanup-stale` removes it after an hour",
                file=sys.stderr,
            )
        else:
            print(f"removed the temporary {made} {self.name}", file=sys.stderr)


def _try(action: Callable[[], object]) -> bool:
    """Run a cleanup step; False (after saying why) when AWS refused it. A step whose
    resource is already gone counts as done."""
    try:
        action()
    except ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code in ("ResourceNotFoundException", "AWS.SimpleQueueService.NonExistentQueue"):
            return True
        print(f"smsgw: {error.operation_name} refused: {code}", file=sys.stderr)
        return False
    except BotoCoreError as error:
        print(f"smsgw: {error}", file=sys.stderr)
        return False
    return True


def remove_rule(events: Any, bus: str, name: str) -> None:
    """A rule and its targets (EventBridge deletes no rule that has any)."""
    pages = events.get_paginator("list_targets_by_rule").paginate(Rule=name, EventBusName=bus)
    ids = [target["Id"] for page in pages for target in page.get("Targets") or []]
    if ids:
        events.remove_targets(Rule=name, EventBusName=bus, Ids=ids)
    events.delete_rule(Name=name, EventBusName=bus)


def _queue_policy(queue_arn: str, rule_arn: str) -> str:
    """EventBridge may send to the queue, for this rule only."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "EventsFromTheTailRule",
                    "Effect": "Allow",
                    "Principal": {"Service": "events.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                }
            ],
        }
    )


def _epoch() -> str:
    return str(int(time.time()))


def cleanup_stale(outputs: Outputs) -> int:
    """Remove the queues of tails silent for over an hour, and the rules on the bus whose
    queue is stale or gone. A running tail's rule and queue stay."""
    bus = bus_name(outputs)
    try:
        sqs, events = aws.client(outputs, "sqs"), aws.client(outputs, "events")
        live, stale = _queues_by_liveness(sqs)
        for url in stale.values():
            sqs.delete_queue(QueueUrl=url)
        pages = events.get_paginator("list_rules").paginate(NamePrefix=PREFIX, EventBusName=bus)
        rules = [
            rule["Name"]
            for page in pages
            for rule in page.get("Rules") or []
            if _TEMPORARY_NAME.fullmatch(rule["Name"]) and rule["Name"] not in live
        ]
        # A queue made a moment ago may not be listed yet: a rule is removed only when its
        # queue is stale or surely gone.
        removed = [r for r in rules if r in stale or not _queue_exists(sqs, r)]
        for name in removed:
            remove_rule(events, bus, name)
    except (BotoCoreError, ClientError) as error:
        raise aws.explain(error, outputs) from None
    if not stale and not removed:
        print("nothing stale")
    else:
        print(f"removed {len(stale)} stale queue(s) and {len(removed)} stale rule(s)")
        for name in sorted({*stale, *removed}):
            print(f"  {name}")
    return 0


def _queues_by_liveness(sqs: Any) -> tuple[set[str], dict[str, str]]:
    """The names of live tails' queues, and the stale ones' name → URL."""
    live: set[str] = set()
    stale: dict[str, str] = {}
    now = time.time()
    pages = sqs.get_paginator("list_queues").paginate(QueueNamePrefix=PREFIX)
    for url in (url for page in pages for url in page.get("QueueUrls") or []):
        name = url.rsplit("/", 1)[-1]
        if not _TEMPORARY_NAME.fullmatch(name):
            continue
        seen = _last_seen(sqs, url)
        if seen is None:  # deleted meanwhile
            continue
        if now - seen > STALE_AFTER_S:
            stale[name] = url
        else:
            live.add(name)
    return live, stale


def _last_seen(sqs: Any, url: str) -> float | None:
    """When the queue's tail last said it was alive (its creation, before the tag)."""
    try:
        tags = sqs.list_queue_tags(QueueUrl=url).get("Tags") or {}
        if HEARTBEAT_TAG in tags and tags[HEARTBEAT_TAG].isdigit():
            return float(tags[HEARTBEAT_TAG])
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["CreatedTimestamp"])
        return float(attributes["Attributes"]["CreatedTimestamp"])
    except ClientError as error:
        if _gone(error):
            return None
        raise


def _queue_exists(sqs: Any, name: str) -> bool:
    try:
        sqs.get_queue_url(QueueName=name)
    except ClientError as error:
        if _gone(error):
            return False
        raise
    return True


def _gone(error: ClientError) -> bool:
    code = str(error.response.get("Error", {}).get("Code", ""))
    return code in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")


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


@contextmanager
def _signals_held() -> Iterator[None]:
    """Ctrl-C and SIGTERM are ignored while the temporary resources are removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
