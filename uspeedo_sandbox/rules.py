"""The provider's checks, as pure functions: each raises `RefusalError` with the RetCode USpeedo
would answer (shared/uspeedo-api.md, seed-SendUSMSMessage.md).

SendBatchUSMSMessage's checks are split the way the real API answers them: a malformed
request (missing or mistyped fields, more than 1,000 targets) is refused as a whole with a
RetCode; a target whose number or parameters the provider will not take is refused alone,
in `FailContent`, while the rest are sent (`target_problem`, `task_problem`)."""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from sms_gateway import retcodes
from sms_gateway.signing import sign

ACCESS_KEY_HEADER = "X-Access-Key-Id"
SIGNATURE_HEADER = "X-Signature"
TIMESTAMP_HEADER = "X-Timestamp"
NONCE_HEADER = "X-Nonce"
AUTH_HEADERS = (ACCESS_KEY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, NONCE_HEADER)

TIMESTAMP_WINDOW_SECONDS = 300
MAX_NONCE_LENGTH = 32
MAX_PHONE_NUMBERS = 1000
MAX_SENDER_ID_LENGTH = 11
MAX_USER_ID_LENGTH = 32
MAX_SESSION_NOS = 100
#: "(CC)national": a 1-4 digit country code ("86" and "0086" alike), then 4-15 digits.
PHONE_WITH_CODE = re.compile(r"\((\d{1,4})\)(\d{4,15})")
#: Bare digits: a mainland China number (no prefix = China).
PHONE_BARE = re.compile(r"\d{4,15}")
CHINA_COUNTRY_CODE = "86"
_DIGITS = re.compile(r"\d+")


class RefusalError(Exception):
    """The provider refuses the request: answer HTTP 200 with this RetCode and Message."""

    def __init__(self, ret_code: int, message: str) -> None:
        super().__init__(message)
        self.ret_code = ret_code
        self.message = message


class AuthHeaders(NamedTuple):
    """The four signature headers of a request."""

    access_key_id: str
    signature: str
    timestamp: str
    nonce: str


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def auth_headers(headers: Mapping[str, str]) -> AuthHeaders:
    """The four headers, looked up in `headers` keyed by lowercase name; 170 if any is
    missing or empty."""
    values = [headers.get(name.lower(), "") for name in AUTH_HEADERS]
    missing = [name for name, value in zip(AUTH_HEADERS, values, strict=True) if not value]
    if missing:
        raise RefusalError(
            retcodes.SIGNATURE_MISSING, f"missing signature headers: {', '.join(missing)}"
        )
    return AuthHeaders(*values)


def check_timestamp(timestamp: str, now: float) -> None:
    """171 unless `timestamp` is whole Unix seconds within ±5 minutes of `now`."""
    if not _DIGITS.fullmatch(timestamp):
        raise RefusalError(retcodes.SIGNATURE_WRONG, "X-Timestamp is not an integer")
    if abs(int(timestamp) - now) > TIMESTAMP_WINDOW_SECONDS:
        raise RefusalError(retcodes.SIGNATURE_WRONG, "X-Timestamp is more than 300 s from now")


def check_nonce(nonce: str) -> None:
    """215392 if the nonce is longer than 32 characters."""
    if len(nonce) > MAX_NONCE_LENGTH:
        raise RefusalError(retcodes.PARAMETER_ERROR, "X-Nonce is longer than 32 characters")


def body_object(parsed: Any, parsed_ok: bool) -> dict[str, Any]:
    """The body as a JSON object; 215392 if it was not JSON or not an object."""
    if not parsed_ok or not isinstance(parsed, dict):
        raise RefusalError(retcodes.PARAMETER_ERROR, "the body is not a JSON object")
    return parsed


def check_signature(body: Mapping[str, Any], secret: str, signature: str) -> None:
    """171 unless `signature` is `sign(body, secret)`."""
    try:
        expected = sign(body, secret)
    except TypeError:
        # A float or null in the body: the provider signs it differently than any client
        # could (see signing.py), so it can only be a signature mismatch.
        raise RefusalError(
            retcodes.SIGNATURE_WRONG, "signature mismatch (the body holds a float or null)"
        ) from None
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise RefusalError(retcodes.SIGNATURE_WRONG, "signature mismatch")


def action_of(body: Mapping[str, Any], implemented: frozenset[str]) -> str:
    """The body's Action; 160 if missing, 161 if not one of `implemented`."""
    action = body.get("Action")
    if action is None or action == "":
        raise RefusalError(retcodes.ACTION_MISSING, "missing Action")
    if not isinstance(action, str) or action not in implemented:
        raise RefusalError(retcodes.ACTION_UNKNOWN, f"unknown Action: {action!r}")
    return action


def check_account(body: Mapping[str, Any], account_id: int | None) -> None:
    """172 if AccountId is present but not an int, or not the key's account (if it has one)."""
    if "AccountId" not in body:
        return
    value = body["AccountId"]
    if not _is_int(value):
        raise RefusalError(retcodes.ACCOUNT_PROBLEM, "AccountId must be an integer")
    if account_id is not None and value != account_id:
        raise RefusalError(retcodes.ACCOUNT_PROBLEM, "AccountId does not belong to this access key")


def is_phone_number(value: object) -> bool:
    """`(CC)national` or bare digits (a China number), as the provider accepts them."""
    return isinstance(value, str) and bool(
        PHONE_WITH_CODE.fullmatch(value) or PHONE_BARE.fullmatch(value)
    )


def split_phone_number(number: str) -> tuple[str, str]:
    """(CountryCode, Phone) of an accepted number; "0086" and no prefix both give "86"."""
    match = PHONE_WITH_CODE.fullmatch(number)
    if match is None:
        return CHINA_COUNTRY_CODE, number
    code = match.group(1)
    # "00" is the international call prefix, not part of the code.
    code = code[2:] if code.startswith("00") and len(code) > 2 else code
    return code, match.group(2)


def check_send(body: Mapping[str, Any], templates: Mapping[str, int] | None) -> None:
    """SendUSMSMessage's field rules (the seed document); raises the first one broken."""
    _check_send_required(body)
    _check_send_optional(body)
    if templates is not None:
        _check_template(body, templates)


def _check_send_required(body: Mapping[str, Any]) -> None:
    numbers = body.get("PhoneNumbers")
    if numbers is None or numbers == []:
        raise RefusalError(retcodes.MISSING_PARAMETER, "missing PhoneNumbers")
    if not isinstance(numbers, list):
        raise RefusalError(retcodes.PARAMETER_ERROR, "PhoneNumbers must be a list of strings")
    template_id = body.get("TemplateId")
    if template_id is None or template_id == "":
        raise RefusalError(retcodes.MISSING_PARAMETER, "missing TemplateId")
    if not isinstance(template_id, str):
        raise RefusalError(retcodes.PARAMETER_ERROR, "TemplateId must be a string")
    if len(numbers) > MAX_PHONE_NUMBERS:
        raise RefusalError(retcodes.TOO_MANY_NUMBERS, "more than 1000 PhoneNumbers")
    # Positions, not the numbers: this text may end up in the gateway's logs.
    bad = [str(i) for i, number in enumerate(numbers) if not is_phone_number(number)]
    if bad:
        raise RefusalError(
            retcodes.INVALID_NUMBERS, f"invalid phone numbers at positions {', '.join(bad)}"
        )


def _check_send_optional(body: Mapping[str, Any]) -> None:
    sender_id = body.get("SenderId")
    if sender_id is not None and (
        not isinstance(sender_id, str) or len(sender_id) > MAX_SENDER_ID_LENGTH
    ):
        raise RefusalError(retcodes.PARAMETER_ERROR, "SenderId must be a string of at most 11")
    params = body.get("TemplateParams")
    # Strings per the docs; the seed's own example sends integers, so accept both.
    if params is not None and (
        not isinstance(params, list) or not all(isinstance(p, str) or _is_int(p) for p in params)
    ):
        raise RefusalError(retcodes.PARAMETER_ERROR, "TemplateParams must be a list of strings")
    extend_code = body.get("ExtendCode")
    if extend_code is not None and (
        not isinstance(extend_code, str) or not _DIGITS.fullmatch(extend_code)
    ):
        raise RefusalError(retcodes.PARAMETER_ERROR, "ExtendCode must be a string of digits")
    user_id = body.get("UserId")
    if user_id is not None and not _valid_user_id(user_id):
        raise RefusalError(
            retcodes.PARAMETER_ERROR,
            "UserId must be a string of at most 32, without single quotes or emoji",
        )


def _check_template(body: Mapping[str, Any], templates: Mapping[str, int]) -> None:
    template_id, params = body["TemplateId"], body.get("TemplateParams")
    if template_id not in templates:
        raise RefusalError(retcodes.TEMPLATE_NOT_APPROVED, "template not found or not approved")
    if len(params or []) != templates[template_id]:
        raise RefusalError(
            retcodes.PARAMS_MISMATCH,
            f"template {template_id} takes {templates[template_id]} TemplateParams",
        )


def check_batch(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """SendBatchUSMSMessage's request rules; returns its tasks. 215397 for a missing
    TaskContent, TemplateId, Target or Phone; 215392 for a mistyped one or a malformed
    SenderId, TemplateParams, ExtendCode or UserId; 18019 for more than 1,000 targets."""
    tasks = body.get("TaskContent")
    if tasks is None or tasks == []:
        raise RefusalError(retcodes.MISSING_PARAMETER, "missing TaskContent")
    if not isinstance(tasks, list) or not all(isinstance(task, dict) for task in tasks):
        raise RefusalError(retcodes.PARAMETER_ERROR, "TaskContent must be a list of objects")
    for i, task in enumerate(tasks):
        _check_task(i, task)
    if sum(len(task["Target"]) for task in tasks) > MAX_PHONE_NUMBERS:
        raise RefusalError(retcodes.TOO_MANY_NUMBERS, "more than 1000 Target numbers")
    for i, task in enumerate(tasks):
        for j, target in enumerate(task["Target"]):
            _check_target(f"TaskContent[{i}].Target[{j}]", target)
    return tasks


def _check_task(index: int, task: Mapping[str, Any]) -> None:
    where = f"TaskContent[{index}]"
    template_id = task.get("TemplateId")
    if template_id is None or template_id == "":
        raise RefusalError(retcodes.MISSING_PARAMETER, f"missing {where}.TemplateId")
    if not isinstance(template_id, str):
        raise RefusalError(retcodes.PARAMETER_ERROR, f"{where}.TemplateId must be a string")
    sender_id = task.get("SenderId")
    if sender_id is not None and (
        not isinstance(sender_id, str) or len(sender_id) > MAX_SENDER_ID_LENGTH
    ):
        raise RefusalError(
            retcodes.PARAMETER_ERROR, f"{where}.SenderId must be a string of at most 11"
        )
    targets = task.get("Target")
    if targets is None or targets == []:
        raise RefusalError(retcodes.MISSING_PARAMETER, f"missing {where}.Target")
    if not isinstance(targets, list) or not all(isinstance(t, dict) for t in targets):
        raise RefusalError(retcodes.PARAMETER_ERROR, f"{where}.Target must be a list of objects")


def _check_target(where: str, target: Mapping[str, Any]) -> None:
    phone = target.get("Phone")
    if phone is None or phone == "":
        raise RefusalError(retcodes.MISSING_PARAMETER, f"missing {where}.Phone")
    if not isinstance(phone, str):
        raise RefusalError(retcodes.PARAMETER_ERROR, f"{where}.Phone must be a string")
    params = target.get("TemplateParams")
    if params is not None and (
        not isinstance(params, list) or not all(isinstance(p, str) or _is_int(p) for p in params)
    ):
        raise RefusalError(
            retcodes.PARAMETER_ERROR, f"{where}.TemplateParams must be a list of strings"
        )
    extend_code = target.get("ExtendCode")
    if extend_code is not None and (
        not isinstance(extend_code, str) or not _DIGITS.fullmatch(extend_code)
    ):
        raise RefusalError(retcodes.PARAMETER_ERROR, f"{where}.ExtendCode must be digits")
    user_id = target.get("UserId")
    if user_id is not None and not _valid_user_id(user_id):
        raise RefusalError(
            retcodes.PARAMETER_ERROR,
            f"{where}.UserId must be a string of at most 32, without single quotes or emoji",
        )


def task_problem(task: Mapping[str, Any], templates: Mapping[str, int] | None) -> str | None:
    """Why the provider takes none of a (well-formed) task's targets, if it does not."""
    if templates is not None and task["TemplateId"] not in templates:
        return "template not found or not approved"
    return None


def target_problem(
    task: Mapping[str, Any], target: Mapping[str, Any], templates: Mapping[str, int] | None
) -> str | None:
    """Why the provider refuses one (well-formed) target of a task, if it does."""
    if not is_phone_number(target["Phone"]):
        return "invalid phone number"
    if templates is not None:
        expected = templates[task["TemplateId"]]
        if len(target.get("TemplateParams") or []) != expected:
            return f"template takes {expected} TemplateParams"
    return None


def number_key(number: object) -> tuple[str, str] | None:
    """(CountryCode, Phone) of a number in a format the provider accepts, so `(0086)…`,
    `(86)…` and a bare China number compare equal; None for anything else."""
    if not isinstance(number, str) or not is_phone_number(number):
        return None
    return split_phone_number(number)


def _valid_user_id(value: object) -> bool:
    if not isinstance(value, str) or len(value) > MAX_USER_ID_LENGTH or "'" in value:
        return False
    # "No emoji" (the docs): reject what lies outside the Basic Multilingual Plane.
    return all(ord(ch) <= 0xFFFF for ch in value)


def check_receipt_query(body: Mapping[str, Any]) -> list[str]:
    """GetUSMSSendReceipt's SessionNoSet: 215397 if missing or empty, 215392 if not a list
    of strings or longer than 100."""
    session_nos = body.get("SessionNoSet")
    if session_nos is None or session_nos == []:
        raise RefusalError(retcodes.MISSING_PARAMETER, "missing SessionNoSet")
    if not isinstance(session_nos, list) or not all(isinstance(s, str) for s in session_nos):
        raise RefusalError(retcodes.PARAMETER_ERROR, "SessionNoSet must be a list of strings")
    if len(session_nos) > MAX_SESSION_NOS:
        raise RefusalError(retcodes.PARAMETER_ERROR, "more than 100 SessionNoSet entries")
    return session_nos
