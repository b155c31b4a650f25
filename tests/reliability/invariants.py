"""The contract's invariant, checked message by message (the README's "What happens to a message").

Every message ends as exactly one of: sent once; rejected to its caller; parked in the
dead-letter queue with its reason; or redriven there by the queue (or Lambda's on-failure
destination) after its retries ran out. A message whose outcome is unknown (the request
went out, no usable answer came back) is reported — parked with `ProviderOutcomeUnknown`,
or a 502 to its caller — and never asked of the provider again within the idempotency
window. Nothing is sent twice; nothing is lost.

The checker knows nothing of faults or doors' internals: it is given what each message's
producer or caller saw, what the dead-letter queue holds, and what the provider accepted,
and it judges. `test_invariant_checker.py` shows it catching each kind of breach.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

from sms_gateway.contract import PROVIDER_OUTCOME_UNKNOWN

# The outcome categories of the report, in its column order.
SENT: Final = "sent"
REJECTED: Final = "rejected"
PARKED: Final = "parked"
REDRIVEN: Final = "redriven"
UNKNOWN: Final = "unknown"
CATEGORIES: Final = (SENT, REJECTED, PARKED, REDRIVEN, UNKNOWN)

UNKNOWN_OUTCOME_CODE: Final = PROVIDER_OUTCOME_UNKNOWN

# What the producer or caller last saw. Queue doors (SQS, SNS): "acked" (the record was
# deleted / the invocation returned) or "exhausted" (retries ran out). Caller doors (API,
# direct invoke): "sent" (200 / a result), "rejected" (4xx, 503 or a typed error after
# the caller stopped retrying), "unknown" (502 / ProviderOutcomeUnknown), or "crash" (500
# or an exception outside the gateway's error family).
Seen = Literal["acked", "exhausted", "sent", "rejected", "unknown", "crash", "nothing"]
QUEUE_DOORS: Final = frozenset({"sqs", "sns"})


@dataclass(frozen=True)
class Observed:
    """Everything known about one message after its door gave up or succeeded."""

    message: str
    door: str
    seen: Seen
    # Attributes of each dead-letter entry that holds this message (ours carry ErrorCode,
    # the queue's redrive and Lambda's on-failure destination carry none).
    dead_letters: Sequence[Mapping[str, str]] = ()
    # Provider calls that accepted this message's numbers.
    accepted: int = 0
    # Provider calls for this message made after one whose answer was lost.
    asked_after_unknown: int = 0


@dataclass
class Tally:
    """The outcome of a set of messages, and every breach of the contract among them."""

    counts: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    lost: int = 0
    violations: list[str] = field(default_factory=list)

    def add(self, other: Tally) -> None:
        """Fold another tally into this one."""
        self.counts.update(other.counts)
        self.duplicates += other.duplicates
        self.lost += other.lost
        self.violations += other.violations

    def as_dict(self) -> dict[str, int]:
        """Every category's count (zeros included), duplicates and lost."""
        return {
            **{category: self.counts[category] for category in CATEGORIES},
            "duplicates": self.duplicates,
            "lost": self.lost,
        }


def judge(observed: Observed) -> tuple[str | None, list[str]]:
    """The message's category (None if it has none) and the rules it breaks."""
    problems: list[str] = []
    name = f"{observed.door}:{observed.message}"
    if observed.accepted > 1:
        problems.append(f"{name} was sent {observed.accepted} times")
    if observed.asked_after_unknown:
        problems.append(
            f"{name} was asked of the provider {observed.asked_after_unknown} more time(s) "
            "after an unknown outcome"
        )
    ours = [d for d in observed.dead_letters if d.get("ErrorCode")]
    redrives = [d for d in observed.dead_letters if not d.get("ErrorCode")]
    if len(observed.dead_letters) > 1:
        problems.append(f"{name} is in the dead-letter queue {len(observed.dead_letters)} times")
    for entry in ours:
        if not entry.get("ErrorMessage"):
            problems.append(f"{name} was parked with ErrorCode but no ErrorMessage")

    category: str | None
    if observed.door in QUEUE_DOORS:
        category = _queue_category(observed, name, ours, redrives, problems)
    else:
        category = _caller_category(observed, name, problems)

    if category in (REJECTED, PARKED, REDRIVEN) and observed.accepted:
        # Reported as not sent, yet the provider has it: a redrive or a retry by the
        # caller would send it again.
        problems.append(f"{name} was sent, yet reported as {category}")
    if category == SENT and observed.accepted == 0:
        problems.append(f"{name} was reported sent, but the provider never accepted it (lost)")
    return category, problems


def _queue_category(
    observed: Observed,
    name: str,
    ours: Sequence[Mapping[str, str]],
    redrives: Sequence[Mapping[str, str]],
    problems: list[str],
) -> str | None:
    if observed.seen == "acked":
        if redrives:
            problems.append(f"{name} was acknowledged, yet parked without a reason")
        if not ours:
            return SENT
        return UNKNOWN if ours[0].get("ErrorCode") == UNKNOWN_OUTCOME_CODE else PARKED
    if observed.seen == "exhausted":
        if ours:
            problems.append(f"{name} was parked by the gateway, yet its retries ran on")
        if not redrives:
            problems.append(f"{name} ran out of retries but is not in the dead-letter queue")
            return None
        return REDRIVEN
    problems.append(f"{name} has no fate: its door saw {observed.seen!r}")
    return None


def _caller_category(observed: Observed, name: str, problems: list[str]) -> str | None:
    if observed.dead_letters:
        problems.append(f"{name} came from a caller who waits, yet was parked")
    if observed.seen in (SENT, REJECTED, UNKNOWN):
        return observed.seen
    problems.append(f"{name} has no fate: its caller saw {observed.seen!r}")
    return None


def tally(observations: Iterable[Observed]) -> Tally:
    """Judge every message: counts by category, duplicates, lost, and the breaches."""
    result = Tally()
    for observed in observations:
        category, problems = judge(observed)
        if category is not None:
            result.counts[category] += 1
        result.duplicates += max(0, observed.accepted - 1)
        if (category == SENT and observed.accepted == 0) or category is None:
            result.lost += 1
        result.violations += problems
    return result
