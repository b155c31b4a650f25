"""Sending one message: chunks of at most 1,000 numbers, each exactly once, concurrently.

The domain logic, free of event shapes: it takes a validated `Message`, returns what was
sent, or raises one error of the family in `errors.py` that says what became of it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from sms_gateway import time_budget
from sms_gateway.credentials import CredentialsSource
from sms_gateway.errors import (
    CredentialsError,
    GatewayError,
    IdempotencyKeyReusedError,
    OutOfTimeError,
    PermanentError,
    UnknownOutcomeError,
    UspeedoError,
)
from sms_gateway.idempotency import REPLAYED, Chunk, ChunkLedger, ChunkResult
from sms_gateway.model import Message
from sms_gateway.settings import Settings
from sms_gateway.telemetry import Counters
from sms_gateway.uspeedo_client import (
    Credentials,
    SendResult,
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

RemainingMs = Callable[[], int]
T = TypeVar("T")


@dataclass(frozen=True)
class SendOutcome:
    """A message that reached the provider: one SessionNo per upstream call."""

    session_nos: tuple[str, ...]
    phone_count: int
    user_id: str | None
    replayed: bool

    def as_result(self) -> dict[str, Any]:
        """The contract's result object (API body, direct-invoke return, log line)."""
        result: dict[str, Any] = {
            "SessionNos": list(self.session_nos),
            "PhoneCount": self.phone_count,
        }
        if self.user_id is not None:
            result["UserId"] = self.user_id
        result["IdempotentReplay"] = self.replayed
        return result


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
        client_factory: Callable[[Credentials, str], UspeedoClient] = UspeedoClient,
    ) -> None:
        self._settings = settings
        self._credentials = credentials
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
        attribute), else the message's fingerprint.
        """
        base_key = message.idempotency_key or key or message.fingerprint()
        fingerprint = message.fingerprint()
        chunks = [
            {"key": f"{base_key}#{index}", "fingerprint": fingerprint, "request": request}
            for index, request in enumerate(self._requests(message))
        ]

        def deliver(chunk: Chunk) -> ChunkResult:
            return self._deliver(chunk, remaining_ms)

        futures: list[Future[ChunkResult]] = [
            self._pool.submit(self._ledger.run, chunk, deliver) for chunk in chunks
        ]
        results: list[ChunkResult] = []
        errors: list[GatewayError] = []
        for future in futures:
            try:
                results.append(future.result())
            except GatewayError as exc:
                errors.append(exc)
        return self._conclude(results, errors, message)

    def receipts(self, session_nos: Sequence[str]) -> list[SessionReceipts]:
        """Delivery receipts of earlier sends."""
        return self._with_fresh_credentials(lambda client: client.get_receipts(session_nos))

    # --- one chunk ---------------------------------------------------------------------

    def _requests(self, message: Message) -> list[dict[str, Any]]:
        requests = message.upstream_requests()
        if self._settings.default_sender_id and message.sender_id is None:
            for request in requests:
                request["SenderId"] = self._settings.default_sender_id
        return requests

    def _deliver(self, chunk: Chunk, remaining_ms: RemainingMs | None) -> ChunkResult:
        """One upstream call; runs inside the ledger, so at most once per chunk key."""
        request = chunk["request"]
        phone_count = len(request["PhoneNumbers"])
        if remaining_ms is not None:
            needed = time_budget.worst_case_call_s() * 1000 + SAFETY_MARGIN_MS
            if remaining_ms() < needed:
                raise OutOfTimeError("too little time left in this invocation for a provider call")
        try:
            sent = self._with_fresh_credentials(lambda client: self._timed_send(client, request))
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

    def _timed_send(self, client: UspeedoClient, request: dict[str, Any]) -> SendResult:
        try:
            result = client.send_sms(request)
        except UspeedoError as exc:
            reason = str(exc.ret_code) if exc.ret_code is not None else exc.code
            self._counters.count_by("ProviderErrors", "Reason", reason)
            raise
        self._counters.latency("ProviderLatency", result.elapsed_ms)
        return result

    def _with_fresh_credentials(self, call: Callable[[UspeedoClient], T]) -> T:
        """Run `call`; on a credentials RetCode, refetch the secret once and, if it
        changed (rotated), try again — the refused call sent nothing."""
        client = self._current_client()
        try:
            return call(client)
        except CredentialsError:
            fresh = self._credentials.get(refresh=True)
            if fresh == client.credentials:
                raise
            logger.warning("provider refused the credentials; retrying with the rotated secret")
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
        self, results: list[ChunkResult], errors: list[GatewayError], message: Message
    ) -> SendOutcome:
        sent = [r for r in results if r.get("Outcome") == SENT]
        session_nos = tuple(r["SessionNo"] for r in sent)
        if errors or len(sent) != len(results):
            if sent:
                logger.warning(
                    "message partly sent",
                    extra={
                        "sent_session_nos": list(session_nos),
                        "chunks": len(results) + len(errors),
                    },
                )
            for kind in _PRECEDENCE:
                for error in errors:
                    if isinstance(error, kind):
                        raise error
                if kind is UnknownOutcomeError and len(sent) != len(results):
                    unknown = next(r for r in results if r.get("Outcome") == UNKNOWN)
                    raise UnknownOutcomeError(
                        f"{unknown['Reason']}; the message may have been sent and will not be "
                        "re-sent under the same idempotency key — check its receipts"
                    )
            raise errors[0]
        return SendOutcome(
            session_nos=session_nos,
            phone_count=sum(int(r["PhoneCount"]) for r in sent),
            user_id=message.user_id,
            replayed=bool(results) and all(r.get(REPLAYED) for r in results),
        )
