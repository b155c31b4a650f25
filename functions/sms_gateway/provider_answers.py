"""What USpeedo's answers mean: an HTTP status and a body read into a result or one error.

The client (`uspeedo_client`) signs and sends; this module reads what came back. An answer
the provider accepted becomes its JSON object, then a typed result (`SendResult`,
`BatchResult`, `SessionReceipts`); anything else becomes one error of the family in
`errors.py`, chosen by HTTP status and RetCode. Refused numbers and reasons are kept for the
caller, with the digits of phone numbers masked in reasons; nothing here logs a number.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sms_gateway import retcodes
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

logger = logging.getLogger(__name__)

_TRANSIENT_HTTP: Final = frozenset({408, 429, 500, 502, 503, 504})
_CREDENTIALS_HTTP: Final = frozenset({401, 403})
# The error a RetCode other than 0 raises, by what the RetCode means.
_REFUSAL_ERRORS: Final[Mapping[Outcome, type[UspeedoError]]] = {
    Outcome.TRANSIENT: TransientError,
    Outcome.CREDENTIALS: CredentialsError,
    Outcome.UNKNOWN_ACTION: UnknownActionError,
    Outcome.PERMANENT: PermanentError,
}


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


# --- Accepted or not ------------------------------------------------------------------


def interpret(
    status: int,
    data: bytes,
    headers: Mapping[str, str],
    action: str,
    partial_success: bool = False,
) -> dict[str, Any]:
    """The answer's JSON when the provider accepted the call (see `partial_success` in
    `UspeedoClient.call`); else the matching error."""
    answer = _json_object(data)
    if status != 200:
        raise _http_error(status, answer, headers, action)
    if answer is None:
        raise UnknownOutcomeError(
            "provider answered HTTP 200 with a body that is not a readable JSON object",
            http_status=status,
            action=action,
        )
    ret_code = answer.get("RetCode")
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
    raise _REFUSAL_ERRORS[outcome](
        _provider_message(answer) or f"provider refused the call with RetCode {ret_code}",
        http_status=status,
        ret_code=ret_code,
        action=action,
    )


def _http_error(
    status: int, answer: Mapping[str, Any] | None, headers: Mapping[str, str], action: str
) -> UspeedoError:
    """The error for an HTTP status other than 200, by what the status says."""
    ret_code = answer.get("RetCode") if answer is not None else None
    ret = ret_code if isinstance(ret_code, int) else None
    message = _provider_message(answer)
    if status in _TRANSIENT_HTTP:
        return TransientError(
            message or f"provider answered HTTP {status}",
            http_status=status,
            ret_code=ret,
            action=action,
            retry_after=_retry_after(headers.get("Retry-After")),
        )
    if status in _CREDENTIALS_HTTP:
        return CredentialsError(
            message or "provider refused the credentials",
            http_status=status,
            ret_code=ret,
            action=action,
        )
    return PermanentError(
        message or f"provider answered HTTP {status}",
        http_status=status,
        ret_code=ret,
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


# --- What an accepted answer says -----------------------------------------------------


def parse_send(answer: Mapping[str, Any], elapsed_ms: float, *, action: str) -> SendResult:
    """An accepted SendUSMSMessage answer. Without a SessionNo it was still sent (RetCode
    0): the result then has an empty `session_no`, and must never be re-sent."""
    session_no = answer.get("SessionNo")
    if not isinstance(session_no, str) or not session_no:
        # Accepted (RetCode 0) yet no id to query receipts with: still sent, never resend.
        logger.warning("provider accepted %s without a SessionNo", action)
        session_no = ""
    user_id = answer.get("UserId")
    return SendResult(
        session_no=session_no,
        user_id=user_id if isinstance(user_id, str) else None,
        elapsed_ms=elapsed_ms,
    )


def parse_batch(
    answer: Mapping[str, Any],
    task_content: Sequence[Mapping[str, Any]],
    elapsed_ms: float,
    *,
    action: str,
) -> BatchResult:
    """An accepted SendBatchUSMSMessage answer, read against the `TaskContent` it answers."""
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
            action=action,
        )
    return BatchResult(
        session_no=session_no,
        success_count=success_count,
        req_uuid=req_uuid if isinstance(req_uuid, str) else None,
        refused=refused,
        elapsed_ms=elapsed_ms,
        ret_code=_int_or_none(answer.get("RetCode")) or retcodes.SUCCESS,
    )


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


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


def parse_receipts(data: Any) -> list[SessionReceipts]:
    """A GetUSMSSendReceipt answer's `Data`: the receipts per SessionNo, skipping entries
    that are not shaped like one."""
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
