"""A temporary route from a deployed stack's bus to a queue of its own, for `events tail`.

A deployed stack has no queue a tail could read its events from, so the tail makes one for
as long as it runs: an encrypted queue and a rule on the stack's bus (both named
`smsgw-tail-<8 hex>`, so two tails can run at once), removed again however the tail ends.
A tail killed outright leaves them behind; `cleanup_stale` removes those, telling them from
a tail still running by the heartbeat tag each running tail refreshes on its queue.
"""

from __future__ import annotations

import json
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

from sms_gateway.contract import EVENT_DETAIL_TYPE as DETAIL_TYPE
from sms_gateway.contract import EVENT_SOURCE as SOURCE
from smsgw import aws
from smsgw.errors import CliError
from smsgw.outputs import Outputs

PREFIX: Final = "smsgw-tail-"
_TEMPORARY_NAME: Final = re.compile(r"smsgw-tail-[0-9a-f]{8}")
TARGET_ID: Final = "smsgw-tail"
# A running tail refreshes this tag on its queue every HEARTBEAT_S, so `--cleanup-stale`
# tells a tail that has run for hours from one that was killed (a queue's own timestamps
# do not change while it is read).
HEARTBEAT_TAG: Final = "smsgw-tail-heartbeat"
HEARTBEAT_S: Final = 600
STALE_AFTER_S: Final = 3600
# What a killed tail leaves in its queue is gone within the hour, and so are any full
# numbers in it.
RETENTION_S: Final = 3600


@contextmanager
def opened(bus: str, sqs: Any, events: Any) -> Iterator[TemporaryRoute]:
    """A new route on `bus`, removed when the block ends, however it ends."""
    route = TemporaryRoute(PREFIX + secrets.token_hex(4), bus, sqs, events)
    try:
        route.create()
        yield route
    finally:
        # A second Ctrl-C (or a SIGTERM) must not cut the cleanup short; it is bounded by
        # the clients' timeouts.
        with _signals_held():
            route.remove()


@dataclass
class TemporaryRoute:
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


def cleanup_stale(outputs: Outputs, bus: str) -> int:
    """Remove the queues of tails silent for over an hour, and the rules on `bus` whose
    queue is stale or gone. A running tail's rule and queue stay."""
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
