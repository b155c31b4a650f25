"""One provider call per chunk: timed and counted, its answer turned into a `ChunkOutcome`.

Runs inside the idempotency ledger, so at most once per chunk key. An unknown outcome is
an outcome, not an error: the provider may have sent it, and a second SMS is the one
failure a person cannot undo — it is remembered as done, reported, never re-sent within
the idempotency window. A batch call that took no number raises instead
(`NumbersRefusedError`), so nothing is remembered as sent and a redrive asks again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Final, Protocol, TypeVar

from sms_gateway import upstream
from sms_gateway.chunks import ChunkOutcome, ChunkRequest
from sms_gateway.credentialed_client import CredentialedClient
from sms_gateway.errors import (
    FailedNumber,
    NumbersRefusedError,
    PolicyRefusedError,
    UnknownActionError,
    UnknownOutcomeError,
    UspeedoError,
)
from sms_gateway.protection import Protection, Screening
from sms_gateway.telemetry import Counters
from sms_gateway.time_budget import RemainingMs, ensure_time_for_a_call
from sms_gateway.uspeedo_client import BATCH_ACTION, SEND_ACTION

logger = logging.getLogger(__name__)

# The metric an alarm watches: the provider does not know the action we call (RetCode
# 160/161) — USPEEDO_ACTION names an action it retired, or never had.
ACTION_UNKNOWN_METRIC: Final = "ProviderActionUnknown"
# Numbers the batch action refused (FailContent), counted as the provider answers.
PHONES_REFUSED_METRIC: Final = "PhonesRefused"


class _Timed(Protocol):
    @property
    def elapsed_ms(self) -> float: ...


R = TypeVar("R", bound=_Timed)


class ChunkCalls:
    """Sends chunks through a `CredentialedClient`, counting latency and failures; with
    `protection`, only the numbers that pass its checks, and never an expired message."""

    def __init__(
        self,
        client: CredentialedClient,
        counters: Counters,
        protection: Protection | None = None,
    ) -> None:
        self._client = client
        self._counters = counters
        self._protection = protection

    def send(self, chunk: ChunkRequest, remaining_ms: RemainingMs | None = None) -> ChunkOutcome:
        """One provider call for the numbers of `chunk` that pass the protection checks:
        sent, or an unknown outcome. Raises `PolicyRefusedError` when none passes."""
        ensure_time_for_a_call(remaining_ms)
        if self._protection is None:
            return self._call(chunk, remaining_ms)
        self._protection.check_age(chunk.entered_at, chunk.time_to_live)
        screening = self._protection.screen(chunk.key, chunk.phones)
        if not screening.refused:
            return self._call(chunk, remaining_ms)
        return self._send_screened(chunk, screening, remaining_ms)

    def _send_screened(
        self, chunk: ChunkRequest, screening: Screening, remaining_ms: RemainingMs | None
    ) -> ChunkOutcome:
        """Send what passed; the refused numbers join the outcome's `refused` (positions in
        the whole chunk, the provider's own refusals mapped back to them)."""
        phones = chunk.phones
        refused = dict(screening.refused)
        kept = [position for position in range(len(phones)) if position not in refused]
        if not kept:
            failed = [FailedNumber(phones[p], reason) for p, reason in screening.refused]
            raise PolicyRefusedError(failed, retry_after=screening.retry_after)
        body = upstream.only_positions(chunk.body, chunk.batch, kept)
        outcome = self._call(replace(chunk, body=body), remaining_ms)
        provider_refused = {kept[p]: reason for p, reason in outcome.refused or ()}
        return replace(outcome, refused=tuple(sorted({**refused, **provider_refused}.items())))

    def _call(self, chunk: ChunkRequest, remaining_ms: RemainingMs | None) -> ChunkOutcome:
        """One provider call for every number of `chunk`."""
        try:
            if chunk.batch:
                return self._send_batch(chunk, remaining_ms)
            sent = self._client.call(
                lambda client: self._timed(SEND_ACTION, lambda: client.send_sms(chunk.body)),
                remaining_ms,
                chunk.body.get("AccountId"),
            )
        except UnknownOutcomeError as exc:
            return ChunkOutcome(
                sent=False, phone_count=len(chunk.phones), unknown_reason=exc.message
            )
        return ChunkOutcome(
            sent=True,
            phone_count=len(chunk.phones),
            session_no=sent.session_no,
            user_id=sent.user_id,
        )

    def _send_batch(self, chunk: ChunkRequest, remaining_ms: RemainingMs | None) -> ChunkOutcome:
        """One SendBatchUSMSMessage call: sent if the provider took at least one number."""
        body = chunk.body
        result = self._client.call(
            lambda client: self._timed(
                BATCH_ACTION,
                lambda: client.send_batch(body["TaskContent"], account_id=body.get("AccountId")),
            ),
            remaining_ms,
            body.get("AccountId"),
        )
        refused = upstream.refused_positions(body, result)
        phone_count = len(chunk.phones)
        if refused:
            self._counters.count(PHONES_REFUSED_METRIC, len(refused))
            logger.info(
                "provider refused numbers", extra={"refused": len(refused), "numbers": phone_count}
            )
        if not result.accepted_any:
            # Nothing of this chunk went out, so nothing is stored as "sent": raising makes
            # the ledger delete the chunk's in-progress record. A retry of the message (a
            # later chunk failed transiently) or a redrive from the dead-letter queue (after
            # someone fixed the cause) asks the provider again — which cannot send anyone a
            # second SMS, since nobody got a first — instead of replaying a refusal for the
            # whole idempotency window. The same in one message with accepted chunks: its
            # refused numbers are reported in `Failed` all the same.
            raise NumbersRefusedError(
                upstream.failed_numbers(body, refused),
                ret_code=result.ret_code or None,
                action=BATCH_ACTION,
            )
        return ChunkOutcome(
            sent=True,
            phone_count=phone_count - len(refused),
            session_no=result.session_no or "",
            refused=tuple(refused),
        )

    def _timed(self, action: str, call: Callable[[], R]) -> R:
        """Run one provider call, counting its latency, or its failure by reason."""
        try:
            result = call()
        except UspeedoError as exc:
            reason = str(exc.ret_code) if exc.ret_code is not None else exc.code
            self._counters.count_by("ProviderErrors", "Reason", reason)
            if isinstance(exc, UnknownActionError):
                # A configuration error, not the message's: loud, counted for the alarm,
                # and retried like a transient failure (the error is retryable).
                self._counters.count(ACTION_UNKNOWN_METRIC)
                logger.error(
                    "the provider does not know the action; check USPEEDO_ACTION",
                    extra={"action": action, "ret_code": exc.ret_code},
                )
            raise
        self._counters.latency("ProviderLatency", result.elapsed_ms)
        return result
