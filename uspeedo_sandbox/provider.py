"""The provider's API semantics: authenticate, dispatch on Action, answer like USpeedo."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sms_gateway import retcodes
from uspeedo_sandbox import rules
from uspeedo_sandbox.faults import ABSENT, Fault
from uspeedo_sandbox.rules import RefusalError
from uspeedo_sandbox.store import Session, Store

SEND = "SendUSMSMessage"
BATCH = "SendBatchUSMSMessage"
RECEIPTS = "GetUSMSSendReceipt"
IMPLEMENTED_ACTIONS = frozenset({SEND, BATCH, RECEIPTS})
SEND_ACCEPTED_MESSAGE = "提交发送成功"  # the seed document's response example
BATCH_NONE_ACCEPTED_MESSAGE = "no number was accepted; see FailContent"
#: ReceiptResult → (ReceiptCode, ReceiptDesc, CostCount). The codes are the SMPP delivery
#: report states carriers send; a message the carrier never took is not billed.
RECEIPT_FIELDS: dict[str, tuple[str, str, int]] = {
    "Success": ("DELIVRD", "delivered", 1),
    "Fail": ("UNDELIV", "undeliverable: the carrier could not reach the handset", 1),
    "SubmitFail": ("REJECTD", "rejected: the carrier did not accept the message", 0),
    "Unknow": ("", "no delivery report from the carrier yet", 1),
}
ReceiptFaults = Callable[[Sequence[str]], Mapping[str, Fault]]


@dataclass(frozen=True)
class Credential:
    """An access key's secret and, if it is bound to one, its account (AccountId)."""

    secret: str
    account_id: int | None


def response_action(body: Any) -> str:
    """The `Action` of an answer: the request's Action + "Response"."""
    action = body.get("Action") if isinstance(body, dict) else None
    return f"{action}Response" if isinstance(action, str) else "Response"


class Provider:
    """Answers provider API requests; the HTTP layer and faults are elsewhere."""

    def __init__(
        self,
        credentials: Mapping[str, Credential],
        templates: Mapping[str, int] | None,
        store: Store,
        clock: Callable[[], float],
        receipt_faults: ReceiptFaults | None = None,
    ) -> None:
        """`receipt_faults` picks, for each GetUSMSSendReceipt answer, the `receipt` fault
        of each number whose receipt is not `Success` (`FaultPlan.receipt_results`); None:
        every receipt is `Success`."""
        self._credentials = dict(credentials)
        self._templates = dict(templates) if templates is not None else None
        self._store = store
        self._clock = clock
        self._receipt_faults = receipt_faults

    def handle(
        self,
        headers: Mapping[str, str],
        parsed: Any,
        parsed_ok: bool,
        refuse: Fault | None = None,
    ) -> dict[str, Any]:
        """The JSON answer (always HTTP 200) to a request.

        `headers` are keyed by lowercase name; `parsed` is the body's JSON value when
        `parsed_ok`; `refuse` is a `refuse` fault that makes some numbers unreachable.
        """
        try:
            access_key_id, body = self._authenticate(headers, parsed, parsed_ok)
            action = rules.action_of(body, IMPLEMENTED_ACTIONS)
            rules.check_account(body, self._credentials[access_key_id].account_id)
            if action == SEND:
                return self._send(access_key_id, body, refuse)
            if action == BATCH:
                return self._send_batch(access_key_id, body, refuse)
            return self._receipts(access_key_id, body)
        except RefusalError as refusal:
            return {
                "RetCode": refusal.ret_code,
                "Action": response_action(parsed),
                "Message": refusal.message,
            }

    def _authenticate(
        self, headers: Mapping[str, str], parsed: Any, parsed_ok: bool
    ) -> tuple[str, dict[str, Any]]:
        auth = rules.auth_headers(headers)
        credential = self._credentials.get(auth.access_key_id)
        if credential is None:
            raise RefusalError(retcodes.BAD_ACCESS_KEY, "failed to parse token: unknown access key")
        now = self._clock()
        rules.check_timestamp(auth.timestamp, now)
        rules.check_nonce(auth.nonce)
        body = rules.body_object(parsed, parsed_ok)
        rules.check_signature(body, credential.secret, auth.signature)
        # Only a correctly signed request uses up its nonce: a forged one must not burn it.
        if not self._store.use_nonce(auth.access_key_id, auth.nonce, now):
            raise RefusalError(retcodes.SIGNATURE_WRONG, "nonce already used")
        return auth.access_key_id, body

    def _send(
        self, access_key_id: str, body: dict[str, Any], refuse: Fault | None
    ) -> dict[str, Any]:
        rules.check_send(body, self._templates)
        if refuse is not None:
            # Positions, not numbers: this text may end up in the gateway's logs.
            unreachable = [str(i) for i, n in enumerate(body["PhoneNumbers"]) if refuse.refuses(n)]
            if unreachable:
                raise RefusalError(
                    retcodes.INVALID_NUMBERS,
                    f"unreachable phone numbers at positions {', '.join(unreachable)}",
                )
        user_id = body.get("UserId")
        session = Session(
            owner=access_key_id,
            recipients=tuple((number, user_id or "") for number in body["PhoneNumbers"]),
            accepted_at=int(self._clock()),
        )
        answer: dict[str, Any] = {
            "RetCode": retcodes.SUCCESS,
            "Action": f"{SEND}Response",
            "Message": SEND_ACCEPTED_MESSAGE,
            "SessionNo": self._store.accept(body, session),
        }
        if user_id:  # echoed only when a (valid) UserId was sent
            answer["UserId"] = user_id
        return answer

    def _send_batch(
        self, access_key_id: str, body: dict[str, Any], refuse: Fault | None
    ) -> dict[str, Any]:
        """Like the real API: a malformed request is refused with a RetCode; otherwise each
        number is taken or listed in FailContent (RetCode 0 either way), and a SessionNo
        comes back only when at least one number was taken."""
        tasks = rules.check_batch(body)
        accepted: list[tuple[str, str]] = []
        refused: list[dict[str, str]] = []
        fail_content: list[dict[str, Any]] = []
        for task in tasks:
            task_reason = rules.task_problem(task, self._templates)
            failed_targets: list[dict[str, Any]] = []
            for target in task["Target"]:
                reason = task_reason or rules.target_problem(task, target, self._templates)
                if reason is None and refuse is not None and refuse.refuses(target["Phone"]):
                    reason = refuse.refusal_reason
                if reason is None:
                    accepted.append((target["Phone"], target.get("UserId") or ""))
                    continue
                refused.append({"Phone": target["Phone"], "Reason": reason})
                # A refused task names its reason once, on the task (as the provider does
                # when the template or sender is refused); a refused number, on the number.
                failed_targets.append(
                    target if task_reason else {**target, "FailureDetails": reason}
                )
            if failed_targets:
                entry: dict[str, Any] = {
                    k: task[k] for k in ("TemplateId", "SenderId") if k in task
                }
                if task_reason:
                    entry["FailureDetails"] = task_reason
                fail_content.append({**entry, "Target": failed_targets})
        answer: dict[str, Any] = {
            "RetCode": retcodes.SUCCESS,
            "Action": f"{BATCH}Response",
            "Message": SEND_ACCEPTED_MESSAGE if accepted else BATCH_NONE_ACCEPTED_MESSAGE,
            "ReqUuid": str(uuid.uuid4()),
            "SuccessCount": len(accepted),
            "FailContent": fail_content,
        }
        if accepted:
            session = Session(
                owner=access_key_id, recipients=tuple(accepted), accepted_at=int(self._clock())
            )
            answer["SessionNo"] = self._store.accept(body, session, tuple(refused))
        return answer

    def _receipts(self, access_key_id: str, body: dict[str, Any]) -> dict[str, Any]:
        sessions: list[tuple[str, Session]] = []
        for session_no in rules.check_receipt_query(body):
            session = self._store.session(session_no, access_key_id)
            if session is not None:  # unknown SessionNos are left out, not refused
                sessions.append((session_no, session))
        numbers = [number for _, s in sessions for number, _ in s.recipients]
        faults = self._receipt_faults(numbers) if self._receipt_faults is not None else {}
        data = [
            {
                "SessionNo": session_no,
                "ReceiptSet": [
                    _receipt(number, user_id, faults.get(number), session.accepted_at)
                    for number, user_id in session.recipients
                    if number not in faults or faults[number].result != ABSENT
                ],
            }
            for session_no, session in sessions
        ]
        return {
            "RetCode": retcodes.SUCCESS,
            "Action": f"{RECEIPTS}Response",
            "Message": "",
            "Data": data,
        }


def _receipt(number: str, user_id: str, fault: Fault | None, sent_at: int) -> dict[str, Any]:
    """One ReceiptSet entry: a number's receipt as GetUSMSSendReceipt lists it, `Success`
    unless a `receipt` fault says otherwise (its `message`, if any, as the ReceiptDesc)."""
    country_code, phone = rules.split_phone_number(number)
    result = fault.result if fault is not None and fault.result is not None else "Success"
    code, description, cost = RECEIPT_FIELDS[result]
    if fault is not None and fault.message is not None:
        description = fault.message
    return {
        "Phone": phone,
        "CountryCode": country_code,
        "CostCount": cost,
        "ReceiptResult": result,
        "ReceiptCode": code,
        "ReceiptDesc": description,
        "ReceiptTime": sent_at,
        "UserId": user_id,
    }
