"""`smsgw dlq purge [--code C] [--older-than D] [--yes]`: delete parked messages for good,
after saying how many of which kind and asking (unless `--yes`).

What is deleted is what was counted: the messages are read once to count them, and read
again to delete them by MessageId, so one parked after the question is never deleted
without being asked about.
"""

from __future__ import annotations

import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from smsgw import aws
from smsgw.dead_letters import MOVE_VISIBILITY_S, SQS_BATCH, DeadLetter, peek, receive, release
from smsgw.errors import FAILED
from smsgw.outputs import DEAD_LETTER_QUEUE_URL, Outputs

_AGE = re.compile(r"^(\d+)([smhd])$")
_UNIT_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> int:
    """`30m`, `2h`, `7d` (or `45s`) in seconds; `ValueError` for anything else."""
    match = _AGE.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not an age like 30m, 2h or 7d")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


@dataclass(frozen=True)
class Selection:
    """Which parked messages to delete: of one ErrorCode, parked at least so long ago."""

    code: str | None = None
    older_than_s: int | None = None

    def matches(self, message: DeadLetter, now_ms: int) -> bool:
        """Whether `message` is selected (one whose parked time is unknown is never old)."""
        if self.code is not None and message.error_code != self.code:
            return False
        if self.older_than_s is None:
            return True
        parked = message.sent_at_ms
        return parked is not None and now_ms - parked >= self.older_than_s * 1000


def ask(question: str) -> bool:
    """Ask on stderr, read the answer from stdin: yes only for y or yes (no input: no)."""
    print(question, end=" ", file=sys.stderr, flush=True)
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def purge_command(
    outputs: Outputs,
    selection: Selection,
    *,
    yes: bool = False,
    confirm: Callable[[str], bool] = ask,
) -> int:
    """Count, ask, delete; print how many were deleted. Returns the exit code."""
    queue_url = outputs.get(DEAD_LETTER_QUEUE_URL)
    try:
        sqs = aws.client(outputs, "sqs")
        now_ms = int(time.time() * 1000)
        chosen = {m.message_id: m for m in peek(sqs, queue_url) if selection.matches(m, now_ms)}
    except Exception as error:
        raise aws.explain(error, outputs) from error
    if not chosen:
        print("nothing to purge: no parked message matches")
        return 0
    kinds = Counter(m.error_code or "(no ErrorCode)" for m in chosen.values())
    listed = ", ".join(f"{count} {code}" for code, count in sorted(kinds.items()))
    question = f"delete {len(chosen)} parked message(s) for good ({listed})? [y/N]"
    if not yes and not confirm(question):
        print("nothing deleted", file=sys.stderr)
        return FAILED
    try:
        deleted = _delete(sqs, queue_url, set(chosen))
    except Exception as error:
        raise aws.explain(error, outputs) from error
    print(f"deleted {deleted} parked message(s)")
    if deleted < len(chosen):
        print(
            f"{len(chosen) - deleted} were gone already or being read elsewhere",
            file=sys.stderr,
        )
    return 0


def _delete(sqs: Any, queue_url: str, ids: set[str]) -> int:
    """Delete the messages whose MessageId is in `ids`; the others are released at the end.
    Returns how many were deleted."""
    deleted: set[str] = set()
    others: dict[str, str] = {}
    try:
        while deleted != ids:
            batch = receive(sqs, queue_url, SQS_BATCH, MOVE_VISIBILITY_S)
            seen = deleted | others.keys()
            if all(m.message_id in seen for m in batch):
                break  # empty, or round again: every visible message was seen
            for message in batch:
                if message.message_id not in ids:
                    # Only the newest receipt handle of a message works for releasing it.
                    others[message.message_id] = message.receipt_handle
            doomed = [m for m in batch if m.message_id in ids and m.message_id not in deleted]
            deleted.update(_delete_batch(sqs, queue_url, doomed))
    finally:
        release(sqs, queue_url, list(others.values()))
    return len(deleted)


def _delete_batch(sqs: Any, queue_url: str, messages: list[DeadLetter]) -> set[str]:
    """Delete `messages`; the MessageIds of those deleted."""
    if not messages:
        return set()
    answer = sqs.delete_message_batch(
        QueueUrl=queue_url,
        Entries=[{"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(messages)],
    )
    done = {entry["Id"] for entry in answer.get("Successful", [])}
    return {m.message_id for i, m in enumerate(messages) if str(i) in done}
