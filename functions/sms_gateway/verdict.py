"""A message's verdict over its chunks' outcomes: what the caller is told, in one place.

Pure: no I/O. Every chunk sent → the result (`SendOutcome`); chunks that failed differently
→ the one error that decides the message's fate, by precedence.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sms_gateway.chunks import ChunkOutcome, ChunkRequest
from sms_gateway.errors import (
    FailedNumber,
    GatewayError,
    IdempotencyKeyReusedError,
    NumbersRefusedError,
    PermanentError,
    PolicyRefusedError,
    UnknownOutcomeError,
)

logger = logging.getLogger(__name__)

# Which failure decides a message's fate when its chunks fail differently: a refusal by
# the provider or a reused key goes to a person first; an unknown outcome must not be
# re-sent; only then is the whole message worth retrying.
_PRECEDENCE: Final = (IdempotencyKeyReusedError, PermanentError, UnknownOutcomeError)

ChunkResult = tuple[ChunkRequest, ChunkOutcome | GatewayError]
_WHOLE_CHUNK_REFUSALS: Final = (NumbersRefusedError, PolicyRefusedError)


@dataclass(frozen=True)
class SendOutcome:
    """A message that reached the provider: one SessionNo per upstream call, and the
    numbers it refused (`failed`; only SendBatchUSMSMessage refuses single numbers)."""

    session_nos: tuple[str, ...]
    phone_count: int
    user_id: str | None
    replayed: bool
    failed: tuple[FailedNumber, ...] = ()

    def as_result(self) -> dict[str, Any]:
        """The contract's result object (API body, direct-invoke return): `Failed` only
        when a number was refused, so a message sent whole has the same shape whichever
        action carried it. It names phone numbers: log `as_log_result()` instead."""
        result: dict[str, Any] = {
            "SessionNos": list(self.session_nos),
            "PhoneCount": self.phone_count,
        }
        if self.user_id is not None:
            result["UserId"] = self.user_id
        if self.failed:
            result["Failed"] = [failed.as_dict() for failed in self.failed]
        result["IdempotentReplay"] = self.replayed
        return result

    def as_log_result(self) -> dict[str, Any]:
        """The result for a log line: refused numbers counted, never named."""
        return log_safe_result(self.as_result())


def log_safe_result(result: Mapping[str, Any]) -> dict[str, Any]:
    """A result object with its `Failed` numbers replaced by their count (`FailedCount`)."""
    safe = {key: value for key, value in result.items() if key != "Failed"}
    failed = result.get("Failed")
    if isinstance(failed, list):
        safe["FailedCount"] = len(failed)
    return safe


def verdict(results: Sequence[ChunkResult], user_id: str | None) -> SendOutcome:
    """The message's result when every chunk was sent (or refused whole while another was
    sent); else raise the error that decides its fate."""
    outcomes = [outcome for _, outcome in results if isinstance(outcome, ChunkOutcome)]
    # Chunks whose every number was refused (by the provider or the traffic policy): not a
    # failure of the message while another chunk got through — their numbers join `Failed`.
    refused = [error for _, error in results if isinstance(error, _WHOLE_CHUNK_REFUSALS)]
    errors = [
        error
        for _, error in results
        if isinstance(error, GatewayError) and not isinstance(error, _WHOLE_CHUNK_REFUSALS)
    ]
    sent = [outcome for outcome in outcomes if outcome.sent]
    unknown = [outcome for outcome in outcomes if not outcome.sent]
    if errors or unknown:
        if sent:
            logger.warning(
                "message partly sent",
                extra={"sent_session_nos": [o.session_no for o in sent], "chunks": len(results)},
            )
        raise _deciding_error(errors, unknown)
    failed = [number for chunk, outcome in results for number in _failed_numbers(chunk, outcome)]
    if not sent:
        raise _nothing_sent(refused, failed)
    return SendOutcome(
        session_nos=tuple(outcome.session_no for outcome in sent),
        phone_count=sum(outcome.phone_count for outcome in sent),
        user_id=user_id,
        # A refused chunk was asked again just now: not a pure replay.
        replayed=not refused and all(outcome.replayed for outcome in sent),
        failed=tuple(failed),
    )


def _nothing_sent(
    refused: Sequence[NumbersRefusedError | PolicyRefusedError], failed: list[FailedNumber]
) -> GatewayError:
    """No number of the message was accepted: a permanent rejection, with every reason —
    the policy's own (422, or 429 when only limits refused) when it refused them all."""
    if all(isinstance(error, PolicyRefusedError) for error in refused):
        waits = [error.retry_after for error in refused]
        only_limits = all(wait is not None for wait in waits)
        return PolicyRefusedError(
            failed, retry_after=min(w for w in waits if w is not None) if only_limits else None
        )
    provider = next(error for error in refused if isinstance(error, NumbersRefusedError))
    return NumbersRefusedError(failed, ret_code=provider.ret_code, action=provider.action)


def _deciding_error(
    errors: Sequence[GatewayError], unknown: Sequence[ChunkOutcome]
) -> GatewayError:
    """The failure that decides the message's fate (see `_PRECEDENCE`)."""
    for kind in _PRECEDENCE:
        for error in errors:
            if isinstance(error, kind):
                return error
        if kind is UnknownOutcomeError and unknown:
            return UnknownOutcomeError(
                f"{unknown[0].unknown_reason}; the message may have been sent and will not be "
                "re-sent under the same idempotency key — check its receipts"
            )
    return errors[0]


def _failed_numbers(
    chunk: ChunkRequest, outcome: ChunkOutcome | GatewayError
) -> list[FailedNumber]:
    """The numbers of one chunk that were refused: named in a refusal of the whole chunk,
    or by position in the chunk's (possibly replayed) outcome."""
    if isinstance(outcome, _WHOLE_CHUNK_REFUSALS):
        return list(outcome.failed)
    if isinstance(outcome, GatewayError) or not outcome.sent or not outcome.refused:
        return []
    phones = chunk.phones
    return [FailedNumber(phones[position], reason) for position, reason in outcome.refused]
