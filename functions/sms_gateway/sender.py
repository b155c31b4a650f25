"""Sending one message: chunks of at most 1,000 numbers, each exactly once, concurrently.

The domain logic, free of event shapes: it takes a validated `Message`, returns what was
sent, or raises one error of the family in `errors.py` that says what became of it.

The upstream action: SendUSMSMessage for ordinary messages, unless `USPEEDO_ACTION` is
SendBatchUSMSMessage; personalised messages (`Recipients`) always go as
SendBatchUSMSMessage (`upstream.py`). The batch action may refuse some numbers: the
result lists them (`Failed`), and a message none of whose numbers was accepted is refused
(`NumbersRefusedError`, permanent).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, Final, Protocol, TypeVar

from sms_gateway import time_budget, upstream
from sms_gateway.credentials import CredentialsSource
from sms_gateway.errors import (
    CredentialsError,
    FailedNumber,
    GatewayError,
    IdempotencyKeyReusedError,
    NumbersRefusedError,
    OutOfTimeError,
    PermanentError,
    UnknownActionError,
    UnknownOutcomeError,
    UspeedoError,
)
from sms_gateway.gateway_key import GatewayKeySource
from sms_gateway.idempotency import REPLAYED, Chunk, ChunkLedger, ChunkResult
from sms_gateway.message import Message
from sms_gateway.retcodes import ACCOUNT_RETCODES
from sms_gateway.settings import Settings
from sms_gateway.telemetry import Counters
from sms_gateway.uspeedo_client import (
    BATCH_ACTION,
    SEND_ACTION,
    BatchResult,
    Credentials,
    SessionReceipts,
    UspeedoClient,
)

logger = logging.getLogger(__name__)

SENT: Final = "sent"
UNKNOWN: Final = "unknown"
# Keep this much of the invocation in hand after the last call could end, for writing the
# idempotency record and answering.
SAFETY_MARGIN_MS: Final = 2_000
# Which failure decides a message's fate when its chunks fail differently: a refusal by
# the provider or a reused key goes to a person first; an unknown outcome must not be
# re-sent; only then is the whole message worth retrying.
_PRECEDENCE: Final = (IdempotencyKeyReusedError, PermanentError, UnknownOutcomeError)

# The metric an alarm watches: the provider does not know the action we call (RetCode
# 160/161) — USPEEDO_ACTION names an action it retired, or never had.
ACTION_UNKNOWN_METRIC: Final = "ProviderActionUnknown"
# Numbers the batch action refused (FailContent), counted as the provider answers.
PHONES_REFUSED_METRIC: Final = "PhonesRefused"

# Keeps a producer's key apart from every fingerprint, whatever text it holds.
EXPLICIT_KEY_DOMAIN: Final = "IdempotencyKey:"

RemainingMs = Callable[[], int]
T = TypeVar("T")


class _Timed(Protocol):
    @property
    def elapsed_ms(self) -> float: ...


R = TypeVar("R", bound=_Timed)


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


class Sender:
    """Sends messages through USpeedo with the credentials of one secret."""

    def __init__(
        self,
        settings: Settings,
        credentials: CredentialsSource,
        ledger: ChunkLedger,
        pool: Executor,
        counters: Counters,
        *,
        gateway_key: GatewayKeySource,
        client_factory: Callable[[Credentials, str], UspeedoClient] = UspeedoClient,
    ) -> None:
        self._settings = settings
        self._credentials = credentials
        self._gateway_key = gateway_key
        self._ledger = ledger
        self._pool = pool
        self._counters = counters
        self._client_factory = client_factory
        self._client: UspeedoClient | None = None
        self._client_lock = threading.Lock()

    def send(
        self, message: Message, *, key: str | None = None, remaining_ms: RemainingMs | None = None
    ) -> SendOutcome:
        """Send every chunk of `message` not sent before under its idempotency key.

        The key is the message's `IdempotencyKey`, else `key` (header or message
        attribute), else the message's fingerprint — each keyed with the gateway key
        before it is stored: a producer's key may hold a number too.
        """
        gateway_key = self._gateway_key.get()
        fingerprint = message.fingerprint(gateway_key)  # hashes every number: once per message
        explicit = message.idempotency_key or key
        base_key = gateway_key.digest(EXPLICIT_KEY_DOMAIN + explicit) if explicit else fingerprint
        action = self.action_for(message)
        chunks = [
            {
                "key": f"{base_key}#{index}",
                "fingerprint": fingerprint,
                "action": action,
                "request": request,
            }
            for index, request in enumerate(self._requests(message, action))
        ]

        def deliver(chunk: Chunk) -> ChunkResult:
            return self._deliver(chunk, remaining_ms)

        futures: list[Future[ChunkResult]] = [
            self._pool.submit(self._ledger.run, chunk, deliver) for chunk in chunks
        ]
        outcomes: list[tuple[Chunk, ChunkResult | GatewayError]] = []
        for chunk, future in zip(chunks, futures, strict=True):
            try:
                outcomes.append((chunk, future.result()))
            except GatewayError as exc:
                outcomes.append((chunk, exc))
        return self._conclude(outcomes, message)

    def action_for(self, message: Message) -> str:
        """The upstream action of `message`: SendBatchUSMSMessage for personalised ones
        (only it carries per-number parameters), else the configured `USPEEDO_ACTION`."""
        return BATCH_ACTION if message.personalised else self._settings.action

    def receipts(self, session_nos: Sequence[str]) -> list[SessionReceipts]:
        """Delivery receipts of earlier sends."""
        return self._with_fresh_credentials(lambda client: client.get_receipts(session_nos))

    # --- one chunk ---------------------------------------------------------------------

    def _requests(self, message: Message, action: str) -> list[dict[str, Any]]:
        default_sender = self._settings.default_sender_id
        if action == BATCH_ACTION:
            return upstream.batch_requests(message, sender_id=default_sender)
        return upstream.send_requests(message, sender_id=default_sender)

    def _deliver(self, chunk: Chunk, remaining_ms: RemainingMs | None) -> ChunkResult:
        """One upstream call; runs inside the ledger, so at most once per chunk key."""
        request = chunk["request"]
        batch = chunk.get("action", SEND_ACTION) == BATCH_ACTION
        phone_count = len(upstream.phones_of(request) if batch else request["PhoneNumbers"])
        _check_time(remaining_ms)
        try:
            if batch:
                return self._deliver_batch(request, remaining_ms)
            sent = self._with_fresh_credentials(
                lambda client: self._timed(SEND_ACTION, lambda: client.send_sms(request)),
                remaining_ms,
                request.get("AccountId"),
            )
        except UnknownOutcomeError as exc:
            # Remembered as done: the provider may have sent it, and a second SMS is the
            # one failure a person cannot undo. Reported, never re-sent within the TTL.
            return {"Outcome": UNKNOWN, "Reason": exc.message, "PhoneCount": phone_count}
        return {
            "Outcome": SENT,
            "SessionNo": sent.session_no,
            "PhoneCount": phone_count,
            "UserId": sent.user_id,
        }

    def _deliver_batch(
        self, request: dict[str, Any], remaining_ms: RemainingMs | None = None
    ) -> ChunkResult:
        """One SendBatchUSMSMessage call: sent if the provider took at least one number."""
        result: BatchResult = self._with_fresh_credentials(
            lambda client: self._timed(
                BATCH_ACTION,
                lambda: client.send_batch(
                    request["TaskContent"], account_id=request.get("AccountId")
                ),
            ),
            remaining_ms,
            request.get("AccountId"),
        )
        refused = upstream.refused_positions(request, result)
        phone_count = len(upstream.phones_of(request))
        if refused:
            self._counters.count(PHONES_REFUSED_METRIC, len(refused))
            logger.info(
                "provider refused numbers",
                extra={"refused": len(refused), "numbers": phone_count},
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
                upstream.failed_numbers(request, refused),
                ret_code=result.ret_code or None,
                action=BATCH_ACTION,
            )
        return {
            "Outcome": SENT,
            "SessionNo": result.session_no or "",
            "PhoneCount": phone_count - len(refused),
            "UserId": None,
            # Positions in the chunk, not numbers: the idempotency table holds no phone
            # numbers; `_conclude` maps them back through the chunk's request.
            "Refused": [{"Index": index, "Reason": reason} for index, reason in refused],
        }

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

    def _with_fresh_credentials(
        self,
        call: Callable[[UspeedoClient], T],
        remaining_ms: RemainingMs | None = None,
        message_account: int | None = None,
    ) -> T:
        """Run `call`; on a credentials RetCode, refetch the secret once and, if it
        changed (rotated), try again — the refused call sent nothing.

        If the secret did not change, the error stands: retried later, and alarmed. Unless
        the message names an account of its own (`message_account`, not the secret's) and
        the RetCode is about the account: then the message is at fault, and retrying it
        would only end in the dead-letter queue without a reason. It is refused for good.

        The time left is checked again just before each call: reading the secret can be
        slow (Secrets Manager's SDK retries), and a call begun without time to finish can
        be cut by the Lambda timeout. (Found by tests/reliability: slow-secret.)
        """
        client = self._current_client()
        _check_time(remaining_ms)
        try:
            return call(client)
        except CredentialsError as exc:
            fresh = self._credentials.get(refresh=True)
            if fresh == client.credentials:
                if (
                    message_account is not None
                    and message_account != fresh.account_id
                    and exc.ret_code in ACCOUNT_RETCODES
                ):
                    raise PermanentError(
                        f"the provider refused the message's AccountId: {exc.message}",
                        http_status=exc.http_status,
                        ret_code=exc.ret_code,
                        action=exc.action,
                    ) from exc
                raise
            logger.warning("provider refused the credentials; retrying with the rotated secret")
            _check_time(remaining_ms)
            return call(self._current_client(fresh))

    def _current_client(self, fresh: Credentials | None = None) -> UspeedoClient:
        with self._client_lock:
            if fresh is not None and (self._client is None or self._client.credentials != fresh):
                self._client = self._client_factory(fresh, self._settings.endpoint)
            if self._client is None:
                self._client = self._client_factory(
                    self._credentials.get(), self._settings.endpoint
                )
            return self._client

    # --- the message's fate --------------------------------------------------------------

    def _conclude(
        self, outcomes: list[tuple[Chunk, ChunkResult | GatewayError]], message: Message
    ) -> SendOutcome:
        results = [(chunk, r) for chunk, r in outcomes if not isinstance(r, GatewayError)]
        # Chunks whose every number was refused: not a failure of the message while another
        # chunk got through — their numbers join `Failed`.
        refused = [r for _, r in outcomes if isinstance(r, NumbersRefusedError)]
        errors = [
            r
            for _, r in outcomes
            if isinstance(r, GatewayError) and not isinstance(r, NumbersRefusedError)
        ]
        sent = [(chunk, r) for chunk, r in results if r.get("Outcome") == SENT]
        session_nos = tuple(r["SessionNo"] for _, r in sent)
        if errors or len(sent) != len(results):
            if sent:
                logger.warning(
                    "message partly sent",
                    extra={"sent_session_nos": list(session_nos), "chunks": len(outcomes)},
                )
            for kind in _PRECEDENCE:
                for error in errors:
                    if isinstance(error, kind):
                        raise error
                if kind is UnknownOutcomeError and len(sent) != len(results):
                    unknown = next(r for _, r in results if r.get("Outcome") == UNKNOWN)
                    raise UnknownOutcomeError(
                        f"{unknown['Reason']}; the message may have been sent and will not be "
                        "re-sent under the same idempotency key — check its receipts"
                    )
            raise errors[0]
        failed = [
            number for chunk, outcome in outcomes for number in _failed_numbers(chunk, outcome)
        ]
        if not sent:
            # No number of the message was accepted: a permanent rejection, with every reason.
            first = refused[0]
            raise NumbersRefusedError(failed, ret_code=first.ret_code, action=first.action)
        return SendOutcome(
            session_nos=session_nos,
            phone_count=sum(int(r["PhoneCount"]) for _, r in sent),
            user_id=message.user_id,
            # A refused chunk was asked again just now: not a pure replay.
            replayed=not refused and all(r.get(REPLAYED) for _, r in sent),
            failed=tuple(failed),
        )


def _check_time(remaining_ms: RemainingMs | None) -> None:
    """Refuse to start a provider call that the invocation may not live to finish."""
    if remaining_ms is None:
        return
    needed = time_budget.worst_case_call_s() * 1000 + SAFETY_MARGIN_MS
    if remaining_ms() < needed:
        raise OutOfTimeError("too little time left in this invocation for a provider call")


def _failed_numbers(chunk: Chunk, outcome: ChunkResult | GatewayError) -> list[FailedNumber]:
    """The numbers of one chunk the provider refused: named in a refusal of the whole
    chunk, or by position in the chunk's (possibly replayed) result."""
    if isinstance(outcome, NumbersRefusedError):
        return list(outcome.failed)
    if isinstance(outcome, GatewayError) or outcome.get("Outcome") != SENT:
        return []
    positions = [(item["Index"], item["Reason"]) for item in outcome.get("Refused") or []]
    return upstream.failed_numbers(chunk["request"], positions) if positions else []
