"""A load run through the local gateway's three doors, with the provider failing some calls
transiently, and the check that matters: every message sent exactly once or parked with a
reason — none lost, none duplicated. Used by the integration tests (small) and by
`make bench` (10,000 messages)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import urllib3

from local_gateway.gateway import LocalGateway
from sms_gateway.contract import ERROR_CODE_ATTRIBUTE, IDEMPOTENCY_KEY_HEADER
from sms_gateway.uspeedo_client import BATCH_ACTION, RECEIPT_ACTION, SEND_ACTION
from smsgw.progress import Progress
from uspeedo_sandbox import Fault

DOORS: Final = ("sns", "sqs", "api")
_API_ATTEMPTS: Final = 10
_PACE_EVERY: Final = 100  # messages a door sends between looks at the queue's depth
_MAX_BACKLOG: Final = 300
_PROGRESS_EVERY_S: Final = 0.5
# The pumping run's blocks of adjacent numbers (local_gateway.pumping: 100 a block).
_PUMPING_BLOCK: Final = 100
# After the last expected event: how long to go on watching for a second copy of one.
_DUPLICATE_WATCH_S: Final = 3.0


class _Tally:
    """Parked messages `wait_for_fates` took out of the dead-letter queue, for `FatesBar`:
    the pumping run calls `wait_for_fates` too, from its own code."""

    taken = 0


_PARKED_TAKEN: Final = _Tally()


@dataclass
class LoadReport:
    """What happened to every message of a run."""

    messages: int
    failure_rate: float
    seconds: float = 0.0
    sent: int = 0
    parked: int = 0
    duplicated: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    parked_without_reason: list[str] = field(default_factory=list)
    provider_calls: int = 0
    provider_failures: int = 0
    api_retries: int = 0
    # Delivery status events: one per number sent (each message has one), none twice.
    events_published: int = 0
    events_duplicated: int = 0
    receipt_calls: int = 0

    @property
    def throughput(self) -> float:
        """Messages per second, from the first send to the last fate."""
        return self.messages / self.seconds if self.seconds else 0.0

    @property
    def holds(self) -> bool:
        """The contract: nothing lost, nothing twice, every parked message with a reason."""
        return not (
            self.duplicated
            or self.lost
            or self.parked_without_reason
            or self.events_duplicated
            or self.events_published != self.sent
        )

    def summary(self) -> str:
        """One line: what happened to the messages, and how fast."""
        return (
            f"load: {self.messages} messages through SNS, SQS and the API with "
            f"{self.failure_rate:.0%} of provider calls failing: {self.sent} sent, "
            f"{self.parked} parked, {len(self.lost)} lost, {len(self.duplicated)} duplicated, "
            f"{len(self.parked_without_reason)} parked without a reason; "
            f"{self.provider_failures} of {self.provider_calls} provider calls failed, "
            f"{self.api_retries} API retries; {self.seconds:.0f} s, "
            f"{self.throughput:.0f} messages/s; delivery events: {self.events_published} "
            f"published for {self.sent} numbers sent, {self.events_duplicated} twice, "
            f"{self.receipt_calls} receipt calls"
        )


def run_load(
    gateway: LocalGateway, messages: int, failure_rate: float = 0.05, timeout_s: float = 600
) -> LoadReport:
    """Send `messages` distinct messages, a third through each door, and wait for each fate."""
    sandbox = gateway.sandbox
    if sandbox is None:
        raise RuntimeError("a load run needs the sandbox (it counts what the provider got)")
    sandbox.reset()
    # The sends fail transiently, not the receipt queries: a failed check waits for the
    # receipts queue's visibility timeout (minutes), and the unit tests cover that path.
    for action in (SEND_ACTION, BATCH_ACTION):
        sandbox.add_fault(
            Fault(kind="status", status=503, probability=failure_rate, seed=7, action=action)
        )
    report = LoadReport(messages=messages, failure_rate=failure_rate)
    ids = [f"load-{i:06d}" for i in range(messages)]
    started = time.monotonic()
    by_door = {door: ids[i :: len(DOORS)] for i, door in enumerate(DOORS)}
    with ThreadPoolExecutor(len(DOORS)) as pool:
        retries = pool.submit(_send_api, gateway, by_door["api"])
        pool.submit(_send_sns, gateway, by_door["sns"]).result()
        pool.submit(_send_sqs, gateway, by_door["sqs"]).result()
        report.api_retries = retries.result()
    parked = wait_for_fates(gateway, set(ids), started + timeout_s)
    report.seconds = time.monotonic() - started
    sandbox.clear_faults()
    sent_now = sum(1 for m in sandbox.accepted if m.body.get("UserId") in set(ids))
    published = wait_for_events(gateway, sent_now, started + timeout_s)
    report.events_published = len(published)
    report.events_duplicated = sum(published.values()) - len(published)

    sent = Counter(m.body.get("UserId") for m in sandbox.accepted)
    parked_ids = Counter(p["UserId"] for p in parked)
    report.sent = sum(1 for i in ids if sent[i])
    report.parked = sum(1 for i in ids if parked_ids[i])
    report.duplicated = sorted(i for i in ids if sent[i] + parked_ids[i] > 1)
    report.lost = sorted(i for i in ids if sent[i] + parked_ids[i] == 0)
    report.parked_without_reason = sorted(p["UserId"] for p in parked if not p["ErrorCode"])
    sends = [r for r in sandbox.requests if r.action in (SEND_ACTION, BATCH_ACTION)]
    report.provider_calls = len(sends)
    report.provider_failures = sum(1 for r in sends if r.fault == "status")
    report.receipt_calls = sum(1 for r in sandbox.requests if r.action == RECEIPT_ACTION)
    return report


def wait_for_events(gateway: LocalGateway, expected: int, deadline: float) -> Counter[str]:
    """Drain the local events queue (the bus's rule copies every delivery event there)
    until `expected` distinct events arrived, or the deadline passes, and a little longer
    to see any duplicate: how many times each EventId came."""
    sqs, queue = gateway.clients["sqs"], gateway.outputs["EventsQueueUrl"]
    seen: Counter[str] = Counter()
    quiet_until = None
    while time.monotonic() < deadline:
        batch = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        for item in batch:
            seen[json.loads(item["Body"])["detail"]["EventId"]] += 1
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=item["ReceiptHandle"])
        if len(seen) >= expected and quiet_until is None:
            quiet_until = time.monotonic() + _DUPLICATE_WATCH_S
        if quiet_until is not None and time.monotonic() > quiet_until:
            break
        if not batch:
            time.sleep(0.2)
    return seen


def _message(user_id: str) -> str:
    # A distinct number per message keeps the fingerprints (idempotency keys) distinct;
    # each in a block of 100 of its own, as real recipients are, so the default traffic
    # policy's Prefix limit (20 an hour a block: SMS pumping's adjacent numbers) lets the
    # run through while counting every number, as it would in AWS.
    serial = int(user_id.split("-")[1])
    return json.dumps(
        {
            "PhoneNumbers": [f"+86138{serial:06d}{serial % 100:02d}"],
            "TemplateId": "UTA-LOAD",
            "TemplateParams": ["1234"],
            "UserId": user_id,
        }
    )


def _send_sns(gateway: LocalGateway, ids: list[str]) -> None:
    sns, topic = gateway.clients["sns"], gateway.outputs["TopicArn"]
    for start in range(0, len(ids), 10):
        _pace(gateway, start)
        entries = [
            {"Id": str(n), "Message": _message(i)} for n, i in enumerate(ids[start : start + 10])
        ]
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)


def _send_sqs(gateway: LocalGateway, ids: list[str]) -> None:
    sqs, queue = gateway.clients["sqs"], gateway.outputs["QueueUrl"]
    for start in range(0, len(ids), 10):
        _pace(gateway, start)
        entries = [
            {"Id": str(n), "MessageBody": _message(i)}
            for n, i in enumerate(ids[start : start + 10])
        ]
        sqs.send_message_batch(QueueUrl=queue, Entries=entries)


def _pace(gateway: LocalGateway, sent: int) -> None:
    """A steady producer: hold back while the queue is deep. moto scans a queue's every
    message on each receive, so a backlog of thousands makes it quadratically slow (a
    10,000-message burst stalled it for minutes); AWS has no such cost."""
    if sent % _PACE_EVERY:
        return
    while gateway.depth(gateway.outputs["QueueUrl"]) > _MAX_BACKLOG:
        time.sleep(0.1)


def _send_api(gateway: LocalGateway, ids: list[str]) -> int:
    """POST each message; on 502/503 retry with the same Idempotency-Key, as a client should."""
    pool = urllib3.PoolManager(maxsize=2)
    url = f"{gateway.outputs['ApiUrl']}messages"
    retries = 0
    for user_id in ids:
        headers = {"x-api-key": gateway.outputs["ApiKey"], IDEMPOTENCY_KEY_HEADER: user_id}
        for _ in range(_API_ATTEMPTS):
            answer = pool.request("POST", url, body=_message(user_id), headers=headers, timeout=30)
            if answer.status not in (502, 503):
                break
            retries += 1
    return retries


def wait_for_fates(gateway: LocalGateway, ids: set[str], deadline: float) -> list[dict[str, Any]]:
    """Wait until every message is sent or parked (or the deadline passes); the parked ones."""
    sandbox = gateway.sandbox
    assert sandbox is not None
    sqs, dead_letters = gateway.clients["sqs"], gateway.outputs["DeadLetterQueueUrl"]
    parked: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        for item in sqs.receive_message(
            QueueUrl=dead_letters, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", []):
            attributes = item.get("MessageAttributes", {})
            parked.append(
                {
                    "UserId": _user_id(item["Body"]),
                    "ErrorCode": attributes.get(ERROR_CODE_ATTRIBUTE, {}).get("StringValue"),
                }
            )
            sqs.delete_message(QueueUrl=dead_letters, ReceiptHandle=item["ReceiptHandle"])
            _PARKED_TAKEN.taken += 1  # after the delete: counted once, never twice
        done = {m.body.get("UserId") for m in sandbox.accepted} | {p["UserId"] for p in parked}
        if ids <= done and gateway.depth(gateway.outputs["QueueUrl"]) == 0:
            break
        time.sleep(0.2)
    return parked


def _user_id(body: str) -> str:
    try:
        value = json.loads(body).get("UserId")
    except (ValueError, AttributeError):
        return ""
    return value if isinstance(value, str) else ""


def main(argv: list[str] | None = None) -> int:
    """`python -m local_gateway.load [--messages N]` (what `make load` runs): a fresh local
    gateway on free ports, one load run, the outcome and the throughput; exit 1 when the
    contract does not hold. The handler's own output (a JSON log line and metrics per
    message) goes to a file."""
    import argparse

    from local_gateway.gateway import LocalConfig

    parser = argparse.ArgumentParser(prog="python -m local_gateway.load", description=main.__doc__)
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--failure-rate", type=float, default=0.05)
    parser.add_argument(
        "--attack-blocks",
        type=int,
        default=20,
        help="then an SMS pumping run: blocks of 100 adjacent numbers attacked (0: none)",
    )
    parser.add_argument("--blocked", type=int, default=1000, help="requests to a blocked country")
    parser.add_argument("--users", type=int, default=1000, help="real users, one code each")
    parser.add_argument(
        "--handler-log", type=Path, default=Path(".local/load-handler.log"), help="(overwritten)"
    )
    args = parser.parse_args(argv)
    config = LocalConfig(moto_port=0, sandbox_port=0, api_port=0, outputs_path=None)
    # The pump's own "left for redelivery" lines join the handler's, in the log file.
    local_logs = logging.getLogger("local_gateway")
    local_logs.addHandler(logging.StreamHandler(sys.stdout))
    local_logs.propagate = False
    from local_gateway.pumping import run_pumping

    with stdout_to(args.handler_log), LocalGateway(config) as gateway:
        with FatesBar(gateway, "load", args.messages):
            report = run_load(gateway, args.messages, args.failure_rate, timeout_s=3600)
        pumping = None
        if args.attack_blocks:
            assert gateway.sandbox is not None
            gateway.sandbox.reset()  # the bar counts this run's sends only
            requests = args.attack_blocks * _PUMPING_BLOCK + args.blocked + args.users
            with FatesBar(gateway, "pumping", requests):
                pumping = run_pumping(gateway, args.attack_blocks, args.blocked, args.users)
    print(report.summary())
    if pumping is not None:
        print(pumping.summary())
    print(f"the handler's logs and metrics: {args.handler_log}")
    return 0 if report.holds and (pumping is None or pumping.holds) else 1


class FatesBar:
    """`make load`'s progress bar (the CLI's, on stderr): messages whose fate is known —
    sent (the sandbox has them) or parked (in the dead-letter queue, or taken out of it by
    `wait_for_fates`) — out of a run's total, redrawn from a thread while the run goes on.
    A run waits on queues for minutes and prints nothing until it ends."""

    def __init__(self, gateway: LocalGateway, label: str, total: int) -> None:
        self._gateway = gateway
        self._progress = Progress(label, total, unit="msg")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=f"{label}-progress", daemon=True)
        self._taken_before = _PARKED_TAKEN.taken

    def __enter__(self) -> FatesBar:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._update()
        self._progress.close()

    def _watch(self) -> None:
        while not self._stop.wait(_PROGRESS_EVERY_S):
            self._update()

    def _update(self) -> None:
        sandbox = self._gateway.sandbox
        sent = len(sandbox.accepted) if sandbox is not None else 0
        parked = self._gateway.depth(self._gateway.outputs["DeadLetterQueueUrl"])
        fates = sent + parked + _PARKED_TAKEN.taken - self._taken_before
        # Only forward: a parked message between its receive and its count dips the sum.
        self._progress.advance(max(0, fates - self._progress.done))


@contextlib.contextmanager
def stdout_to(path: Path) -> Iterator[None]:
    """Point file descriptor 1 at `path` for the duration: Powertools writes to the stdout
    it found at import, so swapping `sys.stdout` would not reach it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with path.open("wb") as log:
            os.dup2(log.fileno(), 1)
            try:
                yield
            finally:
                sys.stdout.flush()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


if __name__ == "__main__":
    # Run the module's importable copy: `python -m` runs this file as `__main__`, a second
    # copy of the module beside the `local_gateway.load` that pumping.py imports, and the
    # bar's tally of parked messages must be the one `wait_for_fates` counts in.
    from local_gateway import load

    sys.exit(load.main())
