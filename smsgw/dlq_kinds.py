"""What each kind of parked message (its `ErrorCode`) means for the person triaging the
dead-letter queue: whether `dlq redrive` sends it back, and what to do about it. One table,
so that what `dlq list` advises is what `dlq redrive` does."""

from __future__ import annotations

from typing import Final

from sms_gateway.contract import (
    EXPIRED,
    IDEMPOTENCY_KEY_REUSED,
    INVALID_MESSAGE,
    POLICY_REFUSED,
    PROVIDER_OUTCOME_UNKNOWN,
)

# Kinds that fail the same way every time they are sent as they are: redrive leaves them
# unless asked by name (`--include`), since sending them again only parks them again.
# PolicyRefused can succeed once the policy changes, so it is the one worth including.
NEVER_SUCCEED: Final = (INVALID_MESSAGE, IDEMPOTENCY_KEY_REUSED, EXPIRED, POLICY_REFUSED)

_WHY: Final = {
    INVALID_MESSAGE: "the message breaks the gateway's rules and fails the same way every time",
    IDEMPOTENCY_KEY_REUSED: (
        "its IdempotencyKey was used before for a different message: under that key it "
        "fails the same way every time"
    ),
    EXPIRED: "it was too old to send (a late one-time code is worse than none)",
    POLICY_REFUSED: "the traffic policy or the opt-out list refused every number",
    PROVIDER_OUTCOME_UNKNOWN: "the provider may have sent it (its answer was lost)",
}


def redrive_leaves(code: str, include: frozenset[str], resend_unknown: bool) -> bool:
    """Whether `dlq redrive` leaves a message of this kind where it is."""
    if code == PROVIDER_OUTCOME_UNKNOWN:
        return not resend_unknown
    return code in NEVER_SUCCEED and code not in include


def advice(code: str, cli: str) -> str:
    """Why a message of this kind is parked and what to do, in one sentence."""
    why = _WHY.get(code)
    purge = f"`{cli} dlq purge --code {code}` clears them"
    if code in (INVALID_MESSAGE, IDEMPOTENCY_KEY_REUSED):
        fix = "send a corrected message" if code == INVALID_MESSAGE else "send it under a new key"
        return f"{why}: redrive leaves them; {fix}, and {purge}"
    if code == EXPIRED:
        return f"{why}: redrive leaves them; ask for a fresh one, and {purge}"
    if code == POLICY_REFUSED:
        return (
            f"{why}: redrive leaves them unless the policy now allows them; then "
            f"`{cli} dlq redrive --include {POLICY_REFUSED}` sends them, or {purge}"
        )
    if code == PROVIDER_OUTCOME_UNKNOWN:
        return (
            f"{why}: redrive keeps them; check (the provider's console, or receipts by UserId), "
            f"then `{cli} dlq redrive --resend-unknown` sends those that were not sent"
        )
    if not code:
        return f"retries ran out (parked by the queue itself): `{cli} dlq redrive` sends them again"
    return f"fix the cause, then `{cli} dlq redrive` sends them again"
