"""USpeedo's HTTP API: signed calls over one keep-alive urllib3 pool, with timeouts that work.

Where the official SDK hangs, re-sends on parameter errors and logs whole requests, this
client: applies explicit connect and read timeouts to every call; retries only connections
that never reached the server (so a retry can never send an SMS twice); and turns every
other failure into one error of the family in `errors.py`. It logs action, status, RetCode
and latency, never a body, a number or a secret.
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

from sms_gateway import retcodes, time_budget
from sms_gateway.errors import (
    CredentialsError,
    PermanentError,
    TransientError,
    UnknownActionError,
    UnknownOutcomeError,
    UspeedoError,
)
from sms_gateway.json_input import UnreadableJsonError, load_json
from sms_gateway.redact import redact_text
from sms_gateway.retcodes import Outcome
from sms_gateway.signing import sign

logger = logging.getLogger(__name__)

DEFAULT_ENDPOINT: Final = "https://api.uspeedo.com/api"
SEND_ACTION: Final = "SendUSMSMessage"
BATCH_ACTION: Final = "SendBatchUSMSMessage"
RECEIPT_ACTION: Final = "GetUSMSSendReceipt"
MAX_SESSIONS_PER_RECEIPT_CALL: Final = 100
# The server accepts nonces of at most 32 characters; 16 random bytes in hex is exactly 32.
_NONCE_BYTES: Final = 16
_TRANSIENT_HTTP: Final = frozenset({408, 429, 500, 502, 503, 504})
_CREDENTIALS_HTTP: Final = frozenset({401, 403})


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


@dataclass(frozen=True)
class SendResult:
    """An accepted SendUSMSMessage call."""

    session_no: str
    user_id: str | None
    elapsed_ms: float


@dataclass(frozen=True)
class RefusedTarget:
    """One number of a SendBatchUSMSMessage call that the provider did not accept.

    `phone` is as the provider echoed it in `FailContent` (never logged); `reason` is its
    `FailureDetails` (or the task's, when the template or sender was refused), digits of
    phone numbers masked.
    """

    phone: str
    reason: str = ""


@dataclass(frozen=True)
class BatchResult:
    """A SendBatchUSMSMessage answer: which numbers went out and which did not.

    `session_no` is there only when at least one number was accepted. `refused` lists the
    numbers in `FailContent` — it can be non-empty with RetCode 0 (`ret_code`), and
    everything not in it was accepted.
    """

    session_no: str | None
    success_count: int | None
    req_uuid: str | None
    refused: tuple[RefusedTarget, ...]
    elapsed_ms: float
    ret_code: int = retcodes.SUCCESS

    @property
    def accepted_any(self) -> bool:
        """Whether the provider took at least one number (it then sent something)."""
        return bool(self.session_no) or (self.success_count or 0) > 0


@dataclass(frozen=True)
class Receipt:
    """The delivery report for one number of one submission."""

    phone: str
    country_code: str
    result: str  # Success, Fail, Unknow (sic), SubmitFail
    code: str
    description: str
    time: int | None
    cost_count: int | None
    user_id: str | None


@dataclass(frozen=True)
class SessionReceipts:
    """The receipts of one SessionNo (empty while none arrived; usually 5–10 minutes)."""

    session_no: str
    receipts: tuple[Receipt, ...]


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
        session_no = answer.get("SessionNo")
        if not isinstance(session_no, str) or not session_no:
            # Accepted (RetCode 0) yet no id to query receipts with: still sent, never resend.
            logger.warning("provider accepted %s without a SessionNo", SEND_ACTION)
            session_no = ""
        user_id = answer.get("UserId")
        return SendResult(
            session_no=session_no,
            user_id=user_id if isinstance(user_id, str) else None,
            elapsed_ms=(time.perf_counter() - started) * 1000,
        )

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
        result = _parse_batch(answer, task_content, (time.perf_counter() - started) * 1000)
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
            found.extend(_parse_receipts(answer.get("Data")))
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
        answer = _interpret(
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


def _interpret(
    status: int,
    data: bytes,
    headers: Mapping[str, str],
    action: str,
    partial_success: bool = False,
) -> dict[str, Any]:
    """The answer's JSON when the provider accepted the call (see `partial_success` in
    `UspeedoClient.call`); else the matching error."""
    answer = _json_object(data)
    ret_code = answer.get("RetCode") if answer is not None else None
    message = _provider_message(answer)
    if status != 200:
        ret = ret_code if isinstance(ret_code, int) else None
        if status in _TRANSIENT_HTTP:
            raise TransientError(
                message or f"provider answered HTTP {status}",
                http_status=status,
                ret_code=ret,
                action=action,
                retry_after=_retry_after(headers.get("Retry-After")),
            )
        if status in _CREDENTIALS_HTTP:
            raise CredentialsError(
                message or "provider refused the credentials",
                http_status=status,
                ret_code=ret,
                action=action,
            )
        raise PermanentError(
            message or f"provider answered HTTP {status}",
            http_status=status,
            ret_code=ret,
            action=action,
        )
    if answer is None:
        raise UnknownOutcomeError(
            "provider answered HTTP 200 with a body that is not a readable JSON object",
            http_status=status,
            action=action,
        )
    if not isinstance(ret_code, int) or isinstance(ret_code, bool):
        raise UnknownOutcomeError(
            "provider answered without an integer RetCode", http_status=status, action=action
        )
    outcome = retcodes.classify(ret_code)
    if outcome is Outcome.SUCCESS:
        return answer
    session_no = answer.get("SessionNo")
    if partial_success and isinstance(session_no, str) and session_no:
        logger.warning(
            "provider took part of a batch",
            extra={"action": action, "ret_code": ret_code},
        )
        return answer
    error_class: type[UspeedoError] = {
        Outcome.TRANSIENT: TransientError,
        Outcome.CREDENTIALS: CredentialsError,
        Outcome.UNKNOWN_ACTION: UnknownActionError,
        Outcome.PERMANENT: PermanentError,
    }[outcome]
    raise error_class(
        message or f"provider refused the call with RetCode {ret_code}",
        http_status=status,
        ret_code=ret_code,
        action=action,
    )


def _json_object(data: bytes) -> dict[str, Any] | None:
    """The answer as a JSON object, or None when it is anything else — garbled, a nesting
    bomb, an array (for HTTP 200 the caller makes that an unknown outcome)."""
    try:
        parsed = load_json(data)
    except UnreadableJsonError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _provider_message(answer: Mapping[str, Any] | None) -> str:
    message = answer.get("Message") if answer else None
    return message if isinstance(message, str) else ""


def _retry_after(value: str | None) -> float | None:
    """Seconds from a `Retry-After` header; its HTTP-date form is ignored (never seen here)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _without_nulls(value: Any) -> Any:
    """`value` with every null object member left out, at any depth."""
    if isinstance(value, Mapping):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_without_nulls(item) for item in value]
    return value


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _parse_batch(
    answer: Mapping[str, Any], task_content: Sequence[Mapping[str, Any]], elapsed_ms: float
) -> BatchResult:
    session_no = answer.get("SessionNo")
    session_no = session_no if isinstance(session_no, str) and session_no else None
    success_count = _int_or_none(answer.get("SuccessCount"))
    req_uuid = answer.get("ReqUuid")
    refused = _parse_fail_content(answer.get("FailContent"), task_content)
    if session_no is None and success_count is None and not refused:
        # Accepted (RetCode 0) yet it says neither what went out nor what did not: it may
        # have sent every number, so it must be remembered as such, never re-sent.
        raise UnknownOutcomeError(
            "provider answered without SessionNo, SuccessCount or FailContent",
            action=BATCH_ACTION,
        )
    return BatchResult(
        session_no=session_no,
        success_count=success_count,
        req_uuid=req_uuid if isinstance(req_uuid, str) else None,
        refused=refused,
        elapsed_ms=elapsed_ms,
        ret_code=_int_or_none(answer.get("RetCode")) or retcodes.SUCCESS,
    )


def _parse_fail_content(
    fail_content: Any, task_content: Sequence[Mapping[str, Any]]
) -> tuple[RefusedTarget, ...]:
    """The refused numbers of `FailContent`, each once. A task refused as a whole (its
    template or sender) may list no targets: then every number of that task was refused."""
    refused: dict[str, RefusedTarget] = {}
    for task in fail_content if isinstance(fail_content, list) else []:
        if not isinstance(task, Mapping):
            continue
        task_reason = _text(task.get("FailureDetails"))
        targets = task.get("Target")
        if not isinstance(targets, list) or not targets:
            targets = _targets_of_template(task_content, task.get("TemplateId"))
        for target in targets:
            phone = target.get("Phone") if isinstance(target, Mapping) else None
            if not isinstance(phone, str) or not phone or phone in refused:
                continue
            reason = _text(target.get("FailureDetails")) or task_reason
            refused[phone] = RefusedTarget(phone, redact_text(reason or "refused by the provider"))
    return tuple(refused.values())


def _targets_of_template(
    task_content: Sequence[Mapping[str, Any]], template_id: Any
) -> list[Mapping[str, Any]]:
    return [
        target
        for task in task_content
        if task.get("TemplateId") == template_id
        for target in task.get("Target") or []
    ]


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _parse_receipts(data: Any) -> list[SessionReceipts]:
    if not isinstance(data, list):
        return []
    sessions: list[SessionReceipts] = []
    for entry in data:
        if not isinstance(entry, dict) or not isinstance(entry.get("SessionNo"), str):
            continue
        receipt_set = entry.get("ReceiptSet")
        receipts = tuple(
            _parse_receipt(item)
            for item in (receipt_set if isinstance(receipt_set, list) else [])
            if isinstance(item, dict)
        )
        sessions.append(SessionReceipts(session_no=entry["SessionNo"], receipts=receipts))
    return sessions


def _parse_receipt(item: Mapping[str, Any]) -> Receipt:
    def text(key: str) -> str:
        value = item.get(key)
        return str(value) if value is not None else ""

    def number(key: str) -> int | None:
        value = item.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    user_id = item.get("UserId")
    return Receipt(
        phone=text("Phone"),
        country_code=text("CountryCode"),
        result=text("ReceiptResult"),
        code=text("ReceiptCode"),
        description=text("ReceiptDesc"),
        time=number("ReceiptTime"),
        cost_count=number("CostCount"),
        user_id=user_id if isinstance(user_id, str) else None,
    )
