"""The provider's API semantics: authenticate, dispatch on Action, answer like USpeedo."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sms_gateway import retcodes
from uspeedo_sandbox import rules
from uspeedo_sandbox.faults import Fault
from uspeedo_sandbox.rules import RefusalError
from uspeedo_sandbox.store import Session, Store

SEND = "SendUSMSMessage"
BATCH = "SendBatchUSMSMessage"
RECEIPTS = "GetUSMSSendReceipt"
IMPLEMENTED_ACTIONS = frozenset({SEND, BATCH, RECEIPTS})
SEND_ACCEPTED_MESSAGE = "提交发送成功"  # the seed document's response example
BATCH_NONE_ACCEPTED_MESSAGE = "no number was accepted; see FailContent"


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
    ) -> None:
        self._credentials = dict(credentials)
        self._templates = dict(templates) if templates is not None else None
        self._store = store
        self._clock = clock

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
        data: list[dict[str, Any]] = []
        for session_no in rules.check_receipt_query(body):
            session = self._store.session(session_no, access_key_id)
            if session is None:  # unknown SessionNos are left out, not refused
                continue
            receipts = []
            for number, user_id in session.recipients:
                country_code, phone = rules.split_phone_number(number)
                receipts.append(
                    {
                        "Phone": phone,
                        "CountryCode": country_code,
                        "CostCount": 1,
                        "ReceiptResult": "Success",
                        "ReceiptCode": "DELIVRD",
                        "ReceiptDesc": "delivered",
                        "ReceiptTime": session.accepted_at,
                        "UserId": user_id,
                    }
                )
            data.append({"SessionNo": session_no, "ReceiptSet": receipts})
        return {
            "RetCode": retcodes.SUCCESS,
            "Action": f"{RECEIPTS}Response",
            "Message": "",
            "Data": data,
        }
