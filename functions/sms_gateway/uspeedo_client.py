"""USpeedo's HTTP API: signed calls over one keep-alive urllib3 pool, with timeouts that work.

Where the official SDK hangs, re-sends on parameter errors and logs whole requests, this
client: applies explicit connect and read timeouts to every call; retries only connections
that never reached the server (so a retry can never send an SMS twice); and turns every
transport failure into one error of the family in `errors.py`. What an answer means (a
result, or the error its status and RetCode call for) is `provider_answers`' job. It logs
action, status, RetCode and latency, never a body, a number or a secret.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import (
    HTTPError,
    MaxRetryError,
    ProtocolError,
    ReadTimeoutError,
)

from sms_gateway import time_budget
from sms_gateway.errors import TransientError, UnknownOutcomeError, UspeedoError
from sms_gateway.provider_answers import (
    BatchResult,
    SendResult,
    SessionReceipts,
    interpret,
    parse_batch,
    parse_receipts,
    parse_send,
)
from sms_gateway.signing import sign

logger = logging.getLogger(__name__)

DEFAULT_ENDPOINT: Final = "https://api.uspeedo.com/api"
SEND_ACTION: Final = "SendUSMSMessage"
BATCH_ACTION: Final = "SendBatchUSMSMessage"
RECEIPT_ACTION: Final = "GetUSMSSendReceipt"
MAX_SESSIONS_PER_RECEIPT_CALL: Final = 100
# The server accepts nonces of at most 32 characters; 16 random bytes in hex is exactly 32.
_NONCE_BYTES: Final = 16


def new_pool() -> urllib3.PoolManager:
    # One pool per process, reused by every invocation of a warm Lambda: keep-alive saves
    # a TCP and TLS handshake per call. maxsize covers the sender's concurrent records.
    return urllib3.PoolManager(
        num_pools=4,
        maxsize=16,
        cert_reqs="CERT_REQUIRED",
        retries=False,
        headers={"User-Agent": "sms-gateway (urllib3)"},
    )


_POOL: Final = new_pool()


@dataclass(frozen=True)
class Credentials:
    """The secret's contents. `repr` leaves the secret out so it cannot reach a log."""

    access_key_id: str
    access_key_secret: str = field(repr=False)
    account_id: int | None = None


@dataclass(frozen=True)
class Timeouts:
    """Per-call limits (defaults from `time_budget`, the stack derives its timeouts from it)."""

    connect_s: float = time_budget.CONNECT_TIMEOUT_S
    read_s: float = time_budget.READ_TIMEOUT_S
    connect_retries: int = time_budget.CONNECT_RETRIES
    backoff_factor_s: float = time_budget.BACKOFF_FACTOR_S
    backoff_max_s: float = time_budget.BACKOFF_MAX_S


class UspeedoClient:
    """Signs and sends USpeedo API calls. Thread-safe: it holds no per-call state."""

    def __init__(
        self,
        credentials: Credentials,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        timeouts: Timeouts | None = None,
        pool: urllib3.PoolManager | None = None,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = lambda: secrets.token_hex(_NONCE_BYTES),
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("the USpeedo endpoint must be an http(s) URL with a host")
        self.credentials = credentials
        self.endpoint = endpoint
        self.timeouts = timeouts or Timeouts()
        self._pool = pool or _POOL
        self._clock = clock
        self._nonce = nonce
        self._timeout = urllib3.Timeout(connect=self.timeouts.connect_s, read=self.timeouts.read_s)
        # Only connection errors are retried: urllib3 counts a refused or timed-out connect
        # as `connect`, which by definition sent nothing. Read errors on a POST are raised
        # at once (POST is not in allowed_methods), statuses are returned, redirects too.
        self._retry = urllib3.Retry(
            total=None,
            connect=self.timeouts.connect_retries,
            read=0,
            status=0,
            other=0,
            redirect=False,
            backoff_factor=self.timeouts.backoff_factor_s,
            backoff_max=self.timeouts.backoff_max_s,
            backoff_jitter=self.timeouts.backoff_factor_s,
            raise_on_status=False,
        )

    def send_sms(self, fields: Mapping[str, Any]) -> SendResult:
        """Call SendUSMSMessage with `fields` (USpeedo's names, no `Action`).

        `AccountId` defaults to the credentials' account. Raises an `UspeedoError`
        subclass when the provider did not accept the request.
        """
        started = time.perf_counter()
        answer = self.call(SEND_ACTION, fields)
        elapsed_ms = (time.perf_counter() - started) * 1000
        return parse_send(answer, elapsed_ms, action=SEND_ACTION)

    def send_batch(
        self, task_content: Sequence[Mapping[str, Any]], *, account_id: int | None = None
    ) -> BatchResult:
        """Call SendBatchUSMSMessage with `TaskContent` (`[{TemplateId, SenderId?,
        Target: [{Phone, TemplateParams?, ExtendCode?, UserId?}]}]`, at most 1,000 targets).

        Nulls are left out at every depth (they would change the signature). `account_id`
        overrides the credentials' account. Returns what was accepted and refused, also when
        the provider refused every number; raises an `UspeedoError` subclass when it refused
        the call itself.
        """
        started = time.perf_counter()
        fields: dict[str, Any] = {"TaskContent": _without_nulls(list(task_content))}
        if account_id is not None:
            fields["AccountId"] = account_id
        answer = self.call(BATCH_ACTION, fields, partial_success=True)
        elapsed_ms = (time.perf_counter() - started) * 1000
        result = parse_batch(answer, task_content, elapsed_ms, action=BATCH_ACTION)
        # Counts only: the refused numbers go back to the caller, never to a log.
        logger.debug(
            "batch answered",
            extra={
                "action": BATCH_ACTION,
                "ret_code": result.ret_code,
                "refused": len(result.refused),
                "success_count": result.success_count,
            },
        )
        return result

    def get_receipts(self, session_nos: Sequence[str]) -> list[SessionReceipts]:
        """Delivery receipts for `session_nos`, in calls of at most 100 SessionNos.

        Unknown SessionNos are left out of the answer, as the provider does.
        """
        found: list[SessionReceipts] = []
        unique = list(dict.fromkeys(session_nos))
        for start in range(0, len(unique), MAX_SESSIONS_PER_RECEIPT_CALL):
            batch = unique[start : start + MAX_SESSIONS_PER_RECEIPT_CALL]
            answer = self.call(RECEIPT_ACTION, {"SessionNoSet": batch})
            found.extend(parse_receipts(answer.get("Data")))
        return found

    def call(
        self, action: str, fields: Mapping[str, Any], *, partial_success: bool = False
    ) -> dict[str, Any]:
        """Sign and POST one action; the provider's answer when its RetCode is 0.

        With `partial_success`, a non-zero RetCode whose answer still carries a SessionNo
        is an answer too, not an error: a batch the provider took in part (e.g. 18046) did
        send SMS, and treating it as a failure would let a retry send them again.
        """
        body = self._body(action, fields)
        payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "X-Access-Key-Id": self.credentials.access_key_id,
            "X-Signature": sign(body, self.credentials.access_key_secret),
            "X-Timestamp": str(int(self._clock())),
            "X-Nonce": self._nonce(),
        }
        started = time.perf_counter()
        try:
            response = self._pool.request(
                "POST",
                self.endpoint,
                body=payload,
                headers=headers,
                timeout=self._timeout,
                retries=self._retry,
                redirect=False,
            )
        except Exception as exc:  # every transport failure becomes one typed error
            raise _transport_error(exc, action) from exc
        elapsed_ms = (time.perf_counter() - started) * 1000
        answer = interpret(
            response.status, response.data, response.headers, action, partial_success
        )
        logger.debug(
            "provider call done",
            extra={"action": action, "http_status": response.status, "elapsed_ms": elapsed_ms},
        )
        return answer

    def _body(self, action: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        # Nulls are left out: they are not sent, so they must not be signed either.
        body: dict[str, Any] = {"Action": action}
        if self.credentials.account_id is not None:
            body["AccountId"] = self.credentials.account_id
        body.update((key, value) for key, value in fields.items() if value is not None)
        return body


def _transport_error(exc: Exception, action: str) -> UspeedoError:
    """Map what urllib3 raised to the error family, by whether the request went out."""
    if isinstance(exc, MaxRetryError):
        # Only connect failures are retried, so running out of retries means nothing was
        # sent (refused, unreachable, connect timeout, or a TLS handshake that failed).
        return TransientError(
            f"could not reach the provider: {type(exc.reason).__name__}", action=action
        )
    if isinstance(exc, ReadTimeoutError):
        return UnknownOutcomeError(
            "no answer within the read timeout after the request was sent", action=action
        )
    if isinstance(exc, ProtocolError):
        return UnknownOutcomeError(
            "the connection broke after the request was sent, before a full answer",
            action=action,
        )
    if isinstance(exc, HTTPError | OSError):
        return UnknownOutcomeError(
            f"transport failure after the request was sent: {type(exc).__name__}", action=action
        )
    raise exc


def _without_nulls(value: Any) -> Any:
    """`value` with every null object member left out, at any depth."""
    if isinstance(value, Mapping):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_without_nulls(item) for item in value]
    return value
