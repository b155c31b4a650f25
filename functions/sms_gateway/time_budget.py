"""The time budget, in one place: upstream timeouts ≪ function timeout < in-progress expiry.

The stack derives the function timeout and the queue's visibility timeout from these
figures, and the sender stops starting upstream calls when the time left in the invocation
is below one worst-case call, so a Lambda timeout never cuts a provider call in half (an
expired idempotency lock plus a half-done call is how duplicate SMS happen).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from sms_gateway.errors import OutOfTimeError

# The time left in the invocation, in milliseconds (the Lambda context's, or the API's).
RemainingMs = Callable[[], int]

# Connecting is quick when the provider is up; a slow connect means trouble, and nothing
# has been sent yet, so it is safe to try again.
CONNECT_TIMEOUT_S = 3.0
# The provider answers SendUSMSMessage in well under a second; 8 s leaves room for its
# bad days while keeping a user waiting for a one-time code from waiting much longer.
READ_TIMEOUT_S = 8.0
# Retries of connections that never reached the server (refused, connect timeout).
CONNECT_RETRIES = 2
BACKOFF_FACTOR_S = 0.1
BACKOFF_MAX_S = 0.5

# The Lambda function's timeout. At least a handful of worst-case calls fit in it; the
# sender checks the remaining time before each call, so the rest of a big message is left
# for the queue's retry (each 1,000-number chunk is idempotent on its own).
FUNCTION_TIMEOUT_S = 60
# SQS guidance: visibility timeout at least 6 × the function timeout, so a message is not
# redelivered to a second invocation while the first is still working on it.
VISIBILITY_TIMEOUT_FACTOR = 6


def worst_case_call_s() -> float:
    """The longest one upstream call can take: every connect attempt times out, with
    backoff between them, then the read waits its full timeout."""
    attempts = CONNECT_RETRIES + 1
    return attempts * CONNECT_TIMEOUT_S + CONNECT_RETRIES * BACKOFF_MAX_S + READ_TIMEOUT_S


def visibility_timeout_s() -> int:
    """The SQS queue's visibility timeout for the function timeout above."""
    return VISIBILITY_TIMEOUT_FACTOR * FUNCTION_TIMEOUT_S


# Keep this much of the invocation in hand after the last call could end, for writing the
# idempotency record and answering.
SAFETY_MARGIN_MS: Final = 2_000


def ensure_time_for_a_call(remaining_ms: RemainingMs | None) -> None:
    """Refuse (`OutOfTimeError`, retried) to start a provider call that the invocation may
    not live to finish."""
    if remaining_ms is None:
        return
    if remaining_ms() < worst_case_call_s() * 1000 + SAFETY_MARGIN_MS:
        raise OutOfTimeError("too little time left in this invocation for a provider call")
